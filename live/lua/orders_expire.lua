-- Expire the reserved orders whose pay_by_ms has passed (any process may call it; each order
-- expires exactly once) and say when time must look at this room again.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) max_orders
-- Answers {'ok', expired, next_ms (-1: nothing to wait for), status}: next_ms is the earliest
-- pending pay_by_ms, and never later than now + pay_within_s, since an order taken after this
-- call cannot be due sooner than that.
sale_context()
local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[6]))
local expired = 0
for _, oid in ipairs(due) do
  local order = redis.call('HGET', K.orders, oid)
  if order and order_field(order, 'state') == 'reserved' then
    order_leave_reserved(oid, order, 'expired')
    expired = expired + 1
  else
    redis.call('ZREM', K.expiry, oid)
  end
end
local room = redis.call('HMGET', K.meta, 'status', 'pay_within_s')
local next_ms = -1
local first = redis.call('ZRANGE', K.expiry, 0, 0, 'WITHSCORES')
if #first > 0 then next_ms = tonumber(first[2]) end
local within = tonumber(room[2] or '0')
if room[1] ~= 'ended' and within > 0 and (next_ms < 0 or NOW + within * 1000 < next_ms) then
  next_ms = NOW + within * 1000
end
return {'ok', expired, next_ms, room[1] or ''}
