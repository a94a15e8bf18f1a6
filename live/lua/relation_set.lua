-- Follow or unfollow a host, or set or clear a show's reminder: the user's side, the truth.
--
-- Why a version: a relation has two sides in two Redis Cluster slots, the user's ({user:<id>}:
-- whom I follow, what I asked to be reminded of) and the target's ({host:<id>} followers, a
-- room's reminded users), so no one script can write both. This script flips the user's side
-- and counts a version of the relation there; relation_apply.lua then applies (user, on/off,
-- version) to the target's side only when that version is newer than the one the target holds.
-- Requests of one user on several processes may reach the target in any order, but the user's
-- slot ordered them: the newest version wins on both sides, a stale write loses, a repeat is a
-- no-op, and the target's ZCARD is exact, whatever the interleaving. A crash between the two
-- steps leaves the target behind until the user's next request about it: a repeat changes nothing
-- here and answers the current version, which relation_apply.lua then applies.
--
-- KEYS: set (sorted set target -> ms) versions (hash "<kind>:<target>" -> counter)
-- ARGV: target field on (1|0) now_ms
-- Returns {'ok', changed (0|1), signed version}: +v for on, -v for off (0 = never set).
local set, versions = KEYS[1], KEYS[2]
local target, field, on, now = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4]
local present = redis.call('ZSCORE', set, target)
local changed = 0
if on and not present then
  redis.call('ZADD', set, now, target)
  changed = 1
elseif not on and present then
  redis.call('ZREM', set, target)
  changed = 1
end
local version
if changed == 1 then
  version = redis.call('HINCRBY', versions, field, 1)
else
  version = tonumber(redis.call('HGET', versions, field) or '0')
end
if not on then version = -version end
return {'ok', changed, version}
