-- Ends a live session and remembers its id. ARGV[4] session id, [5] tombstone ms.
-- Returns {client, created}, or an empty reply when it was not live. An orphan (a dead guard's
-- session) that its client ended itself is no longer the survivors' to delete: it is forgotten,
-- and its id remembered like any ended session's.
local id, tomb_ms = ARGV[4], tonumber(ARGV[5])
local ended = remove_session(id, tomb_ms)
if ended then
  return ended
end
end_orphan(id, tomb_ms)
return {}
