-- Let time act on the room's pin, drop and auction (any process may call it; each acts exactly once):
-- upcoming -> live emits "pin"; past ends_at emits "pin_end"; a drop past its window emits "drop_end";
-- an auction starts ("auction") and ends ("auction_end", its winner's order).
-- Returns the pin's and the drop's live figures and, when the bag's stock moved since the caller's
-- bag_v, the bag's stock counts.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) known_bag_v (-1: never send the bag)
-- Answers {'ok', pin_id ('' for none), stock_left, count, next_at, state, pin deadline, bag_v, bag,
--   drop_id ('' unless one was running), drop_left, drop deadline, auction_id ('' unless one was
--   running), auction state, auction deadline}; a deadline of -1 is none.
sale_context()
local known_bag_v = tonumber(ARGV[6] or '-1')
local bag_v = tonumber(redis.call('HGET', K.meta, 'bag_v') or '0')
local bag = {}
if known_bag_v >= 0 and bag_v ~= known_bag_v then
  for _, pid in ipairs(redis.call('ZRANGE', K.product_order, 0, -1)) do
    bag[#bag + 1] = pid
    bag[#bag + 1] = tonumber(redis.call('HGET', K.product_stock, pid))
  end
end
local drop_id, drop_left, drop_deadline = tick_drop()
local auction_id, auction_now, auction_deadline = tick_auction()
local id = redis.call('HGET', K.pin, 'id')
if not id then
  return {'ok', '', 0, 0, -1, 'none', -1, bag_v, bag, drop_id, drop_left, drop_deadline,
    auction_id, auction_now, auction_deadline}
end
local stored = redis.call('HGET', K.pin, 'state')
local state = pin_state(K.pin, NOW)
if state == 'ended' then
  end_pin()
elseif state == 'live' and stored == 'upcoming' then
  redis.call('HSET', K.pin, 'state', 'live')
  local body = pin_json(K.pin, 'live')
  emit(K.meta, K.events, MAXLEN, '{"t":"pin","pin":' .. body .. '}')
  hook('pin.started', '{"pin":' .. body .. '}')
end
local count = tonumber(redis.call('HGET', K.pin, 'count'))
local ats = split_numbers(redis.call('HGET', K.pin, 'tier_at'))
local tier = tonumber(redis.call('HGET', K.pin, 'tier'))
local next_at = -1
if tier + 1 < #ats then next_at = ats[tier + 2] end
local deadline = -1
if state == 'upcoming' then deadline = tonumber(redis.call('HGET', K.pin, 'starts_at_ms'))
elseif state ~= 'ended' then deadline = tonumber(redis.call('HGET', K.pin, 'ends_at_ms')) end
return {'ok', id, tonumber(redis.call('HGET', K.pin, 'stock_left')), count, next_at, state, deadline, bag_v, bag,
  drop_id, drop_left, drop_deadline, auction_id, auction_now, auction_deadline}
