-- Buy a bag product at its list price while the room is live, or after it ended (its replay goes
-- on selling the bag, contract §12): idempotency, per-user limit (units held by reserved and
-- confirmed orders), stock, record. A show not started yet sells nothing.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) user product_id qty request_id order_id name_json
--   coupon ('' for none: contract §10)
-- Answers as buy.lua.
sale_context()
local user, pid, qty = ARGV[6], ARGV[7], tonumber(ARGV[8])
local request_key, order_id, name_json = user .. ':' .. ARGV[9], ARGV[10], ARGV[11]
local coupon_id = ARGV[12] or ''

local earlier = order_replay(request_key)
if earlier then return earlier end
local room = redis.call('HMGET', K.meta, 'status', 'pay_within_s', 'commission_bp')
if room[1] ~= 'live' and room[1] ~= 'ended' then return fail('not_live', 'the show is not live yet') end
local fixed = redis.call('HGET', K.products, pid)
if not fixed then return fail('no_such_product', 'no product ' .. pid .. ' in this bag') end
local left = tonumber(redis.call('HGET', K.product_stock, pid))
local limit = tonumber(string.match(fixed, '"limit_per_user":(%d+)'))
local held_key = pid .. ':' .. user
local had = tonumber(redis.call('HGET', K.bag_bought, held_key) or '0')
if had + qty > limit then
  return fail('limit_reached', 'at most ' .. limit .. ' per person; you have ' .. had)
end
if left <= 0 then return fail('sold_out', 'sold out') end
if qty > left then return fail('sold_out', 'only ' .. left .. ' left') end
local price = tonumber(string.match(fixed, '"list_price_cents":(%d+)'))
local discount, refused = coupon_discount(user, coupon_id, price * qty)
if refused then return refused end

bag_changed(pid, -qty)
redis.call('HINCRBY', K.bag_bought, held_key, qty)
local order = order_record(order_id, request_key, user, nil, pid, qty, price, nil,
  cjson.encode(cjson.decode(fixed).title), name_json, room, coupon_id, discount)
return {'ok', order, 0, 0}
