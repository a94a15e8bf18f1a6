-- Prepended to every script by live/scripts.py.

-- Durable events past the resume window move, in whole chunks of this many, from the stream to
-- the room's archive (RoomKeys.archive): a hash chunk number -> '[[ms,event],...]' of the events
-- with seq chunk*ARCHIVE_CHUNK+1 .. (chunk+1)*ARCHIVE_CHUNK. The move is part of the script
-- that emits, so an event is always in exactly one of the two, whoever dies when.
local ARCHIVE_CHUNK = 100

-- The archive's key, named after the stream's: "<prefix>{room:<id>}:events" -> ":archive". Same
-- hash tag, so the same Cluster slot, and no script needs one more KEYS entry to emit.
local function archive_key(events)
  return string.sub(events, 1, -7) .. 'archive'
end

-- A stream entry as the archive keeps it: '[ms,event]'.
local function timed_event(entry)
  local f, e, ms = entry[2], nil, '0'
  for i = 1, #f, 2 do
    if f[i] == 'e' then e = f[i + 1] elseif f[i] == 'ms' then ms = f[i + 1] end
  end
  return '[' .. ms .. ',' .. e .. ']'
end

-- Keep the stream at maxlen .. maxlen + ARCHIVE_CHUNK - 1 entries: whenever the oldest whole
-- chunk can go without leaving fewer than maxlen, pack it into the archive and trim it.
local function archive_old(meta, events, maxlen, seq)
  local archived = tonumber(redis.call('HGET', meta, 'archived') or '0')
  while seq - (archived + 1) * ARCHIVE_CHUNK >= maxlen do
    local first, last = archived * ARCHIVE_CHUNK + 1, (archived + 1) * ARCHIVE_CHUNK
    local packed = {}
    for _, entry in ipairs(redis.call('XRANGE', events, first .. '-0', last .. '-0')) do
      packed[#packed + 1] = timed_event(entry)
    end
    -- Empty only for a room whose stream was trimmed before archives existed: nothing to keep.
    if #packed > 0 then
      redis.call('HSET', archive_key(events), archived, '[' .. table.concat(packed, ',') .. ']')
    end
    redis.call('XTRIM', events, 'MINID', (last + 1) .. '-0')
    archived = archived + 1
    redis.call('HSET', meta, 'archived', archived)
  end
end

-- emit: give a durable event the room's next seq and append it to the room's stream.
-- body is the event's JSON object without "seq" (encoded by the server with orjson).
local function emit(meta, events, maxlen, body)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local ev = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  local t = redis.call('TIME')
  -- "ms" is Redis's clock at the append: the hubs measure their fan-out lag from it, and a
  -- replay places its moments with it.
  redis.call('XADD', events, seq .. '-0', 'e', ev, 'ms', t[1] * 1000 + math.floor(t[2] / 1000))
  archive_old(meta, events, maxlen, seq)
  return seq, ev
end

-- Lua 5.1 turns -(0) into -0, which Redis refuses as an integer: counts that may be 0 move by this.
local function times(sign, n)
  if n == 0 then return 0 end
  return sign * n
end

local function fail(code, message, retry_after_ms)
  return {'err', code, message, retry_after_ms or -1}
end

-- The sale's state at now from its stored state and window: time drives upcoming -> live -> ended
-- before anyone records it (buy.lua reads the fields itself, in one HMGET with the others it needs).
local function sale_state(stored, starts_at, ends_at, now)
  if stored == 'ended' or now >= ends_at then return 'ended' end
  if stored == 'sold_out' then return 'sold_out' end
  if now < starts_at then return 'upcoming' end
  return 'live'
end

-- The state of the current pin at now (nil without a pin).
local function pin_state(pin, now)
  local f = redis.call('HMGET', pin, 'state', 'starts_at_ms', 'ends_at_ms')
  if not f[1] then return nil end
  return sale_state(f[1], tonumber(f[2]), tonumber(f[3]), now)
end

local function split_numbers(csv)
  local out = {}
  for n in string.gmatch(csv, '[^,]+') do out[#out + 1] = tonumber(n) end
  return out
end

-- Sale scripts (buy, pins, orders, the bag, room status) take RoomKeys.sale_keys() as KEYS and
-- the ARGV head: now maxlen hooks(0|1) room_id me_channel; their own arguments start at ARGV[6].
local K, NOW, MAXLEN, HOOKS, ROOM, ME
local function sale_context()
  K = {meta = KEYS[1], events = KEYS[2], pin = KEYS[3], posters = KEYS[4], bought = KEYS[5],
    pin_orders = KEYS[6], orders = KEYS[7], refunds = KEYS[8], pins = KEYS[9], order_ids = KEYS[10],
    requests = KEYS[11], buyers = KEYS[12], products = KEYS[13], product_stock = KEYS[14],
    product_order = KEYS[15], bag_bought = KEYS[16], product_waiting = KEYS[17], expiry = KEYS[18],
    hooks = KEYS[19], hooks_due = KEYS[20], attributions = KEYS[21], share_board = KEYS[22],
    share_buyers = KEYS[23], drop = KEYS[24], drops = KEYS[25], coupons = KEYS[26], chatters = KEYS[27],
    auction = KEYS[28], auctions = KEYS[29]}
  NOW, MAXLEN, HOOKS, ROOM, ME = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4], ARGV[5]
end

-- Record a webhook event in the room's outbox, in the same step as the change it reports.
local function hook(kind, data)
  if not HOOKS then return end
  local id = 'evt_' .. ROOM .. '_' .. redis.call('HINCRBY', K.meta, 'hook_n', 1)
  redis.call('HSET', K.hooks, id,
    '{"id":"' .. id .. '","type":"' .. kind .. '","created_ms":' .. NOW .. ',"data":' .. data .. '}')
  redis.call('ZADD', K.hooks_due, NOW, id)
end

local function room_json()
  local f = redis.call('HMGET', K.meta, 'title', 'status', 'host_id', 'host_name')
  return '{"id":"' .. ROOM .. '","title":' .. cjson.encode(f[1] or '') .. ',"status":"' .. (f[2] or '') ..
    '","host":{"id":' .. cjson.encode(f[3] or '') .. ',"name":' .. cjson.encode(f[4] or '') .. '}}'
end

-- A bag product as the API and events show it: its fixed fields and its stock.
local function product_json(pid)
  local fixed = redis.call('HGET', K.products, pid)
  if not fixed then return nil end
  local s = redis.call('HMGET', K.product_stock, pid .. ':total', pid)
  return string.sub(fixed, 1, -2) .. ',"stock_total":' .. s[1] .. ',"stock_left":' .. s[2] .. '}'
end

-- A bag product as a pin or an auction carries it (its fixed fields only), or nil if the bag lacks it.
local function bag_product_ref(pid)
  local fixed = redis.call('HGET', K.products, pid)
  if not fixed then return nil end
  local p = cjson.decode(fixed)
  return cjson.encode({id = p.id, title = p.title, image_url = p.image_url, list_price_cents = p.list_price_cents})
end

local function bag_json()
  local out = {}
  for _, pid in ipairs(redis.call('ZRANGE', K.product_order, 0, -1)) do
    out[#out + 1] = product_json(pid)
  end
  return '[' .. table.concat(out, ',') .. ']'
end

-- Units of a product's stock changed: the hubs send bag_stock when bag_v moves.
local function bag_changed(pid, delta)
  redis.call('HINCRBY', K.product_stock, pid, delta)
  redis.call('HINCRBY', K.meta, 'bag_v', 1)
end

-- Orders. The stored JSON has a fixed field order with the texts people typed (the product's
-- title, the buyer's name) last, so the patterns below always match the server's own fields.
local function order_field(order, name)
  return string.match(order, '"' .. name .. '":"?([^",}]*)')
end

local function with_refund(oid, order)
  return string.sub(order, 1, -2) .. ',"refund_cents":' .. (redis.call('HGET', K.refunds, oid) or '0') .. '}'
end

-- Tell the buyer's devices (/ws/me, through Pub/Sub) and the shop (the outbox) about an order.
local function order_told(oid, order, kind, extra)
  local full = with_refund(oid, order)
  -- One channel per buyer: Redis drops the message at once unless one of the buyer's devices listens.
  redis.call('PUBLISH', ME .. order_field(order, 'user'), full)
  if kind then hook(kind, '{"order":' .. full .. (extra or '') .. '}') end
end

local function order_set_state(oid, order, state)
  local version = tonumber(order_field(order, 'version')) + 1
  order = string.gsub(order, '"state":"%a+"', '"state":"' .. state .. '"', 1)
  order = string.gsub(order, '"version":%d+', '"version":' .. version, 1)
  redis.call('HSET', K.orders, oid, order)
  return order
end

-- Share links: the figures of a sharer's standing orders (reserved or confirmed) move by one order.
local function share_count(sharer, buyer, sign, total, commission)
  local b = K.share_board
  redis.call('HINCRBY', b, 'orders:' .. sharer, sign)
  redis.call('HINCRBY', b, 'gmv:' .. sharer, times(sign, total))
  redis.call('HINCRBY', b, 'commission:' .. sharer, times(sign, commission))
  local standing = redis.call('HINCRBY', K.share_buyers, sharer .. ':' .. buyer, sign)
  if (sign > 0 and standing == 1) or (sign < 0 and standing == 0) then
    redis.call('HINCRBY', b, 'buyers:' .. sharer, sign)
  end
end

-- The "share" field of a new order by a viewer a share link brought in, at the room's rate now.
local function share_field(user, total, commission_bp)
  local sharer = redis.call('HGET', K.attributions, user)
  if not sharer then return '' end
  local commission = math.floor(total * commission_bp / 10000)
  share_count(sharer, user, 1, total, commission)
  return ',"share":{"by":"' .. sharer .. '","commission_cents":' .. commission .. '}'
end

-- An order that no longer stands (cancelled, expired) earns its sharer nothing.
local function share_void(order)
  local sharer = string.match(order, '"share":{"by":"([^"]*)"')
  if not sharer then return order end
  local commission = tonumber(order_field(order, 'commission_cents'))
  share_count(sharer, order_field(order, 'user'), -1, tonumber(order_field(order, 'total_cents')), commission)
  return (string.gsub(order, '"commission_cents":%d+', '"commission_cents":0', 1))
end

-- Coupons (contract §10). The stored JSON ends with "order": the order using it, or null.
-- The cents a coupon takes off an order of `gross` cents by `user`, or nil and the refusal.
local function coupon_discount(user, coupon_id, gross)
  if coupon_id == '' then return 0 end
  local c = redis.call('HGET', K.coupons, coupon_id)
  if not c or order_field(c, 'user') ~= user then
    return nil, fail('coupon_invalid', 'no coupon ' .. coupon_id .. ' of yours in this room')
  end
  if order_field(c, 'order') ~= 'null' then return nil, fail('coupon_invalid', 'that coupon is already used') end
  if tonumber(order_field(c, 'expires_at_ms')) <= NOW then
    return nil, fail('coupon_invalid', 'that coupon has expired')
  end
  local min_spend = tonumber(order_field(c, 'min_spend_cents'))
  if gross < min_spend then
    return nil, fail('coupon_invalid', 'that coupon needs an order of at least ' .. min_spend .. ' cents')
  end
  return math.min(tonumber(order_field(c, 'value_cents')), gross)
end

local function coupon_set_order(coupon_id, order_json)
  local c = redis.call('HGET', K.coupons, coupon_id)
  if not c then return end
  c = string.gsub(c, '"order":[^}]*}$', '"order":' .. order_json .. '}')
  redis.call('HSET', K.coupons, coupon_id, c)
end

-- A cancelled or expired order's coupon is usable again (until it expires).
local function coupon_release(order)
  local coupon_id = string.match(order, '"coupon":"([^"]*)"')
  if coupon_id then coupon_set_order(coupon_id, 'null') end
end

-- Take a new order (the stock is already counted out); born reserved when the room asks for payment.
-- room: the meta fields {status, pay_within_s, commission_bp} the caller read.
-- coupon_id ('' for none) and discount: checked by the caller with coupon_discount.
-- auction_id: the auction an order was won in (nil for a buy).
local function order_record(order_id, request_key, user, pin_id, product, qty, price, tier, title_json, name_json,
    room, coupon_id, discount, auction_id)
  local state, pay_by = 'confirmed', 'null'
  local pay_within_s = tonumber(room[2] or '0')
  if pay_within_s > 0 then
    state, pay_by = 'reserved', NOW + pay_within_s * 1000
  end
  local function q(v) if v then return '"' .. v .. '"' end return 'null' end
  discount = discount or 0
  local total = price * qty - discount
  local coupon = ''
  if coupon_id and coupon_id ~= '' then
    coupon = ',"coupon":"' .. coupon_id .. '","discount_cents":' .. discount
    coupon_set_order(coupon_id, '"' .. order_id .. '"')
  end
  if auction_id then coupon = coupon .. ',"auction":"' .. auction_id .. '"' end
  local order = '{"id":"' .. order_id .. '","room":"' .. ROOM .. '","pin":' .. q(pin_id) ..
    ',"product":' .. q(product) .. ',"user":"' .. user .. '","qty":' .. qty ..
    ',"unit_price_cents":' .. price .. ',"total_cents":' .. total .. ',"tier":' .. (tier or 'null') ..
    ',"ts_ms":' .. NOW .. ',"state":"' .. state .. '","pay_by_ms":' .. pay_by .. ',"version":1' .. coupon ..
    share_field(user, total, tonumber(room[3] or '0')) .. ',"title":' .. title_json .. ',"name":' .. name_json .. '}'
  redis.call('HSET', K.orders, order_id, order)
  redis.call('RPUSH', K.order_ids, order_id)
  redis.call('HSET', K.requests, request_key, order_id)
  redis.call('HINCRBY', K.meta, 'orders', 1)
  redis.call('HINCRBY', K.meta, 'orders_' .. state, 1)
  redis.call('HINCRBY', K.meta, 'units', qty)
  redis.call('HINCRBY', K.meta, 'gmv_cents', total)
  redis.call('SADD', K.buyers, user)
  if state == 'reserved' then
    redis.call('ZADD', K.expiry, pay_by, order_id)
    if product then redis.call('HINCRBY', K.product_waiting, product, 1) end
  end
  order_told(order_id, order, 'order.' .. state)
  return order
end

-- An earlier answer to the same request (idempotent buys), as {'ok', order, 1, refund} or nil.
local function order_replay(request_key)
  local earlier = redis.call('HGET', K.requests, request_key)
  if not earlier then return nil end
  return {'ok', redis.call('HGET', K.orders, earlier), 1, tonumber(redis.call('HGET', K.refunds, earlier) or '0')}
end

-- The pin as the "pin" event and hello carry it.
local function pin_json(pin, state)
  local f = redis.call('HGETALL', pin)
  local h = {}
  for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
  return '{"id":"' .. h.id .. '","product":' .. h.product .. ',"state":"' .. state ..
    '","stock_total":' .. h.stock_total .. ',"stock_left":' .. h.stock_left ..
    ',"limit_per_user":' .. h.limit_per_user .. ',"starts_at_ms":' .. h.starts_at_ms ..
    ',"ends_at_ms":' .. h.ends_at_ms .. ',"tiers":' .. h.tiers .. ',"count":' .. h.count ..
    ',"count_mode":"' .. h.count_mode .. '","tier":' .. h.tier .. ',"price_cents":' .. h.price_cents ..
    ',"price_protection":' .. h.price_protection .. '}'
end

-- Give a cancelled or expired order's units back, exactly once (the caller changed its state):
-- to the pin while its sale runs (a sold-out pin is live again), else to the bag product.
local function order_release(oid, order)
  local qty = tonumber(order_field(order, 'qty'))
  local user, pin_id, product = order_field(order, 'user'), order_field(order, 'pin'), order_field(order, 'product')
  if pin_id == 'null' then pin_id = nil end
  if product == 'null' then product = nil end
  redis.call('HINCRBY', K.meta, 'units', -qty)
  redis.call('HINCRBY', K.meta, 'gmv_cents', times(-1, tonumber(order_field(order, 'total_cents'))))
  local refund = redis.call('HGET', K.refunds, oid)
  if refund then  -- an order that does not stay is owed nothing
    redis.call('HDEL', K.refunds, oid)
    redis.call('HINCRBY', K.meta, 'refund_cents', times(-1, tonumber(refund)))
  end
  if string.find(order, '"auction":"', 1, true) then
    -- A won auction's unit came out of the bag (if it came from there): back to the bag, which
    -- counted no purchase against the user's limit for it.
    if product and redis.call('HEXISTS', K.products, product) == 1 then bag_changed(product, qty) end
    return
  end
  if not pin_id then
    bag_changed(product, qty)
    redis.call('HINCRBY', K.bag_bought, product .. ':' .. user, -qty)
    return
  end
  local f = redis.call('HMGET', K.pin, 'id', 'state', 'starts_at_ms', 'ends_at_ms')
  if f[1] == pin_id and f[2] ~= 'ended' then
    redis.call('HINCRBY', K.pin, 'stock_left', qty)
    redis.call('HINCRBY', K.bought, user, -qty)
    if f[2] == 'sold_out' and sale_state('live', tonumber(f[3]), tonumber(f[4]), NOW) ~= 'ended' then
      redis.call('HSET', K.pin, 'state', 'live')
      emit(K.meta, K.events, MAXLEN, '{"t":"pin","pin":' .. pin_json(K.pin, 'live') .. '}')
    end
    return
  end
  -- The sale is over: the archived pin counts the units as unsold, and the product gets them.
  local archived = redis.call('HGET', K.pins, pin_id)
  if archived then
    local p = cjson.decode(archived)
    p.stock_left = p.stock_left + qty
    redis.call('HSET', K.pins, pin_id, cjson.encode(p))
  end
  if product and redis.call('HEXISTS', K.products, product) == 1 then bag_changed(product, qty) end
end

-- Move a reserved order to confirmed, cancelled or expired: exactly once, units back when it goes.
local function order_leave_reserved(oid, order, state)
  if state ~= 'confirmed' then
    order = share_void(order)
    coupon_release(order)
  end
  order = order_set_state(oid, order, state)
  redis.call('HINCRBY', K.meta, 'orders_reserved', -1)
  redis.call('HINCRBY', K.meta, 'orders_' .. state, 1)
  redis.call('ZREM', K.expiry, oid)
  local product = order_field(order, 'product')
  if product ~= 'null' then redis.call('HINCRBY', K.product_waiting, product, -1) end
  if state ~= 'confirmed' then order_release(oid, order) end
  order_told(oid, order, 'order.' .. state)
  return order
end

-- End the current pin: freeze it, owe refunds under price protection to the orders that stay,
-- give unsold units of a bag product back to it, archive it, emit pin_end.
-- Returns the pin_end seq, or 0 when there is no pin or it had already ended.
local function end_pin()
  local pin = K.pin
  local id = redis.call('HGET', pin, 'id')
  if not id or redis.call('HGET', pin, 'state') == 'ended' then return 0 end
  local final = tonumber(redis.call('HGET', pin, 'price_cents'))
  if redis.call('HGET', pin, 'price_protection') == 'true' then
    for _, oid in ipairs(redis.call('LRANGE', K.pin_orders, 0, -1)) do
      local o = redis.call('HGET', K.orders, oid)
      local unit, qty = tonumber(order_field(o, 'unit_price_cents')), tonumber(order_field(o, 'qty'))
      local state = order_field(o, 'state')
      -- Never more than the buyer paid: a coupon may have taken the total below the final price.
      local refund = math.min((unit - final) * qty, tonumber(order_field(o, 'total_cents')))
      if refund > 0 and (state == 'reserved' or state == 'confirmed') then
        redis.call('HSET', K.refunds, oid, refund)
        redis.call('HINCRBY', K.meta, 'refund_cents', refund)
        o = order_set_state(oid, o, state)  -- the refund is a change: version + 1
        order_told(oid, o, 'order.refund_due', ',"refund_cents":' .. refund)
      end
    end
  end
  local left = tonumber(redis.call('HGET', pin, 'stock_left'))
  local sold = tonumber(redis.call('HGET', pin, 'stock_total')) - left
  local source = redis.call('HGET', pin, 'source')
  if source and left > 0 and redis.call('HEXISTS', K.products, source) == 1 then bag_changed(source, left) end
  redis.call('HSET', pin, 'state', 'ended', 'ended_at_ms', NOW)
  local body = pin_json(pin, 'ended')
  redis.call('HSET', K.pins, id, body)
  local seq = emit(K.meta, K.events, MAXLEN,
    '{"t":"pin_end","pin":"' .. id .. '","sold":' .. sold .. ',"final_price_cents":' .. final .. '}')
  hook('pin.ended', '{"pin":' .. body .. '}')
  return seq
end

-- Drops (contract §10). K.drop holds the room's current drop field by field, or its last one once
-- ended; an ended drop is also archived as JSON in K.drops. One drop runs at a time.
local function drop_json(state)
  local f = redis.call('HGETALL', K.drop)
  local h = {}
  for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
  local head = '{"id":"' .. h.id .. '","kind":"' .. h.kind .. '","count":' .. h.count .. ',"left":' .. h.left
  local money
  if h.kind == 'coupon' then
    money = ',"value_cents":' .. h.value_cents .. ',"min_spend_cents":' .. h.min_spend_cents ..
      ',"valid_s":' .. h.valid_s
  else
    money = ',"total_cents":' .. h.total_cents .. ',"left_cents":' .. h.left_cents
  end
  return head .. money .. ',"ends_at_ms":' .. h.ends_at_ms .. ',"task":"' .. h.task .. '","state":"' ..
    (state or h.state) .. '","claimed":' .. (tonumber(h.count) - tonumber(h.left)) .. ',"created_ms":' ..
    h.created_ms .. '}'
end

-- End the current drop exactly once (all taken, its window closed, or the show ended): archive it,
-- emit drop_end, tell the shop. Returns the drop_end seq, or 0 when there was nothing to end.
local function end_drop()
  local f = redis.call('HMGET', K.drop, 'id', 'state', 'count', 'left')
  if not f[1] or f[2] == 'ended' then return 0 end
  redis.call('HSET', K.drop, 'state', 'ended', 'ended_at_ms', NOW)
  local body = drop_json('ended')
  redis.call('HSET', K.drops, f[1], body)
  local seq = emit(K.meta, K.events, MAXLEN, '{"t":"drop_end","drop":"' .. f[1] .. '","claimed":' ..
    (tonumber(f[3]) - tonumber(f[4])) .. '}')
  hook('drop.ended', '{"drop":' .. body .. '}')
  return seq
end

-- Let time act on the current drop: past its window it ends. Returns id, left and the deadline
-- (-1 once ended) of a drop that was running, or '', 0, -1.
local function tick_drop()
  local f = redis.call('HMGET', K.drop, 'id', 'state', 'ends_at_ms', 'left')
  if not f[1] or f[2] == 'ended' then return '', 0, -1 end
  local ends_at = tonumber(f[3])
  if NOW >= ends_at then
    end_drop()
    return f[1], tonumber(f[4]), -1
  end
  return f[1], tonumber(f[4]), ends_at
end

-- Auctions (contract §11). K.auction holds the room's current auction field by field, or its last
-- one once ended; an ended auction is also archived as JSON in K.auctions. One runs at a time.
local function auction_state(h, now)
  if h.state == 'ended' then return 'ended' end
  if now < tonumber(h.starts_at_ms) then return 'upcoming' end
  return 'live'  -- past ends_at_ms too, until end_auction records it: bids check the clock themselves
end

local function auction_json(state)
  local f = redis.call('HGETALL', K.auction)
  local h = {}
  for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
  local high, bidder = 'null', 'null'
  if h.high_user then
    high = h.high_cents
    bidder = '{"id":"' .. h.high_user .. '","name":' .. h.high_name .. '}'
  end
  return '{"id":"' .. h.id .. '","product":' .. h.product .. ',"state":"' .. (state or auction_state(h, NOW)) ..
    '","start_cents":' .. h.start_cents .. ',"increment_cents":' .. h.increment_cents .. ',"high_cents":' .. high ..
    ',"high_bidder":' .. bidder .. ',"bids":' .. h.bids .. ',"starts_at_ms":' .. h.starts_at_ms ..
    ',"ends_at_ms":' .. h.ends_at_ms .. ',"extend_s":' .. h.extend_s .. '}'
end

-- End the current auction exactly once: the highest bid wins an order at its price (reserved or
-- confirmed as the room asks), an unsold bag unit goes back, auction_end is emitted, the shop is told.
-- Returns the auction_end seq, or 0 when there was nothing to end.
local function end_auction()
  local f = redis.call('HMGET', K.auction, 'id', 'state', 'high_user', 'high_cents', 'high_name', 'source',
    'title_json')
  local id = f[1]
  if not id or f[2] == 'ended' then return 0 end
  redis.call('HSET', K.auction, 'state', 'ended', 'ended_at_ms', NOW)
  local winner, cents = 'null', 'null'
  local order
  if f[3] then
    winner, cents = '{"id":"' .. f[3] .. '","name":' .. f[5] .. '}', f[4]
    local room = redis.call('HMGET', K.meta, 'status', 'pay_within_s', 'commission_bp')
    -- The order id is the auction's (keys.user_orders: each bidder's index names it ahead of time).
    order = order_record('won-' .. id, 'auction:' .. id, f[3], nil, f[6] or nil, 1, tonumber(f[4]), nil, f[7],
      f[5], room, nil, 0, id)
    redis.call('HSET', K.auction, 'order', 'won-' .. id)
  elseif f[6] and redis.call('HEXISTS', K.products, f[6]) == 1 then
    bag_changed(f[6], 1)
  end
  local body = auction_json('ended')
  redis.call('HSET', K.auctions, id, body)
  local seq = emit(K.meta, K.events, MAXLEN, '{"t":"auction_end","auction":"' .. id .. '","winner":' .. winner ..
    ',"cents":' .. cents .. '}')
  if order then hook('auction.won', '{"auction":' .. body .. ',"order":' .. with_refund('won-' .. id, order) .. '}') end
  return seq
end

-- Let time act on the current auction: upcoming -> live emits "auction" again; past its end it ends.
-- Returns id, state and the deadline (-1 once ended) of an auction not yet ended, or '', '', -1.
local function tick_auction()
  local f = redis.call('HMGET', K.auction, 'id', 'state', 'starts_at_ms', 'ends_at_ms')
  if not f[1] or f[2] == 'ended' then return '', '', -1 end
  local starts_at, ends_at = tonumber(f[3]), tonumber(f[4])
  if NOW >= ends_at then
    end_auction()
    return f[1], 'ended', -1
  end
  if NOW < starts_at then return f[1], 'upcoming', starts_at end
  if f[2] == 'upcoming' then
    redis.call('HSET', K.auction, 'state', 'live')
    emit(K.meta, K.events, MAXLEN, '{"t":"auction","auction":' .. auction_json('live') .. '}')
  end
  return f[1], 'live', ends_at
end
