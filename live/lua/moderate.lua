-- One moderation action, atomically with its durable event, and with the rules of who may act
-- on whom: nobody mutes or bans the host, and a mod acts on no mod (itself included) and not on
-- the host at all; a mod who is banned or muted has no powers until the host lifts it.
-- A mod is whoever holds a mod token for the room: the server learns them when they connect
-- (snapshot.lua) or act (here), and keeps them in `mods`. A mod never seen yet counts as a
-- viewer; if another mod bans them, the ban takes their powers until the host lifts it.
-- KEYS: meta events mutes bans recent deleted mods
-- ARGV: action user seconds seq now maxlen actor actor_role
local meta, events, mutes, bans, recent, deleted, mods =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local action, user, seconds, target = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now, maxlen, actor, actor_role = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
local host_id = redis.call('HGET', meta, 'host_id')
if not host_id then return fail('not_found', 'no such room') end
local by_host = actor_role == 'host'

if not by_host then
  redis.call('SADD', mods, actor)
  if redis.call('SISMEMBER', bans, actor) == 1 then
    return fail('forbidden', 'you are banned in this room; only the host can lift it')
  end
  if tonumber(redis.call('HGET', mutes, actor) or '0') > now then
    return fail('forbidden', 'you are muted in this room; only the host can lift it')
  end
end

-- May the actor act on this user (the target of mute/ban/..., or the author of a deleted line)?
local function refusal(subject)
  if subject == host_id then
    if not by_host then return fail('forbidden', 'moderators cannot act on the host') end
    if action == 'mute' or action == 'ban' then return fail('forbidden', 'the host cannot be muted or banned') end
    return nil
  end
  if by_host then return nil end
  if subject == actor then return fail('forbidden', 'moderators cannot act on themselves') end
  if redis.call('SISMEMBER', mods, subject) == 1 then
    return fail('forbidden', 'moderators cannot act on other moderators')
  end
  return nil
end

if action == 'delete' then
  local entry = redis.call('XRANGE', events, target .. '-0', target .. '-0')
  if #entry == 0 then return fail('not_found', 'no post with that seq is kept') end
  local ev = entry[1][2][2]
  if string.find(ev, '"t":"chat"', 1, true) == nil then return fail('bad_request', 'that seq is not a chat post') end
  -- user ids are [A-Za-z0-9_-]: the first "user":{"id":"…" is the author (text comes after, escaped).
  local refused = refusal(string.match(ev, '"user":{"id":"([^"]*)"'))
  if refused then return refused end
  if redis.call('SADD', deleted, target) == 0 then return {'ok', 0} end
  redis.call('ZREMRANGEBYSCORE', recent, target, target)
  local seq = emit(meta, events, maxlen, '{"t":"chat_deleted","target":' .. target .. '}')
  return {'ok', seq}
end
if action ~= 'slow' then
  local refused = refusal(user)
  if refused then return refused end
end
local body
if action == 'mute' then
  redis.call('HSET', mutes, user, now + seconds * 1000)
  body = '{"t":"mod","action":"mute","user":"' .. user .. '","seconds":' .. seconds .. '}'
elseif action == 'unmute' then
  redis.call('HDEL', mutes, user)
  body = '{"t":"mod","action":"unmute","user":"' .. user .. '"}'
elseif action == 'ban' then
  redis.call('SADD', bans, user)
  body = '{"t":"mod","action":"ban","user":"' .. user .. '"}'
elseif action == 'unban' then
  redis.call('SREM', bans, user)
  body = '{"t":"mod","action":"unban","user":"' .. user .. '"}'
elseif action == 'slow' then
  redis.call('HSET', meta, 'slow_s', seconds)
  body = '{"t":"mod","action":"slow","seconds":' .. seconds .. '}'
else
  return fail('bad_request', 'unknown action')
end
local seq = emit(meta, events, maxlen, body)
return {'ok', seq}
