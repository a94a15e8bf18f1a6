-- Grab one unit of the room's drop atomically: idempotency by request id, one per user, the window,
-- the task, the pool; an envelope's cents are cut here and now (rooms/drops.py lucky_cut says how).
-- The last grab, or the first one past the window, ends the drop (drop_end, exactly once).
-- KEYS: RoomKeys.grab_keys(drop): sale_keys() and the drop's grabs hash and grabbers list
-- ARGV: head (_lib.lua) user drop_id request_id follows rand name_json
--   follows: '1' or '0' when the caller knows whether the user follows the room's host, '?' when not
--   (the followers live in the host's slot, out of this script's reach); rand: an integer >= 0 drawn
--   by the caller for this grab.
-- Answers {'ok', grab JSON part ('"envelope":{…}' or '"coupon":{…}'), replayed (0|1), cents},
-- {'follow?', host id} when a follow task needs the caller to look, or an error.
sale_context()
local user, drop_id, request_id = ARGV[6], ARGV[7], ARGV[8]
local follows, rand, name_json = ARGV[9], tonumber(ARGV[10]), ARGV[11]
local grabs, grabbers = KEYS[#KEYS - 1], KEYS[#KEYS]  -- after sale_keys()
local request_key = 'r:' .. user .. ':' .. request_id

local function part_of(grab)
  return string.match(grab, '("envelope":{[^}]*})') or string.match(grab, '("coupon":{[^}]*})')
end
local function answer(grab, replayed)
  return {'ok', part_of(grab), replayed, tonumber(string.match(grab, '"cents":(%d+)') or '0')}
end

if redis.call('HEXISTS', grabs, request_key) == 1 then return answer(redis.call('HGET', grabs, user), 1) end

local f = redis.call('HMGET', K.drop, 'id', 'state', 'ends_at_ms', 'left', 'count', 'kind', 'task')
if f[1] ~= drop_id then
  local archived = redis.call('HGET', K.drops, drop_id)
  if not archived then return fail('no_such_drop', 'no drop ' .. drop_id .. ' in this room') end
  if redis.call('HEXISTS', grabs, user) == 1 then
    return fail('limit_reached', 'you already grabbed this drop')
  end
  if tonumber(string.match(archived, '"left":(%d+)')) == 0 then return fail('gone', 'all taken') end
  return fail('ended', 'the drop has ended')
end
if redis.call('HEXISTS', grabs, user) == 1 then
  return fail('limit_reached', 'you already grabbed this drop')
end
local left = tonumber(f[4])
if f[2] == 'ended' then
  if left == 0 then return fail('gone', 'all taken') end
  return fail('ended', 'the drop has ended')
end
if NOW >= tonumber(f[3]) then
  end_drop()
  return fail('ended', 'the drop has ended')
end
local task = f[7]
if task == 'follow' then
  if follows == '?' then return {'follow?', redis.call('HGET', K.meta, 'host_id') or ''} end
  if follows ~= '1' then return fail('task_required', 'follow the host first') end
elseif task == 'chat' and redis.call('SISMEMBER', K.chatters, user) == 0 then
  return fail('task_required', 'post in the chat first')
end

local n = tonumber(f[5]) - left + 1
left = redis.call('HINCRBY', K.drop, 'left', -1)
local part
if f[6] == 'envelope' then
  local left_cents = tonumber(redis.call('HGET', K.drop, 'left_cents'))
  local cents = left_cents
  if left > 0 then  -- rooms/drops.py lucky_cut, with left + 1 envelopes before this one
    local most = math.max(1, math.min(math.floor(2 * left_cents / (left + 1)), left_cents - left))
    cents = 1 + rand % most
  end
  redis.call('HINCRBY', K.drop, 'left_cents', -cents)
  part = '"envelope":{"cents":' .. cents .. '}'
else
  local c = redis.call('HMGET', K.drop, 'value_cents', 'min_spend_cents', 'valid_s')
  local coupon_id = drop_id .. '-' .. n
  local terms = '"value_cents":' .. c[1] .. ',"min_spend_cents":' .. c[2] .. ',"expires_at_ms":' ..
    (NOW + tonumber(c[3]) * 1000)
  redis.call('HSET', K.coupons, coupon_id, '{"id":"' .. coupon_id .. '","room":"' .. ROOM .. '","drop":"' ..
    drop_id .. '","user":"' .. user .. '",' .. terms .. ',"order":null}')
  part = '"coupon":{"id":"' .. coupon_id .. '",' .. terms .. '}'
end
local grab = '{"n":' .. n .. ',"user":"' .. user .. '","ts_ms":' .. NOW .. ',' .. part .. ',"name":' .. name_json .. '}'
redis.call('HSET', grabs, user, grab, request_key, 1)
redis.call('RPUSH', grabbers, user)
if left == 0 then end_drop() end
return answer(grab, 0)
