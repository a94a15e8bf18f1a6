-- Create a room (scheduled) or retitle it. A retitle of an existing room is a durable "room" event.
-- KEYS: meta events   ARGV: title_json host_id host_name now maxlen pay_within_s ("" = keep as it is)
local meta, events = KEYS[1], KEYS[2]
local title_json, host_id, host_name, now, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local pay_within_s = ARGV[6] or ''
local title = cjson.decode(title_json)
local status = redis.call('HGET', meta, 'status')
if not status then
  if pay_within_s == '' then pay_within_s = '0' end
  redis.call('HSET', meta, 'title', title, 'status', 'scheduled', 'host_id', host_id,
    'host_name', host_name, 'created_ms', now, 'seq', 0, 'slow_s', 0, 'likes', 0,
    'pay_within_s', pay_within_s)
  return {'ok', 1, 'scheduled'}
end
redis.call('HSET', meta, 'title', title, 'host_id', host_id, 'host_name', host_name)
if pay_within_s ~= '' then redis.call('HSET', meta, 'pay_within_s', pay_within_s) end
emit(meta, events, maxlen, '{"t":"room","status":"' .. status .. '","title":' .. title_json .. '}')
return {'ok', 0, status}
