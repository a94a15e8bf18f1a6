-- Pin a product: end the pin before it (one pin at a time), then put the new one up. A pin made from
-- a bag product takes its stock out of the product (the rest comes back when it ends).
-- KEYS: RoomKeys.sale_keys()
-- ARGV: head (_lib.lua) id product_json stock limit starts_at_ms ends_at_ms tiers_json tier_at tier_price
--       count_mode price_protection product_id ("" for an inline product)
sale_context()
local id, product, stock, source = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[17]
local status = redis.call('HGET', K.meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status == 'ended' then return fail('conflict', 'the show has ended') end
if redis.call('HGET', K.pin, 'id') == id or redis.call('HEXISTS', K.pins, id) == 1 then
  return fail('conflict', 'pin id ' .. id .. ' was used already in this room')
end
if source ~= '' then
  product = bag_product_ref(source)
  if not product then return fail('no_such_product', 'no product ' .. source .. ' in this bag') end
end
if source ~= '' then
  -- Checked before anything changes: a pin of the same product still running gives its unsold units back.
  local left = tonumber(redis.call('HGET', K.product_stock, source))
  local cur = redis.call('HMGET', K.pin, 'source', 'stock_left')
  if cur[1] == source and pin_state(K.pin, NOW) ~= 'ended' then left = left + tonumber(cur[2]) end
  if left < stock then return fail('conflict', 'only ' .. left .. ' of ' .. source .. ' left in the bag') end
end
end_pin()
if source ~= '' then bag_changed(source, -stock) end
redis.call('DEL', K.pin, K.posters, K.bought, K.pin_orders)
local starts_at = tonumber(ARGV[10])
local state = 'live'
if starts_at > NOW then state = 'upcoming' end
local prices = split_numbers(ARGV[14])
redis.call('HSET', K.pin, 'id', id, 'product', product, 'state', state, 'stock_total', stock,
  'stock_left', stock, 'limit_per_user', ARGV[9], 'starts_at_ms', ARGV[10], 'ends_at_ms', ARGV[11],
  'tiers', ARGV[12], 'tier_at', ARGV[13], 'tier_price', ARGV[14], 'count', 0, 'count_mode', ARGV[15],
  'tier', 0, 'price_cents', prices[1], 'price_protection', ARGV[16], 'created_ms', NOW)
if source ~= '' then redis.call('HSET', K.pin, 'source', source) end
-- The orders carry the product's title; encoded once here, not on every buy.
redis.call('HSET', K.pin, 'title_json', cjson.encode(cjson.decode(product).title))
redis.call('HSET', K.meta, 'pin', id)
local body = pin_json(K.pin, state)
local seq = emit(K.meta, K.events, MAXLEN, '{"t":"pin","pin":' .. body .. '}')
if state == 'live' then hook('pin.started', '{"pin":' .. body .. '}') end
return {'ok', seq, body}
