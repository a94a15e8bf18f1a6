-- Lease up to N due webhook events of one room to the caller (live/webhooks/deliverer.py).
-- Leasing moves an event's due to now + lease: no other process takes it meanwhile, and one
-- killed mid-delivery leaves it to come due again when the lease runs out.
-- KEYS: meta hooks hooks_due hooks_attempts hooks_born   ARGV: now lease_ms max_n
-- Returns {next_due | -1, hook_n, status, lease_until, id, envelope, attempts JSON | '', attempts n, ...}
local meta, hooks, due, attempts, born = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, lease_ms, max_n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease_until = now + lease_ms

local out = {}
if max_n > 0 then
  local taken = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, max_n)
  for i = 1, #taken, 2 do
    local id, score = taken[i], taken[i + 1]
    local envelope = redis.call('HGET', hooks, id)
    if envelope then
      -- A new event's due is its created_ms: kept on its first lease, so the oldest pending
      -- event's age is a ZRANGE away (min of born and of the never-leased dues).
      redis.call('ZADD', born, 'NX', score, id)
      redis.call('ZADD', due, lease_until, id)
      out[#out + 1] = id
      out[#out + 1] = envelope
      out[#out + 1] = redis.call('HGET', attempts, id) or ''
      out[#out + 1] = tonumber(redis.call('HGET', attempts, id .. ':n') or '0')
    else
      redis.call('ZREM', due, id)  -- a due without its event: nothing to deliver
    end
  end
end

local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
local next_due = -1
if first[2] then next_due = tonumber(first[2]) end
local f = redis.call('HMGET', meta, 'hook_n', 'status')
local head = {next_due, tonumber(f[1] or '0'), f[2] or '', lease_until}
for _, v in ipairs(out) do head[#head + 1] = v end
return head
