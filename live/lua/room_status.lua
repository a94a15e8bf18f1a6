-- Compare-and-set the room's status (the transition rule itself lives in rooms/room.py).
-- Ending the show ends its sales in the same step: nobody can buy in a room that has ended,
-- and price protection refunds as at any pin end; a running drop ends with it, and a running auction (its highest bid wins). Orders waiting for
-- payment keep waiting.
-- Going live tells the followers and the reminded (contract §9) with one PUBLISH on the go-live
-- channel ME .. '!live' (no user id has a '!'), whatever their number: each process checks its own
-- /ws/me users against the audience (live/golive.py). The webhook carries the audience's size.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) expected target followers reminded
sale_context()
local expected, target = ARGV[6], ARGV[7]
local followers, reminded = tonumber(ARGV[8] or '0'), tonumber(ARGV[9] or '0')

local function end_sales()
  end_pin()
  end_drop()
  end_auction()
end

local status = redis.call('HGET', K.meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status ~= expected then return {'retry', status} end
if status == target then return {'ok', 0} end
if target == 'ended' then end_sales() end
redis.call('HSET', K.meta, 'status', target)
local title = redis.call('HGET', K.meta, 'title')
local seq = emit(K.meta, K.events, MAXLEN, '{"t":"room","status":"' .. target .. '","title":' .. cjson.encode(title) .. '}')
if target == 'live' then
  local f = redis.call('HMGET', K.meta, 'host_id', 'host_name')
  redis.call('PUBLISH', ME .. '!live', '{"id":"' .. ROOM .. '","title":' .. cjson.encode(title) ..
    ',"host":{"id":' .. cjson.encode(f[1] or '') .. ',"name":' .. cjson.encode(f[2] or '') .. '}}')
  hook('room.live', '{"room":' .. room_json() .. ',"audience":{"followers":' .. followers ..
    ',"reminded":' .. reminded .. '}}')
elseif target == 'ended' then
  hook('room.ended', '{"room":' .. room_json() .. '}')
end
return {'ok', seq}
