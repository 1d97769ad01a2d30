-- Shared by every script (prepended to each). One policy's keys share the hash tag in the
-- prefix, so a script touches one slot; KEYS[1] is the sessions index, which routes it.
--
-- ARGV[1] key prefix, ARGV[2] this guard's id, ARGV[3] lease TTL in ms; the rest are the
-- script's own. Timestamps are milliseconds from the caller's clock, never Redis TIME.
--
-- Every count is the size of a set of live records, changed only inside one script:
--   sessions      ZSET id -> created          (ZCARD = live sessions)
--   reservations  HASH rid -> "<guard> <client>"
--   clients       SET  clients holding a session or reservation
--   guards        SET  guards that may hold records (purged when their lease is gone)
--   s:<id>        HASH client, created, act, busy (POSTs in flight, all guards), guard (owner)
--   c:<client>    SET  "s:<id>" and "r:<rid>"
--   g:<guard>:s   ZSET id -> created          (the sessions this guard owns: its lifetime index)
--   g:<guard>:i   ZSET id -> last activity    (those of them with no POST in flight: idle index)
--   g:<guard>:r   ZSET rid -> created         (this guard's reservations)
--   g:<guard>:b   HASH id -> this guard's POSTs in flight on it
--   lease:<guard> STRING with a TTL, renewed while the guard lives
--   purged:<guard> STRING set when the guard's records were purged (its lease had lapsed), so its
--                 next renewal learns of it even if a script of its own took the lease again first
--   t:<id>        tombstone of an ended session, with a TTL
--   orphans       ZSET id -> last activity    (sessions of dead guards: no slot, not yet deleted)
--   orphaned      HASH id -> "<created> <client>"
--   claims:<guard> STRING the guard's last expiry claims, kept until it says it received them
--   evictions:<guard> HASH rid -> [id, client, created] of the session the admission that made
--                 the reservation evicted, kept until the guard confirms or cancels it (an hour
--                 at most)
--   evicted:<guard> LIST [id, client, created] of sessions evicted by admissions whose reply the
--                 guard did not receive, for its next expiry to end (an hour at most)
--
-- Only a session's owner reaps it: the owner holds what the upstream DELETE needs (the client's
-- credentials, in its memory). A dead guard's sessions become orphans, which any guard reaps.
local P = ARGV[1]
local GUARD = ARGV[2]
local LEASE_MS = tonumber(ARGV[3])
local K_SESSIONS = P .. 'sessions'
local K_RES = P .. 'reservations'
local K_CLIENTS = P .. 'clients'
local K_GUARDS = P .. 'guards'
local K_ORPHANS = P .. 'orphans'
local K_ORPHANED = P .. 'orphaned'

local function session_key(id) return P .. 's:' .. id end
local function client_key(client) return P .. 'c:' .. client end
local function tomb_key(id) return P .. 't:' .. id end
local function lease_key(guard) return P .. 'lease:' .. guard end
local function purged_key(guard) return P .. 'purged:' .. guard end
local function guard_sessions(guard) return P .. 'g:' .. guard .. ':s' end
local function guard_res(guard) return P .. 'g:' .. guard .. ':r' end
local function guard_busy(guard) return P .. 'g:' .. guard .. ':b' end
local function guard_idle(guard) return P .. 'g:' .. guard .. ':i' end
local function guard_claims(guard) return P .. 'claims:' .. guard end
local function guard_evictions(guard) return P .. 'evictions:' .. guard end
local function guard_evicted(guard) return P .. 'evicted:' .. guard end
-- How long a guard's kept evictions and claims outlive their last write: a dead guard's go.
local KEPT_MS = 3600000

-- The caller is alive: (re)take its lease, so what it records now is purged if it dies. A held
-- lease is only extended: its guard is in K_GUARDS already (the two are written together below,
-- and purge removes a guard only once its lease is gone).
local function touch_lease()
  if redis.call('PEXPIRE', lease_key(GUARD), LEASE_MS) == 0 then
    redis.call('SET', lease_key(GUARD), '1', 'PX', LEASE_MS)
    redis.call('SADD', K_GUARDS, GUARD)
  end
