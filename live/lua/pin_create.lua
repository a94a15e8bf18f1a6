-- Pin a product: end the pin before it (one pin at a time), then put the new one up.
-- KEYS: meta events pin posters bought pin_orders orders refunds pins
-- ARGV: now maxlen id product_json stock limit starts_at_ms ends_at_ms tiers_json tier_at tier_price
--       count_mode price_protection
local meta, events, pin, posters, bought, pin_orders, orders, refunds, pins =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local now, maxlen, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local status = redis.call('HGET', meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status == 'ended' then return fail('conflict', 'the show has ended') end
if redis.call('HGET', pin, 'id') == id or redis.call('HEXISTS', pins, id) == 1 then
  return fail('conflict', 'pin id ' .. id .. ' was used already in this room')
end
end_pin(meta, events, maxlen, pin, pin_orders, orders, refunds, pins, now)
redis.call('DEL', pin, posters, bought, pin_orders)
local starts_at = tonumber(ARGV[7])
local state = 'live'
if starts_at > now then state = 'upcoming' end
local prices = split_numbers(ARGV[11])
redis.call('HSET', pin, 'id', id, 'product', ARGV[4], 'state', state, 'stock_total', ARGV[5],
  'stock_left', ARGV[5], 'limit_per_user', ARGV[6], 'starts_at_ms', ARGV[7], 'ends_at_ms', ARGV[8],
  'tiers', ARGV[9], 'tier_at', ARGV[10], 'tier_price', ARGV[11], 'count', 0, 'count_mode', ARGV[12],
  'tier', 0, 'price_cents', prices[1], 'price_protection', ARGV[13], 'created_ms', now)
redis.call('HSET', meta, 'pin', id)
local body = pin_json(pin, state)
local seq = emit(meta, events, maxlen, '{"t":"pin","pin":' .. body .. '}')
return {'ok', seq, body}
