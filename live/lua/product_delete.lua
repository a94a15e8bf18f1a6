-- Take a product out of the bag: refused while it is pinned or has orders waiting for payment.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) product_id
sale_context()
local pid = ARGV[6]
if not redis.call('HGET', K.meta, 'status') then return fail('not_found', 'no such room') end
if redis.call('HEXISTS', K.products, pid) == 0 then return fail('not_found', 'no product ' .. pid .. ' in this bag') end
if redis.call('HGET', K.pin, 'source') == pid and pin_state(K.pin, NOW) ~= 'ended' then
  return fail('conflict', pid .. ' is pinned: end the pin first')
end
local waiting = tonumber(redis.call('HGET', K.product_waiting, pid) or '0')
if waiting > 0 then return fail('conflict', waiting .. ' orders of ' .. pid .. ' wait for payment') end
redis.call('HDEL', K.products, pid)
redis.call('HDEL', K.product_stock, pid, pid .. ':total')
redis.call('HDEL', K.product_waiting, pid)
redis.call('ZREM', K.product_order, pid)
redis.call('HINCRBY', K.meta, 'bag_v', 1)
local seq = emit(K.meta, K.events, MAXLEN, '{"t":"product","product":{"id":"' .. pid .. '"},"removed":true}')
return {'ok', seq}
