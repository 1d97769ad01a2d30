-- Claims expired sessions: each is removed here, atomically, so exactly one guard returns it.
-- ARGV[4] idle cutoff (last activity at or before), [5] lifetime cutoff (created at or before),
-- [6] hard cutoff (created at or before: ended even while busy), [7] tombstone ms,
-- [8] at most this many idle sessions per call.
-- Returns a flat list of id, client, created, reason.
local idle_cutoff, born_cutoff, hard_cutoff = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local tomb_ms, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
purge_dead_guards()
local out = {}
local function claim(id, reason)
  local gone = remove_session(id, tomb_ms)
  if gone then
    table.insert(out, id)
    table.insert(out, gone[1])
    table.insert(out, gone[2])
    table.insert(out, reason)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_IDLE, '-inf', idle_cutoff, 'LIMIT', 0, limit)) do
  claim(id, 'IDLE')
end
local old = redis.call('ZRANGEBYSCORE', K_SESSIONS, '-inf', born_cutoff, 'WITHSCORES')
for i = 1, #old, 2 do
  local id, created = old[i], tonumber(old[i + 1])
  -- A busy session finishes its POSTs first, up to the hard bound.
  if created <= hard_cutoff or tonumber(redis.call('HGET', session_key(id), 'busy')) == 0 then
    claim(id, 'LIFETIME')
  end
end
return out
