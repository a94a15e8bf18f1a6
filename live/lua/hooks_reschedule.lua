-- Set a room's place in the {hooks} index after working its outbox under a room lease.
-- Compare-and-set: if the score is still the caller's lease, nobody has touched the room since it
-- was taken, and it gets `next` (or leaves the index when `next` is -1: an ended room with an
-- empty outbox). Otherwise a writer lowered it (a new event) or another process took it: the
-- earlier of the two dues is kept (ZADD LT, which also puts back a room that was removed), and
-- the room is never removed on a stale view.
-- KEYS: index   ARGV: room lease_until next(-1 = remove)   Returns 1 when the caller's value was set.
local index, room, lease_until, next_due = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local current = redis.call('ZSCORE', index, room)
if current and tonumber(current) == lease_until then
  if next_due < 0 then redis.call('ZREM', index, room) else redis.call('ZADD', index, next_due, room) end
  return 1
end
if next_due >= 0 then redis.call('ZADD', index, 'LT', next_due, room) end
return 0