end

local function drop_client_member(client, member)
  local ck = client_key(client)
  redis.call('SREM', ck, member)
  if redis.call('EXISTS', ck) == 0 then
    redis.call('SREM', K_CLIENTS, client)
  end
end

local function add_client_member(client, member)
  redis.call('SADD', client_key(client), member)
  redis.call('SADD', K_CLIENTS, client)
end

-- Returns true if the reservation was live.
local function remove_reservation(rid)
  local v = redis.call('HGET', K_RES, rid)
  if not v then
    return false
  end
  local sp = string.find(v, ' ', 1, true)
  local guard, client = string.sub(v, 1, sp - 1), string.sub(v, sp + 1)
  redis.call('HDEL', K_RES, rid)
  redis.call('ZREM', guard_res(guard), rid)
  drop_client_member(client, 'r:' .. rid)
  return true
end

-- An orphan that is live again (re-adopted) is no longer the survivors' to delete.
local function forget_orphan(id)
  redis.call('ZREM', K_ORPHANS, id)
  redis.call('HDEL', K_ORPHANED, id)
end

-- Remembers an ended session's id for tomb_ms, so later requests with it get 404 (0: not at all).
local function tombstone(id, tomb_ms)
  if tomb_ms > 0 then
    redis.call('SET', tomb_key(id), '1', 'PX', tomb_ms)
  end
end

-- Ends an orphan (reaped, or ended by its client): forgotten, its id remembered.
-- Returns its "<created> <client>", or false when the id was no orphan.
local function end_orphan(id, tomb_ms)
  local v = redis.call('HGET', K_ORPHANED, id)
  forget_orphan(id)
  if v then
    tombstone(id, tomb_ms)
  end
  return v
end

local function add_session(id, client, created, act)
  redis.call('HSET', session_key(id), 'client', client, 'created', created, 'act', act,
    'busy', 0, 'guard', GUARD)
  redis.call('ZADD', K_SESSIONS, created, id)
  redis.call('ZADD', guard_idle(GUARD), act, id)
  redis.call('ZADD', guard_sessions(GUARD), created, id)
  add_client_member(client, 's:' .. id)
  redis.call('DEL', tomb_key(id))
  forget_orphan(id)
end

-- Removes a live session; remembers its id for tomb_ms (0: forget it, so it can be adopted).
-- Returns {client, created}, or nil when it was not live.
local function remove_session(id, tomb_ms)
  local sk = session_key(id)
  local f = redis.call('HMGET', sk, 'client', 'created', 'guard')
  if not f[1] then
    return nil
  end
  redis.call('DEL', sk)
  redis.call('ZREM', K_SESSIONS, id)
  redis.call('ZREM', guard_idle(f[3]), id)
  redis.call('ZREM', guard_sessions(f[3]), id)
  drop_client_member(f[1], 's:' .. id)
  tombstone(id, tomb_ms)
  return {f[1], f[2]}
end

-- n POSTs on a session ended, the last of them at act when it counts as activity (nil when
-- none did); at zero it is idle again (since its last activity).
local function release_busy(id, n, act)
  local sk = session_key(id)
  if redis.call('EXISTS', sk) == 0 then
    return
  end
  if act then
    redis.call('HSET', sk, 'act', act)
  end
  local busy = redis.call('HINCRBY', sk, 'busy', -n)
  if busy <= 0 then
    local f = redis.call('HMGET', sk, 'act', 'guard')
    if busy < 0 then
      redis.call('HSET', sk, 'busy', 0)
    end
    redis.call('ZADD', guard_idle(f[2]), f[1], id)
  end
end

