-- Start a drop in a live room: one at a time (a drop past its window is ended first, here).
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) drop_id kind count value_cents min_spend_cents
--   valid_s total_cents duration_s task
-- Answers {'ok', drop JSON} (the durable "drop" event carries the same object) or an error.
sale_context()
local drop_id, kind, count = ARGV[6], ARGV[7], tonumber(ARGV[8])
local value, min_spend, valid_s, total = ARGV[9], ARGV[10], ARGV[11], tonumber(ARGV[12])
local duration_s, task = tonumber(ARGV[13]), ARGV[14]

local status = redis.call('HGET', K.meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status ~= 'live' then return fail('not_live', 'a drop needs a live show') end
local f = redis.call('HMGET', K.drop, 'id', 'state', 'ends_at_ms')
if f[1] and f[2] ~= 'ended' then
  if NOW < tonumber(f[3]) then
    return fail('conflict', 'drop ' .. f[1] .. ' runs until ' .. f[3] .. '; one drop at a time', tonumber(f[3]) - NOW)
  end
  end_drop()
end
if redis.call('HEXISTS', K.drops, drop_id) == 1 then return fail('conflict', 'drop ' .. drop_id .. ' exists') end
redis.call('DEL', K.drop)
redis.call('HSET', K.drop, 'id', drop_id, 'kind', kind, 'count', count, 'left', count,
  'ends_at_ms', NOW + duration_s * 1000, 'task', task, 'state', 'live', 'created_ms', NOW)
if kind == 'coupon' then
  redis.call('HSET', K.drop, 'value_cents', value, 'min_spend_cents', min_spend, 'valid_s', valid_s)
else
  redis.call('HSET', K.drop, 'total_cents', total, 'left_cents', total)
end
local body = drop_json()
emit(K.meta, K.events, MAXLEN, '{"t":"drop","drop":' .. body .. '}')
return {'ok', body}
