-- A signed-in viewer opened the room through a share link: attribute them to its sharer, once.
-- The first valid share wins for the rest of the show; an unknown code and one's own code change
-- nothing (a viewer cannot earn on their own orders).
-- KEYS: RoomKeys.share_visit_keys() = shares attributions share_board   ARGV: code viewer
-- Answers {'ok', sharer the viewer is attributed to ("" = none)}.
local shares, attributions, board = KEYS[1], KEYS[2], KEYS[3]
local code, viewer = ARGV[1], ARGV[2]
local earlier = redis.call('HGET', attributions, viewer)
if earlier then return {'ok', earlier} end
local sharer = redis.call('HGET', shares, code)
if not sharer or sharer == viewer then return {'ok', ''} end
redis.call('HSET', attributions, viewer, sharer)
redis.call('HINCRBY', board, 'visits:' .. sharer, 1)
return {'ok', sharer}
