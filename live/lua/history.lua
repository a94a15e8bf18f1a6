-- One page of a room's whole history, archive and stream read in one atomic step, so that an
-- archive move (_lib.lua archive_old) cannot slip between them: no event missed, none twice.
-- KEYS: meta events   ARGV: after limit
-- Answers {'ok', seq, chunks, entries}: seq the room's latest, chunks the packed archive chunks
-- that hold seqs after `after` (each '[[ms,event],...]', whole: the caller drops what it does not
-- need), entries the stream's [ms, event] pairs after them, at most `limit` in all counting from
-- after + 1.
local meta, events = KEYS[1], KEYS[2]
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
local archived = tonumber(redis.call('HGET', meta, 'archived') or '0')
local want_last = after + limit
local chunks = {}
local chunk = math.floor(after / ARCHIVE_CHUNK)
while chunk < archived and chunk * ARCHIVE_CHUNK < want_last do
  local packed = redis.call('HGET', archive_key(events), chunk)
  if packed then chunks[#chunks + 1] = packed end
  chunk = chunk + 1
end
local entries = {}
local from = math.max(after, archived * ARCHIVE_CHUNK)
if from < want_last then
  for _, entry in ipairs(redis.call('XRANGE', events, '(' .. from .. '-0', want_last .. '-0')) do
    entries[#entries + 1] = timed_event(entry)
  end
end
return {'ok', seq, chunks, entries}
