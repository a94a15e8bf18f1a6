-- Compare-and-set the room's status (the transition rule itself lives in rooms/room.py).
-- Ending the show ends its sales in the same step: nobody can buy in a room that has ended,
-- and price protection refunds as at any pin end. (Drops and auctions will end here too: one
-- more _lib.lua call in end_sales.)
-- KEYS: meta events pin pin_orders orders refunds pins   ARGV: expected target maxlen now
local meta, events, pin, pin_orders, orders, refunds, pins =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local expected, target, maxlen, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

local function end_sales()
  end_pin(meta, events, maxlen, pin, pin_orders, orders, refunds, pins, now)
end

local status = redis.call('HGET', meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status ~= expected then return {'retry', status} end
if status == target then return {'ok', 0} end
if target == 'ended' then end_sales() end
redis.call('HSET', meta, 'status', target)
local title = redis.call('HGET', meta, 'title')
local seq = emit(meta, events, maxlen, '{"t":"room","status":"' .. target .. '","title":' .. cjson.encode(title) .. '}')
return {'ok', seq}