-- Moves a session, with its places in the lifetime and idle indexes, to another owner.
local function move_session(id, from, to)
  local created = redis.call('ZSCORE', guard_sessions(from), id)
      or redis.call('HGET', session_key(id), 'created')
  redis.call('ZREM', guard_sessions(from), id)
  redis.call('ZADD', guard_sessions(to), created, id)
  local act = redis.call('ZSCORE', guard_idle(from), id)
  if act then
    redis.call('ZREM', guard_idle(from), id)
    redis.call('ZADD', guard_idle(to), act, id)
  end
  redis.call('HSET', session_key(id), 'guard', to)
end

-- The session is served by this guard now: it lives as long as this guard does, and this guard
-- (which has seen the client's latest credentials) is the one to reap it.
local function take_ownership(id, owner)
  if owner ~= GUARD then
    move_session(id, owner, GUARD)
  end
end

-- A POST on the live session id (owned by owner) started on this guard: the session is busy
-- (not idle) until it finishes, and this guard owns (and reaps) it from now on.
local function start_request(id, owner, now, activity)
  touch_lease()
  take_ownership(id, owner)
  redis.call('HINCRBY', guard_busy(GUARD), id, 1)
  if redis.call('HINCRBY', session_key(id), 'busy', 1) == 1 then
    redis.call('ZREM', guard_idle(GUARD), id)
  end
  if activity then
    redis.call('HSET', session_key(id), 'act', now)
  end
end

-- A live guard with a POST in flight on the session, or nil.
local function guard_serving(id, except)
  for _, g in ipairs(redis.call('SMEMBERS', K_GUARDS)) do
    if g ~= except and redis.call('HEXISTS', guard_busy(g), id) == 1
        and redis.call('EXISTS', lease_key(g)) == 1 then
      return g
    end
  end
  return nil
end

-- A guard whose lease expired crashed (or lost Redis for longer than its lease): its
-- reservations and sessions free their slots, and its POSTs stop holding sessions busy. A
-- session another guard is serving a POST on moves to that guard. The others become orphans:
-- not tombstoned, so a client still using one re-adopts it; left alone until idle, any guard
-- reaps it.
local function purge(guard)
  for _, rid in ipairs(redis.call('ZRANGE', guard_res(guard), 0, -1)) do
    remove_reservation(rid)
  end
  local busy = redis.call('HGETALL', guard_busy(guard))
  for i = 1, #busy, 2 do
    release_busy(busy[i], tonumber(busy[i + 1]))
  end
  redis.call('DEL', guard_busy(guard))
  for _, id in ipairs(redis.call('ZRANGE', guard_sessions(guard), 0, -1)) do
    local f = redis.call('HMGET', session_key(id), 'act', 'created', 'client')
    if not (f[1] and f[2] and f[3]) then
      -- its record is gone or partial (evicted by a maxmemory-policy other than noeviction, or
      -- deleted by hand): it is forgotten, and the purge goes on rather than failing every script
      -- (without a client named, that client's count keeps it)
      redis.call('DEL', session_key(id))
      redis.call('ZREM', K_SESSIONS, id)
      if f[3] then
        drop_client_member(f[3], 's:' .. id)
      end
    else
      local serving = guard_serving(id, guard)
      if serving then
        move_session(id, guard, serving)
      else
        remove_session(id, 0)
        redis.call('ZADD', K_ORPHANS, f[1], id)
        redis.call('HSET', K_ORPHANED, id, f[2] .. ' ' .. f[3])
      end
    end
  end
  -- evictions:<guard> and evicted:<guard> stay (until they expire): a guard whose lease lapsed
  -- in an outage replays its lost admissions' cancels when Redis is back, and still ends them
  redis.call('DEL', guard_res(guard), guard_sessions(guard), guard_idle(guard))
  redis.call('SREM', K_GUARDS, guard)
  redis.call('SET', purged_key(guard), '1', 'PX', KEPT_MS)
end

local function purge_dead_guards()
  for _, guard in ipairs(redis.call('SMEMBERS', K_GUARDS)) do
    if redis.call('EXISTS', lease_key(guard)) == 0 then
      purge(guard)
    end
  end
end
