-- Credit one envelope to a user's wallet, exactly once (the entry's field is the room and the drop:
-- a repeat, a repair after a crash, changes nothing), and tell the user's devices the new balance.
-- KEYS: keys.user_wallet(user)   ARGV: room drop cents ts_ms channel (keys.me_channel of the user)
-- Answers {'ok', balance, credited (0|1)}.
local wallet = KEYS[1]
local room, drop, cents, ts, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local entry = '{"room":"' .. room .. '","drop":"' .. drop .. '","cents":' .. cents .. ',"ts_ms":' .. ts .. '}'
if redis.call('HSETNX', wallet, room .. '\t' .. drop, entry) == 0 then
  return {'ok', tonumber(redis.call('HGET', wallet, 'cents') or '0'), 0}
end
local balance = redis.call('HINCRBY', wallet, 'cents', cents)
redis.call('PUBLISH', channel, '{"t":"wallet","cents":' .. balance .. '}')
return {'ok', balance, 1}
