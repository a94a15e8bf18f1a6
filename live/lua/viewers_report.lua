-- A server process reports how many viewers it holds in a room; returns {room total, likes}.
-- Reports expire, so the viewers of a process killed with -9 stop counting after ttl_ms.
-- KEYS: viewers meta   ARGV: node count now ttl_ms
local viewers, meta = KEYS[1], KEYS[2]
local node, count, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if count > 0 then
  redis.call('HSET', viewers, node, count .. ':' .. (now + ttl))
else
  redis.call('HDEL', viewers, node)
end
local total = 0
local v = redis.call('HGETALL', viewers)
for i = 1, #v, 2 do
  local c, expires = string.match(v[i + 1], '^(%d+):(%d+)$')
  if tonumber(expires) > now then total = total + tonumber(c) else redis.call('HDEL', viewers, v[i]) end
end
local likes = 0
if redis.call('EXISTS', meta) == 1 then
  local peak = tonumber(redis.call('HGET', meta, 'peak_viewers') or '0')
  if total > peak then redis.call('HSET', meta, 'peak_viewers', total) end
  likes = tonumber(redis.call('HGET', meta, 'likes') or '0')
end
return {total, likes}
