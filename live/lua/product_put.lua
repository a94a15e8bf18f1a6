-- Add a product to the bag or change it. Its stock_total may not go below the units already out
-- (held by orders, or lent to a running pin).
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua) product_id fixed_json stock_total max_products
-- Answers {'ok', created (0|1), product JSON}.
sale_context()
local pid, fixed, total, max_products = ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
if not redis.call('HGET', K.meta, 'status') then return fail('not_found', 'no such room') end
local created = 0
if redis.call('HEXISTS', K.products, pid) == 1 then
  local s = redis.call('HMGET', K.product_stock, pid .. ':total', pid)
  local out = tonumber(s[1]) - tonumber(s[2])
  if total < out then
    return fail('conflict', out .. ' units of ' .. pid .. ' are held by orders or a pin: stock cannot go below that')
  end
  redis.call('HSET', K.product_stock, pid, total - out)
else
  if redis.call('ZCARD', K.product_order) >= max_products then
    return fail('conflict', 'a bag holds at most ' .. max_products .. ' products')
  end
  redis.call('ZADD', K.product_order, redis.call('HINCRBY', K.meta, 'product_n', 1), pid)
  redis.call('HSET', K.product_stock, pid, total)
  created = 1
end
redis.call('HSET', K.products, pid, fixed)
redis.call('HSET', K.product_stock, pid .. ':total', total)
redis.call('HINCRBY', K.meta, 'bag_v', 1)
local body = product_json(pid)
emit(K.meta, K.events, MAXLEN, '{"t":"product","product":' .. body .. '}')
return {'ok', created, body}
