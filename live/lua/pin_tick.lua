-- Let time act on the current pin (any process may call it; it acts exactly once):
-- upcoming -> live emits "pin"; past ends_at emits "pin_end". Returns the pin's live figures.
-- KEYS: meta events pin pin_orders orders refunds pins   ARGV: now maxlen
local meta, events, pin, pin_orders, orders, refunds, pins =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now, maxlen = tonumber(ARGV[1]), tonumber(ARGV[2])
local id = redis.call('HGET', pin, 'id')
if not id then return {'ok', '', 0, 0, -1, 'none', -1} end
local stored = redis.call('HGET', pin, 'state')
local state = pin_state(pin, now)
if state == 'ended' then
  end_pin(meta, events, maxlen, pin, pin_orders, orders, refunds, pins, now)
elseif state == 'live' and stored == 'upcoming' then
  redis.call('HSET', pin, 'state', 'live')
  emit(meta, events, maxlen, '{"t":"pin","pin":' .. pin_json(pin, 'live') .. '}')
end
local count = tonumber(redis.call('HGET', pin, 'count'))
local ats = split_numbers(redis.call('HGET', pin, 'tier_at'))
local tier = tonumber(redis.call('HGET', pin, 'tier'))
local next_at = -1
if tier + 1 < #ats then next_at = ats[tier + 2] end
local deadline = -1
if state == 'upcoming' then deadline = tonumber(redis.call('HGET', pin, 'starts_at_ms'))
elseif state ~= 'ended' then deadline = tonumber(redis.call('HGET', pin, 'ends_at_ms')) end
return {'ok', id, tonumber(redis.call('HGET', pin, 'stock_left')), count, next_at, state, deadline}
