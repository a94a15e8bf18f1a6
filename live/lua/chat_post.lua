-- Decide one chat post atomically: ban, mute, slow mode, rate limit, duplicate, then
-- seq + append; and count it toward the current pin's price tiers in the same step.
-- The poster joins the show's chatters (a drop's "chat" task).
-- KEYS: meta events recent mutes bans rate user pin posters chatters
-- ARGV: now user role digest body rate_posts rate_window_ms dup_window_ms maxlen recent_n
local meta, events, recent, mutes, bans, rate, user_h, pin, posters, chatters =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local now, user, role, digest, body = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rate_posts, rate_window, dup_window = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local maxlen, recent_n = tonumber(ARGV[9]), tonumber(ARGV[10])

local status = redis.call('HGET', meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status == 'ended' then return fail('ended', 'the show has ended') end
if redis.call('SISMEMBER', bans, user) == 1 then return fail('banned', 'you are banned from this room') end
local muted_until = tonumber(redis.call('HGET', mutes, user) or '0')
if muted_until > now then return fail('muted', 'you are muted', muted_until - now) end

local staff = role == 'host' or role == 'mod'
local slow_ms = tonumber(redis.call('HGET', meta, 'slow_s') or '0') * 1000
if slow_ms > 0 and not staff then
  local last = tonumber(redis.call('HGET', user_h, 'last_ms') or '0')
  if now - last < slow_ms then
    return fail('rate_limited', 'slow mode: one post every ' .. (slow_ms / 1000) .. ' s', last + slow_ms - now)
  end
end
if rate_posts > 0 then
  redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - rate_window)
  if redis.call('ZCARD', rate) >= rate_posts then
    local oldest = tonumber(redis.call('ZRANGE', rate, 0, 0, 'WITHSCORES')[2])
    return fail('rate_limited', 'too many posts', math.max(1, oldest + rate_window - now))
  end
end
local dup_field = 'd:' .. digest
local seen = tonumber(redis.call('HGET', user_h, dup_field) or '-1')
if seen >= 0 and now - seen < dup_window then
  return fail('duplicate', 'you posted the same text just now', seen + dup_window - now)
end

local seq, ev = emit(meta, events, maxlen, body)
redis.call('ZADD', recent, seq, ev)
redis.call('ZREMRANGEBYRANK', recent, 0, -(recent_n + 1))
if rate_posts > 0 then
  redis.call('ZADD', rate, now, seq)
  redis.call('PEXPIRE', rate, rate_window)
end
if redis.call('HLEN', user_h) > 64 then
  -- Someone posting steadily keeps the hash alive; drop digests older than the window.
  local f = redis.call('HGETALL', user_h)
  for i = 1, #f, 2 do
    if string.sub(f[i], 1, 2) == 'd:' and now - tonumber(f[i + 1]) >= dup_window then
      redis.call('HDEL', user_h, f[i])
    end
  end
end
redis.call('HSET', user_h, 'last_ms', now, dup_field, now)
redis.call('PEXPIRE', user_h, math.max(dup_window, slow_ms, 1000))
redis.call('HINCRBY', meta, 'chat_posts', 1)
redis.call('SADD', chatters, user)

-- Count toward the pin: upcoming and live pins count; sold-out and ended ones are frozen.
local result = {'ok', seq}
local state = pin_state(pin, now)
if state == 'upcoming' or state == 'live' then
  local counted = true
  if redis.call('HGET', pin, 'count_mode') == 'posters' then
    counted = redis.call('SADD', posters, user) == 1
  end
  if counted then
    local count = redis.call('HINCRBY', pin, 'count', 1)
    local ats = split_numbers(redis.call('HGET', pin, 'tier_at'))
    local prices = split_numbers(redis.call('HGET', pin, 'tier_price'))
    local tier = tonumber(redis.call('HGET', pin, 'tier'))
    local reached = tier
    while reached + 1 < #ats and ats[reached + 2] <= count do reached = reached + 1 end
    if reached > tier then
      redis.call('HSET', pin, 'tier', reached, 'price_cents', prices[reached + 1])
      local pin_id = redis.call('HGET', pin, 'id')
      emit(meta, events, maxlen, '{"t":"price","pin":"' .. pin_id .. '","tier":' .. reached ..
        ',"price_cents":' .. prices[reached + 1] .. ',"count":' .. count .. '}')
    end
  end
end
return result
