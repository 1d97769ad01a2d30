-- Ends a live session and remembers its id. ARGV[4] session id, [5] tombstone ms.
-- Returns {client, created}, or an empty reply when it was not live.
return remove_session(ARGV[4], tonumber(ARGV[5])) or {}
