-- Claims expired sessions: each is removed here, atomically, so exactly one guard returns it.
-- A guard claims only the sessions it owns (it holds the client's credentials for the upstream
-- DELETE), and any orphan of a dead guard; a live guard's sessions are left to that guard.
-- ARGV[4] idle cutoff (last activity at or before), [5] lifetime cutoff (created at or before),
-- [6] hard cutoff (created at or before: ended even while busy), [7] tombstone ms,
-- [8] at most this many idle sessions (own and orphans) per call, [9] this call's token,
-- [10] the token of the last reply the guard received ('' for none).
-- Returns a flat list of id, client, created, reason.
--
-- It also returns, as EVICTED, what admissions of this guard evicted when the guard did not
-- receive their reply (cancelled as lost): see admit.lua.
--
-- What a call claims is kept under its token until the guard's next call names that token as
-- received: a reply lost on the way (a command timeout, a dropped connection) is returned again
-- by the next call, so no claimed session goes without its upstream DELETE.
local idle_cutoff, born_cutoff, hard_cutoff = ARGV[4], ARGV[5], tonumber(ARGV[6])
local tomb_ms, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
local token, received = ARGV[9], ARGV[10]
local claims_key = guard_claims(GUARD)
purge_dead_guards()
local out = {}
local kept = redis.call('GET', claims_key)
if kept then
  local last = cjson.decode(kept)
  if last.token ~= received then
    for _, v in ipairs(last.out) do
      table.insert(out, v)
    end
  end
end
local function reply(id, client, created, reason)
  table.insert(out, id)
  table.insert(out, client)
  table.insert(out, created)
  table.insert(out, reason)
end
for _, v in ipairs(redis.call('LRANGE', guard_evicted(GUARD), 0, -1)) do
  local e = cjson.decode(v)
  reply(e[1], e[2], e[3], 'EVICTED')
end
redis.call('DEL', guard_evicted(GUARD))
local function claim(id, reason)
  local gone = remove_session(id, tomb_ms)
  if gone then
    reply(id, gone[1], gone[2], reason)
  end
end
local idle = redis.call('ZRANGEBYSCORE', guard_idle(GUARD), '-inf', idle_cutoff, 'LIMIT', 0, limit)
for _, id in ipairs(idle) do
  claim(id, 'IDLE')
end
local old = redis.call('ZRANGEBYSCORE', guard_sessions(GUARD), '-inf', born_cutoff, 'WITHSCORES')
for i = 1, #old, 2 do
  local id, created = old[i], tonumber(old[i + 1])
  -- A busy session finishes its POSTs first, up to the hard bound.
  if created <= hard_cutoff or tonumber(redis.call('HGET', session_key(id), 'busy')) == 0 then
    claim(id, 'LIFETIME')
  end
end
-- Orphans end once idle (their lifetime is at most one idle timeout late).
if #idle < limit then
  local orphans = redis.call('ZRANGEBYSCORE', K_ORPHANS, '-inf', idle_cutoff, 'LIMIT', 0,
    limit - #idle)
  for _, id in ipairs(orphans) do
    local v = end_orphan(id, tomb_ms)
    if v then
      local sp = string.find(v, ' ', 1, true)
      reply(id, string.sub(v, sp + 1), string.sub(v, 1, sp - 1), 'IDLE')
    end
  end
end
if #out > 0 then
  redis.call('SET', claims_key, cjson.encode({token = token, out = out}), 'PX', KEPT_MS)
else
  redis.call('DEL', claims_key)
end
return out
