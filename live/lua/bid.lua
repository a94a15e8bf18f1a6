-- Take one bid on the room's auction atomically: idempotency by request id, the window by the
-- server's clock, the host refused, the minimum, and the extension when little time is left.
-- A bid at or after ends_at_ms ends the auction instead (auction_end, exactly once).
-- KEYS: RoomKeys.bid_keys(auction): sale_keys() and the auction's bids list
-- ARGV: head (_lib.lua) user auction_id request_id cents name_json
-- Answers {'ok', bid JSON {cents, ends_at_ms}, replayed (0|1)} or an error; too_low carries min_cents.
sale_context()
local bids = KEYS[#KEYS]  -- after sale_keys()
local user, auction_id, request_id, cents, name_json = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
local request_key = 'a:' .. auction_id .. ':' .. user .. ':' .. request_id

local earlier = redis.call('HGET', K.requests, request_key)
if earlier then return {'ok', earlier, 1} end
local f = redis.call('HMGET', K.auction, 'id', 'state', 'starts_at_ms', 'ends_at_ms', 'high_user', 'high_cents',
  'start_cents', 'increment_cents', 'extend_s')
if f[1] ~= auction_id then
  if redis.call('HEXISTS', K.auctions, auction_id) == 1 then return fail('ended', 'that auction has ended') end
  return fail('no_such_auction', 'no auction ' .. auction_id .. ' in this room')
end
if f[2] == 'ended' then return fail('ended', 'that auction has ended') end
local ends_at = tonumber(f[4])
if NOW >= ends_at then
  end_auction()
  return fail('ended', 'that auction has ended')
end
local starts_at = tonumber(f[3])
if NOW < starts_at then return fail('not_started', 'the auction has not started', starts_at - NOW) end
if user == redis.call('HGET', K.meta, 'host_id') then
  return fail('forbidden', 'the host cannot bid in their own auction')
end
if f[2] == 'upcoming' then  -- started before time noticed: say so first, as tick_auction would
  redis.call('HSET', K.auction, 'state', 'live')
  emit(K.meta, K.events, MAXLEN, '{"t":"auction","auction":' .. auction_json('live') .. '}')
end
local min = tonumber(f[7])
if f[5] then min = tonumber(f[6]) + tonumber(f[8]) end
if cents < min then
  local r = fail('too_low', 'the lowest bid now is ' .. min .. ' cents')
  r[5] = min
  return r
end

local extend_ms = tonumber(f[9]) * 1000
if extend_ms > 0 and ends_at - NOW < extend_ms then
  ends_at = NOW + extend_ms
  redis.call('HSET', K.auction, 'ends_at_ms', ends_at)
end
redis.call('HSET', K.auction, 'high_user', user, 'high_cents', cents, 'high_name', name_json)
redis.call('HINCRBY', K.auction, 'bids', 1)
local bid = '{"cents":' .. cents .. ',"ends_at_ms":' .. ends_at .. '}'
redis.call('HSET', K.requests, request_key, bid)
redis.call('RPUSH', bids, '{"user":{"id":"' .. user .. '","name":' .. name_json .. '},"cents":' .. cents ..
  ',"ts_ms":' .. NOW .. ',"ends_at_ms":' .. ends_at .. '}')
emit(K.meta, K.events, MAXLEN, '{"t":"bid","auction":"' .. auction_id .. '","user":{"id":"' .. user ..
  '","name":' .. name_json .. '},"cents":' .. cents .. ',"ends_at_ms":' .. ends_at .. '}')
return {'ok', bid, 0}
