-- Apply a follow or a reminder to the target's side (a host's followers, a room's reminded users).
--
-- The user's side is the truth and counts a version of each relation (relation_set.lua says
-- why). Here (user, on/off, version) is applied only when the version is newer than the one
-- stored for the user, so a stale write, arriving after a newer one from another process, loses,
-- and a repeat is a no-op. Versions are kept for users who turned the relation off (negative),
-- so an old "on" cannot bring them back. Every score of the set is 0: it pages in user-id order.
--
-- KEYS: set (sorted set of users, scores 0) versions (hash user -> signed version)
-- ARGV: user signed_version (+v on, -v off, 0 = nothing to apply)
-- Returns {'ok', applied (0|1), ZCARD of the set after}.
local set, versions = KEYS[1], KEYS[2]
local user, version = ARGV[1], tonumber(ARGV[2])
local stored = tonumber(redis.call('HGET', versions, user) or '0')
if version == 0 or math.abs(version) <= math.abs(stored) then
  return {'ok', 0, redis.call('ZCARD', set)}
end
redis.call('HSET', versions, user, version)
if version > 0 then
  redis.call('ZADD', set, 0, user)
else
  redis.call('ZREM', set, user)
end
return {'ok', 1, redis.call('ZCARD', set)}
