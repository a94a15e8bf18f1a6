-- Create a room (scheduled) or change its settings. A change to an existing room is a durable
-- "room" event carrying the settings viewers see. The host is whoever created the room: a later
-- PUT by another host token of the room changes the settings, never whose room it is.
-- KEYS: meta events
-- ARGV: title_json host_id host_name now maxlen pay_within_s starts_at_ms description_json commission_bp
--   (each of the last four and title_json: "" = keep as it is; starts_at_ms "clear" = no planned start)
-- Answers {'ok', created (0|1), status, starts_at_ms ("" = none), created_ms}.
local meta, events = KEYS[1], KEYS[2]
local title_json, host_id, host_name, now, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local pay_within_s, starts_at, description_json, commission_bp = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if starts_at == 'clear' then starts_at = '-' end  -- stored as "" below

local function set_given(field, value)
  if value == '-' then redis.call('HSET', meta, field, '')
  elseif value ~= '' then redis.call('HSET', meta, field, value) end
end

local status = redis.call('HGET', meta, 'status')
local created = 0
if not status then
  if title_json == '' then return fail('bad_request', 'a new room needs a title') end
  status, created = 'scheduled', 1
  redis.call('HSET', meta, 'status', status, 'host_id', host_id, 'host_name', host_name, 'created_ms', now,
    'seq', 0, 'slow_s', 0, 'likes', 0, 'pay_within_s', 0, 'starts_at_ms', '', 'description', '',
    'commission_bp', 0)
elseif redis.call('HGET', meta, 'host_id') == host_id then
  redis.call('HSET', meta, 'host_name', host_name)  -- the host's own token: the name as it is now
end
if title_json ~= '' then redis.call('HSET', meta, 'title', cjson.decode(title_json)) end
if description_json ~= '' then redis.call('HSET', meta, 'description', cjson.decode(description_json)) end
set_given('pay_within_s', pay_within_s)
set_given('starts_at_ms', starts_at)
set_given('commission_bp', commission_bp)
local f = redis.call('HMGET', meta, 'title', 'starts_at_ms', 'description', 'created_ms')
if created == 0 then
  emit(meta, events, maxlen, '{"t":"room","status":"' .. status .. '","title":' .. cjson.encode(f[1]) ..
    ',"starts_at_ms":' .. (f[2] ~= '' and f[2] or 'null') .. ',"description":' .. cjson.encode(f[3] or '') .. '}')
end
return {'ok', created, status, f[2] or '', f[4] or now}
