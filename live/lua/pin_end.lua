-- End the pin now (the host's DELETE). KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) pin_id
sale_context()
local id = ARGV[6]
if redis.call('HGET', K.pin, 'id') ~= id then
  if redis.call('HEXISTS', K.pins, id) == 1 then return {'ok', 0, redis.call('HGET', K.pins, id)} end
  return fail('no_such_pin', 'no pin ' .. id .. ' in this room')
end
local seq = end_pin()
return {'ok', seq, redis.call('HGET', K.pins, id)}
