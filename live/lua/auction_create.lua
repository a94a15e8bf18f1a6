-- Put an auction up: end the one before it (one at a time), then the new one. An auction of a bag
-- product takes one unit of its stock (back if nobody bids, or if the winner's order goes).
-- KEYS: RoomKeys.sale_keys()
-- ARGV: head (_lib.lua) id product_json start_cents increment_cents starts_at_ms ends_at_ms extend_s
--       product_id ("" for an inline product)
-- Answers {'ok', auction JSON} (the durable "auction" event carries the same object) or an error.
sale_context()
local id, product, source = ARGV[6], ARGV[7], ARGV[13]
local status = redis.call('HGET', K.meta, 'status')
if not status then return fail('not_found', 'no such room') end
if status == 'ended' then return fail('conflict', 'the show has ended') end
if redis.call('HGET', K.auction, 'id') == id or redis.call('HEXISTS', K.auctions, id) == 1 then
  return fail('conflict', 'auction id ' .. id .. ' was used already in this room')
end
if source ~= '' then
  product = bag_product_ref(source)
  if not product then return fail('no_such_product', 'no product ' .. source .. ' in this bag') end
  local left = tonumber(redis.call('HGET', K.product_stock, source))
  -- The running auction's unit comes back to the bag when it ends unsold.
  local cur = redis.call('HMGET', K.auction, 'source', 'state', 'high_user')
  if cur[1] == source and cur[2] ~= 'ended' and not cur[3] then left = left + 1 end
  if left < 1 then return fail('sold_out', 'no unit of ' .. source .. ' left in the bag') end
end
end_auction()
if source ~= '' then bag_changed(source, -1) end
local starts_at = tonumber(ARGV[10])
local state = 'live'
if starts_at > NOW then state = 'upcoming' end
redis.call('DEL', K.auction)
redis.call('HSET', K.auction, 'id', id, 'product', product, 'state', state, 'start_cents', ARGV[8],
  'increment_cents', ARGV[9], 'starts_at_ms', ARGV[10], 'ends_at_ms', ARGV[11], 'extend_s', ARGV[12], 'bids', 0,
  'title_json', cjson.encode(cjson.decode(product).title), 'created_ms', NOW)
if source ~= '' then redis.call('HSET', K.auction, 'source', source) end
local body = auction_json(state)
emit(K.meta, K.events, MAXLEN, '{"t":"auction","auction":' .. body .. '}')
return {'ok', body}
