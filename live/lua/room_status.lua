-- Compare-and-set the room's status (the transition rule itself lives in rooms/room.py).
-- Ending the show ends its sales in the same step: nobody can buy in a room that has ended,
-- and price protection refunds as at any pin end. (Drops and auctions will end here too: one
-- more _lib.lua call in end_sales.) Orders waiting for payment keep waiting.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) expected target
sale_context()
local expected, target = ARGV[6], ARGV[7]

local function end_sales()
  end_pin()
end

local status = redis.call('HGET', K.meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status ~= expected then return {'retry', status} end
if status == target then return {'ok', 0} end
if target == 'ended' then end_sales() end
redis.call('HSET', K.meta, 'status', target)
local title = redis.call('HGET', K.meta, 'title')
local seq = emit(K.meta, K.events, MAXLEN, '{"t":"room","status":"' .. target .. '","title":' .. cjson.encode(title) .. '}')
if target == 'live' or target == 'ended' then hook('room.' .. target, '{"room":' .. room_json() .. '}') end
return {'ok', seq}
