-- The bag as GET /api/rooms/{room}/products shows it, in the order products were added.
-- KEYS: RoomKeys.sale_keys()   ARGV: head (_lib.lua)
sale_context()
if not redis.call('HGET', K.meta, 'status') then return fail('not_found', 'no such room') end
return {'ok', bag_json()}
