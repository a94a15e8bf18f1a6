-- End the pin now (the host's DELETE). KEYS: meta events pin pin_orders orders refunds pins
-- ARGV: now maxlen pin_id
local meta, events, pin, pin_orders, orders, refunds, pins =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now, maxlen, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if redis.call('HGET', pin, 'id') ~= id then
  if redis.call('HEXISTS', pins, id) == 1 then return {'ok', 0, redis.call('HGET', pins, id)} end
  return fail('no_such_pin', 'no pin ' .. id .. ' in this room')
end
local seq = end_pin(meta, events, maxlen, pin, pin_orders, orders, refunds, pins, now)
return {'ok', seq, redis.call('HGET', pins, id)}
