-- Compare-and-set the room's status (the transition rule itself lives in rooms/room.py).
-- KEYS: meta events   ARGV: expected target maxlen
local meta, events = KEYS[1], KEYS[2]
local expected, target, maxlen = ARGV[1], ARGV[2], tonumber(ARGV[3])
local status = redis.call('HGET', meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status ~= expected then return {'retry', status} end
if status == target then return {'ok', 0} end
redis.call('HSET', meta, 'status', target)
local title = redis.call('HGET', meta, 'title')
local seq = emit(meta, events, maxlen, '{"t":"room","status":"' .. target .. '","title":' .. cjson.encode(title) .. '}')
return {'ok', seq}
