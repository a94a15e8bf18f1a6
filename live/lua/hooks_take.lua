-- Take up to N rooms whose webhook outbox is due (the {hooks} index, outside every room's slot)
-- and lease them to the caller: their score moves to lease_until, so other processes look at
-- other rooms meanwhile. A writer's ZADD LT of a new event lowers it again (the room is due at
-- once); a caller killed mid-work leaves the room to come due when the lease runs out.
-- KEYS: index   ARGV: now lease_until max_n   Returns the room ids taken.
local index, now, lease_until, max_n = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rooms = redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, max_n)
for _, room in ipairs(rooms) do redis.call('ZADD', index, lease_until, room) end
return rooms
