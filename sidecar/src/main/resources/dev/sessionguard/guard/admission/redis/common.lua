-- Shared by every script (prepended to each). One policy's keys share the hash tag in the
-- prefix, so a script touches one slot; KEYS[1] is the sessions index, which routes it.
--
-- ARGV[1] key prefix, ARGV[2] this guard's id, ARGV[3] lease TTL in ms; the rest are the
-- script's own. Timestamps are milliseconds from the caller's clock, never Redis TIME.
--
-- Every count is the size of a set of live records, changed only inside one script:
--   sessions      ZSET id -> created          (lifetime index; ZCARD = live sessions)
--   idle          ZSET id -> last activity    (sessions with no POST in flight)
--   reservations  HASH rid -> "<guard> <client>"
--   clients       SET  clients holding a session or reservation
--   guards        SET  guards that may hold records (purged when their lease is gone)
--   s:<id>        HASH client, created, act, busy (POSTs in flight, all guards), guard (owner)
--   c:<client>    SET  "s:<id>" and "r:<rid>"
--   g:<guard>:s   SET  ids of the sessions this guard owns
--   g:<guard>:r   ZSET rid -> created         (this guard's reservations)
--   g:<guard>:b   HASH id -> this guard's POSTs in flight on it
--   lease:<guard> STRING with a TTL, renewed while the guard lives
--   t:<id>        tombstone of an ended session, with a TTL
local P = ARGV[1]
local GUARD = ARGV[2]
local LEASE_MS = tonumber(ARGV[3])
local K_SESSIONS = P .. 'sessions'
local K_IDLE = P .. 'idle'
local K_RES = P .. 'reservations'
local K_CLIENTS = P .. 'clients'
local K_GUARDS = P .. 'guards'

local function session_key(id) return P .. 's:' .. id end
local function client_key(client) return P .. 'c:' .. client end
local function tomb_key(id) return P .. 't:' .. id end
local function lease_key(guard) return P .. 'lease:' .. guard end
local function guard_sessions(guard) return P .. 'g:' .. guard .. ':s' end
local function guard_res(guard) return P .. 'g:' .. guard .. ':r' end
local function guard_busy(guard) return P .. 'g:' .. guard .. ':b' end

-- The caller is alive: (re)take its lease, so what it records now is purged if it dies.
local function touch_lease()
  redis.call('SET', lease_key(GUARD), '1', 'PX', LEASE_MS)
  redis.call('SADD', K_GUARDS, GUARD)
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

local function add_session(id, client, created, act)
  redis.call('HSET', session_key(id), 'client', client, 'created', created, 'act', act,
    'busy', 0, 'guard', GUARD)
  redis.call('ZADD', K_SESSIONS, created, id)
  redis.call('ZADD', K_IDLE, act, id)
  redis.call('SADD', guard_sessions(GUARD), id)
  add_client_member(client, 's:' .. id)
  redis.call('DEL', tomb_key(id))
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
  redis.call('ZREM', K_IDLE, id)
  redis.call('SREM', guard_sessions(f[3]), id)
  drop_client_member(f[1], 's:' .. id)
  if tomb_ms > 0 then
    redis.call('SET', tomb_key(id), '1', 'PX', tomb_ms)
  end
  return {f[1], f[2]}
end

-- n POSTs on a session ended; at zero it is idle again (since its last activity).
local function release_busy(id, n)
  local sk = session_key(id)
  if redis.call('EXISTS', sk) == 0 then
    return
  end
  local busy = redis.call('HINCRBY', sk, 'busy', -n)
  if busy <= 0 then
    redis.call('HSET', sk, 'busy', 0)
    redis.call('ZADD', K_IDLE, redis.call('HGET', sk, 'act'), id)
  end
end

-- The session is served by this guard now: it lives as long as this guard does.
local function take_ownership(id, owner)
  if owner ~= GUARD then
    redis.call('SREM', guard_sessions(owner), id)
    redis.call('SADD', guard_sessions(GUARD), id)
    redis.call('HSET', session_key(id), 'guard', GUARD)
  end
end

-- A guard whose lease expired crashed (or lost Redis for longer than its lease): its
-- reservations and sessions free their slots, and its POSTs stop holding sessions busy.
-- Its session ids are not tombstoned, so a client still using one re-adopts it.
local function purge(guard)
  for _, rid in ipairs(redis.call('ZRANGE', guard_res(guard), 0, -1)) do
    remove_reservation(rid)
  end
  for _, id in ipairs(redis.call('SMEMBERS', guard_sessions(guard))) do
    remove_session(id, 0)
  end
  local busy = redis.call('HGETALL', guard_busy(guard))
  for i = 1, #busy, 2 do
    release_busy(busy[i], tonumber(busy[i + 1]))
  end
  redis.call('DEL', guard_res(guard), guard_sessions(guard), guard_busy(guard))
  redis.call('SREM', K_GUARDS, guard)
end

local function purge_dead_guards()
  for _, guard in ipairs(redis.call('SMEMBERS', K_GUARDS)) do
    if redis.call('EXISTS', lease_key(guard)) == 0 then
      purge(guard)
    end
  end
end
