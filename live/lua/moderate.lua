-- One moderation action, atomically with its durable event.
-- KEYS: meta events mutes bans recent deleted
-- ARGV: action user seconds seq now maxlen
local meta, events, mutes, bans, recent, deleted = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local action, user, seconds, target = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now, maxlen = tonumber(ARGV[5]), tonumber(ARGV[6])
if not redis.call('HGET', meta, 'status') then return fail('not_found', 'no such room') end

if action == 'delete' then
  local entry = redis.call('XRANGE', events, target .. '-0', target .. '-0')
  if #entry == 0 then return fail('not_found', 'no post with that seq is kept') end
  local ev = entry[1][2][2]
  if string.find(ev, '"t":"chat"', 1, true) == nil then return fail('bad_request', 'that seq is not a chat post') end
  if redis.call('SADD', deleted, target) == 0 then return {'ok', 0} end
  redis.call('ZREMRANGEBYSCORE', recent, target, target)
  local seq = emit(meta, events, maxlen, '{"t":"chat_deleted","target":' .. target .. '}')
  return {'ok', seq}
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
