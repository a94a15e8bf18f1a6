-- Take an order atomically: idempotency, room and pin window, per-user limit, stock, tier price, record.
-- KEYS: meta events pin bought pin_orders orders order_ids requests pins buyers refunds
-- ARGV: now maxlen user pin_id qty request_id order_id name_json (the buyer's name, JSON-encoded)
-- Answers {'ok', order JSON, replayed (0|1), refund cents} or an error.
-- The hottest script of a flash sale: every read of the pin is one HMGET.
local meta, events, pin, bought, pin_orders, orders, order_ids, requests, pins, buyers, refunds =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local now, maxlen, user, pin_id, qty = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local request_key, order_id, name_json = user .. ':' .. ARGV[6], ARGV[7], ARGV[8] or 'null'

local earlier = redis.call('HGET', requests, request_key)
if earlier then
  return {'ok', redis.call('HGET', orders, earlier), 1, tonumber(redis.call('HGET', refunds, earlier) or '0')}
end
if redis.call('HGET', meta, 'status') == 'ended' then return fail('ended', 'the show has ended') end
local f = redis.call('HMGET', pin, 'id', 'state', 'starts_at_ms', 'ends_at_ms', 'stock_left',
  'limit_per_user', 'price_cents', 'tier')
if f[1] ~= pin_id then
  if redis.call('HEXISTS', pins, pin_id) == 1 then return fail('ended', 'that sale has ended') end
  return fail('no_such_pin', 'no pin ' .. pin_id .. ' in this room')
end
local starts_at = tonumber(f[3])
local state = sale_state(f[2], starts_at, tonumber(f[4]), now)
if state == 'upcoming' then return fail('not_started', 'the sale has not started', starts_at - now) end
if state == 'ended' then return fail('ended', 'that sale has ended') end
local left = tonumber(f[5])
if state == 'sold_out' or left <= 0 then return fail('sold_out', 'sold out') end
local limit = tonumber(f[6])
local had = tonumber(redis.call('HGET', bought, user) or '0')
if had + qty > limit then
  return fail('limit_reached', 'at most ' .. limit .. ' per person; you have ' .. had)
end
if qty > left then return fail('sold_out', 'only ' .. left .. ' left') end

local price, tier = tonumber(f[7]), f[8]
redis.call('HINCRBY', pin, 'stock_left', -qty)
redis.call('HINCRBY', bought, user, qty)
-- The name (user text) goes last: end_pin's string.match of qty and unit price reads the fields before it.
local order = '{"id":"' .. order_id .. '","pin":"' .. pin_id .. '","user":"' .. user .. '","qty":' .. qty ..
  ',"unit_price_cents":' .. price .. ',"total_cents":' .. (price * qty) .. ',"tier":' .. tier ..
  ',"ts_ms":' .. now .. ',"name":' .. name_json .. '}'
redis.call('HSET', orders, order_id, order)
redis.call('RPUSH', order_ids, order_id)
redis.call('RPUSH', pin_orders, order_id)
redis.call('HSET', requests, request_key, order_id)
redis.call('HINCRBY', meta, 'orders', 1)
redis.call('HINCRBY', meta, 'units', qty)
redis.call('HINCRBY', meta, 'gmv_cents', price * qty)
redis.call('SADD', buyers, user)
if left - qty == 0 then
  redis.call('HSET', pin, 'state', 'sold_out')
  emit(meta, events, maxlen, '{"t":"sold_out","pin":"' .. pin_id .. '"}')
end
return {'ok', order, 0, 0}
