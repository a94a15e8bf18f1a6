-- Everything hello carries, read in one atomic step so that its seq matches its contents.
-- A mod connecting is recorded as one of the room's mods (moderate.lua: mods do not act on mods).
-- KEYS: meta recent mutes bans pin events viewers mods products product_stock product_order drop auction
-- ARGV: user now role
local meta, recent, mutes, bans, pin, events, viewers, mods =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local user, now, role = ARGV[1], tonumber(ARGV[2]), ARGV[3]
K = {products = KEYS[9], product_stock = KEYS[10], product_order = KEYS[11], drop = KEYS[12], auction = KEYS[13]}
-- (the helpers bag_json, drop_json and auction_json read these)
local m = redis.call('HGETALL', meta)
if #m == 0 then return {'err', 'not_found', 'no such room', -1} end
if role == 'mod' and user ~= '' then redis.call('SADD', mods, user) end
local chat = redis.call('ZRANGE', recent, 0, -1)
local muted = redis.call('HGET', mutes, user) or '0'
local banned = redis.call('SISMEMBER', bans, user)
local first = redis.call('XRANGE', events, '-', '+', 'COUNT', 1)
local oldest = 0
if #first > 0 then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end
local pin_event = ''
local state = pin_state(pin, now)
if state then pin_event = pin_json(pin, state) end
local total = 0
local v = redis.call('HGETALL', viewers)
for i = 2, #v, 2 do
  local count, expires = string.match(v[i], '^(%d+):(%d+)$')
  if tonumber(expires) > now then total = total + tonumber(count) end
end
local drop = ''
if redis.call('EXISTS', K.drop) == 1 then drop = drop_json() end
NOW = now
local auction = ''
if redis.call('EXISTS', K.auction) == 1 then auction = auction_json() end
return {'ok', m, chat, muted, banned, oldest, pin_event, total, bag_json(), drop, auction}
