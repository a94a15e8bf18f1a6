-- Record one delivery attempt of a webhook event and act on the outcome the caller decided
-- (live/webhooks/backoff.py is the one home of the retry rule; this script only records it).
-- KEYS: meta hooks hooks_due hooks_attempts hooks_born hooks_done hooks_delivered hooks_failed
-- ARGV: now id lease_until outcome(delivered|retry|failed) retry_due attempt_json keep attempts_kept
-- Returns {'ok' | 'gone' | 'stale', next_due | -1, hook_n}.
--   gone:  the event is no longer pending (delivered or given up already): nothing recorded.
--   stale: a failure reported under a lease that has since passed to another process: that
--          process's own attempt will be recorded instead, so the retry schedule stays its.
local meta, hooks, due, attempts, born, done, delivered, failed =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now, id, lease_until, outcome = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local retry_due, attempt, keep, kept = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])

local function reply(status)
  local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  local next_due = -1
  if first[2] then next_due = tonumber(first[2]) end
  return {status, next_due, tonumber(redis.call('HGET', meta, 'hook_n') or '0')}
end

local envelope = redis.call('HGET', hooks, id)
if not envelope then return reply('gone') end
-- A 2xx counts whoever holds the lease: the receiver has the event.
if outcome ~= 'delivered' and tonumber(redis.call('ZSCORE', due, id)) ~= lease_until then
  return reply('stale')
end

-- The attempts log: a JSON array, the first attempt and the latest ones (kept - 1), and the count.
local log = redis.call('HGET', attempts, id)
if not log then
  log = '[' .. attempt .. ']'
else
  local list = cjson.decode(log)
  list[#list + 1] = cjson.decode(attempt)
  if #list > kept then table.remove(list, 2) end
  log = cjson.encode(list)
end
redis.call('HSET', attempts, id, log)
redis.call('HINCRBY', attempts, id .. ':n', 1)

-- Move a finished event out of the outbox into its archive set, keeping the newest `keep`.
local function archive(set)
  redis.call('HDEL', hooks, id)
  redis.call('ZREM', due, id)
  redis.call('ZREM', born, id)
  redis.call('HSET', done, id, envelope)
  redis.call('ZADD', set, now, id)
  local over = redis.call('ZCARD', set) - keep
  if over > 0 then
    local popped = redis.call('ZPOPMIN', set, over)  -- member, score, member, score...
    for i = 1, #popped, 2 do
      redis.call('HDEL', done, popped[i])
      redis.call('HDEL', attempts, popped[i], popped[i] .. ':n')
    end
  end
end

if outcome == 'delivered' then
  archive(delivered)
elseif outcome == 'failed' then
  archive(failed)
else
  redis.call('ZADD', due, retry_due, id)
end
return reply('ok')
