-- Confirm or cancel an order: exactly once, idempotent (the same answer again), units back on cancel.
-- A reserved order past its pay_by_ms has expired, whoever notices first: here, it expires now.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) order_id action(confirm|cancel) actor_user actor(service|host|buyer)
-- Answers {'ok', order JSON with refund_cents, changed (0: the same answer again)} or an error.
sale_context()
local oid, action, actor_user, actor = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local order = redis.call('HGET', K.orders, oid)
if not order then return fail('not_found', 'no order ' .. oid .. ' in this room') end
if action == 'confirm' and actor ~= 'service' then
  return fail('forbidden', "only the shop's service token may confirm an order")
end
if actor == 'buyer' and order_field(order, 'user') ~= actor_user then
  return fail('forbidden', 'only the buyer, the host or the shop may cancel this order')
end
local state = order_field(order, 'state')
if state == 'reserved' and tonumber(order_field(order, 'pay_by_ms')) <= NOW then
  order = order_leave_reserved(oid, order, 'expired')
  state = 'expired'
end
local target = 'confirmed'
if action == 'cancel' then target = 'cancelled' end
if state == target then return {'ok', with_refund(oid, order), 0} end
if state ~= 'reserved' then return fail('conflict', 'the order is ' .. state) end
order = order_leave_reserved(oid, order, target)
return {'ok', with_refund(oid, order), 1}
