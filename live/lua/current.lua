-- The room's current (or last) drop and auction, the same objects hello carries ('' for none):
-- what the drop and auction endpoints show of the running one.
-- KEYS: drop auction   ARGV: now
K = {drop = KEYS[1], auction = KEYS[2]}  -- (the helpers drop_json and auction_json read these)
NOW = tonumber(ARGV[1])
local drop, auction = '', ''
if redis.call('EXISTS', K.drop) == 1 then drop = drop_json() end
if redis.call('EXISTS', K.auction) == 1 then auction = auction_json() end
return {'ok', drop, auction}
