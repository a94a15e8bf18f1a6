-- Take an order from the pinned flash sale atomically: idempotency, room and pin window, per-user
-- limit, stock, tier price, record (reserved when the room asks for payment).
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) user pin_id qty request_id order_id name_json
--   coupon ('' for none: contract §10)
-- Answers {'ok', order JSON, replayed (0|1), refund cents} or an error.
-- The hottest script of a flash sale: every read of the pin is one HMGET.
sale_context()
local user, pin_id, qty = ARGV[6], ARGV[7], tonumber(ARGV[8])
local request_key, order_id, name_json = user .. ':' .. ARGV[9], ARGV[10], ARGV[11]
local coupon_id = ARGV[12] or ''

local earlier = order_replay(request_key)
if earlier then return earlier end
local room = redis.call('HMGET', K.meta, 'status', 'pay_within_s', 'commission_bp')
if room[1] == 'ended' then return fail('ended', 'the show has ended') end
local f = redis.call('HMGET', K.pin, 'id', 'state', 'starts_at_ms', 'ends_at_ms', 'stock_left',
  'limit_per_user', 'price_cents', 'tier', 'source', 'title_json')
if f[1] ~= pin_id then
  if redis.call('HEXISTS', K.pins, pin_id) == 1 then return fail('ended', 'that sale has ended') end
  return fail('no_such_pin', 'no pin ' .. pin_id .. ' in this room')
end
local starts_at = tonumber(f[3])
local state = sale_state(f[2], starts_at, tonumber(f[4]), NOW)
if state == 'upcoming' then return fail('not_started', 'the sale has not started', starts_at - NOW) end
if state == 'ended' then return fail('ended', 'that sale has ended') end
local left = tonumber(f[5])
if state == 'sold_out' or left <= 0 then return fail('sold_out', 'sold out') end
local limit = tonumber(f[6])
local had = tonumber(redis.call('HGET', K.bought, user) or '0')
if had + qty > limit then
  return fail('limit_reached', 'at most ' .. limit .. ' per person; you have ' .. had)
end
if qty > left then return fail('sold_out', 'only ' .. left .. ' left') end
local price = tonumber(f[7])
local discount, refused = coupon_discount(user, coupon_id, price * qty)
if refused then return refused end

redis.call('HINCRBY', K.pin, 'stock_left', -qty)
redis.call('HINCRBY', K.bought, user, qty)
local order = order_record(order_id, request_key, user, pin_id, f[9] or nil, qty, price, f[8],
  f[10] or 'null', name_json, room, coupon_id, discount)
redis.call('RPUSH', K.pin_orders, order_id)
if left - qty == 0 then
  redis.call('HSET', K.pin, 'state', 'sold_out')
  emit(K.meta, K.events, MAXLEN, '{"t":"sold_out","pin":"' .. pin_id .. '"}')
end
return {'ok', order, 0, 0}
