-- Replaces this guard's POSTs-in-flight with the guard's own count after updates were lost
-- (Redis unreachable, or this guard's lease lapsed), and records activity Redis missed meanwhile.
-- ARGV[4..] triples of session id, POSTs in flight, latest activity missed (epoch ms, 0 for none).
touch_lease()
local gb = guard_busy(GUARD)
local old = redis.call('HGETALL', gb)
for i = 1, #old, 2 do
  release_busy(old[i], tonumber(old[i + 1]))
end
redis.call('DEL', gb)
for i = 4, #ARGV, 3 do
  local id, n, act = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local sk = session_key(id)
  if redis.call('EXISTS', sk) == 1 then
    local f = redis.call('HMGET', sk, 'act', 'guard', 'busy')
    if f[2] and act > (tonumber(f[1]) or 0) then
      redis.call('HSET', sk, 'act', act)
      if (tonumber(f[3]) or 0) <= 0 then
        redis.call('ZADD', guard_idle(f[2]), act, id) -- idle since then
      end
    end
    if n > 0 and f[2] then
      redis.call('HSET', gb, id, n)
      redis.call('HINCRBY', sk, 'busy', n)
      redis.call('ZREM', guard_idle(f[2]), id)
    end
  else
    -- an orphan now (this guard's lease lapsed meanwhile, and it was purged)
    local since = redis.call('ZSCORE', K_ORPHANS, id)
    local v = redis.call('HGET', K_ORPHANED, id)
    if n > 0 and since and v then
      -- served here right now: this guard's again (over a cap, as an import: it is live
      -- upstream), busy until its POSTs finish, so no guard reaps or evicts it meanwhile
      local sp = string.find(v, ' ', 1, true)
      local created, client = string.sub(v, 1, sp - 1), string.sub(v, sp + 1)
      add_session(id, client, created, math.max(act, tonumber(since)))
      redis.call('HSET', gb, id, n)
      redis.call('HSET', sk, 'busy', n)
      redis.call('ZREM', guard_idle(GUARD), id)
    elseif since and act > tonumber(since) then
      -- idle since its latest use
      redis.call('ZADD', K_ORPHANS, act, id)
    end
  end
end
return 1
