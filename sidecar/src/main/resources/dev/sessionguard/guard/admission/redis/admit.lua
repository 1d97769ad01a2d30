-- Decides one new or adopted session against both caps and records the reservation.
-- ARGV[4] now, [5] client, [6] exempt, [7] force, [8] max, [9] perClient, [10] evictIdlest,
-- [11] reservation id, [12] tombstone ms.
-- Returns {'refused', reason} or {'admitted', wouldRefuse or '', evicted id, client, created}.
--
-- An evicted session is kept under the reservation in evictions:<guard> until the guard confirms
-- or cancels the reservation, which says it received this reply; a reply lost on the way (the
-- guard cancels the reservation saying so) moves it to evicted:<guard>, for the guard's next
-- expiry to end, so the evicted session still gets its upstream DELETE.
local now, client = ARGV[4], ARGV[5]
local exempt, force, evict = ARGV[6] == '1', ARGV[7] == '1', ARGV[10] == '1'
local max, per_client = tonumber(ARGV[8]), tonumber(ARGV[9])
local rid, tomb_ms = ARGV[11], tonumber(ARGV[12])

purge_dead_guards()
touch_lease()

-- The client's least recently active session with no POST in flight, or nil.
local function idlest_session()
  local best, best_act
  for _, m in ipairs(redis.call('SMEMBERS', client_key(client))) do
    if string.sub(m, 1, 2) == 's:' then
      local id = string.sub(m, 3)
      local f = redis.call('HMGET', session_key(id), 'act', 'busy')
      local act = tonumber(f[1])
      if tonumber(f[2]) == 0 and (best == nil or act < best_act or (act == best_act and id < best)) then
        best, best_act = id, act
      end
    end
  end
  return best
end

local total = redis.call('ZCARD', K_SESSIONS) + redis.call('HLEN', K_RES)
local held = redis.call('SCARD', client_key(client))
local would = ''
local evicted = {}
local at_client_cap = not exempt and held >= per_client
if total >= max or at_client_cap then
  -- A client at its own cap makes room under both caps by its idlest session (unless the
  -- sessions, or the client's, are over a cap lowered since: then one ended is not room enough;
  -- in DryRun the counts are over the caps by the evictions DryRun did not make, which no lowered
  -- cap can be told from: a client at its cap is taken as evicting, an approximation).
  -- DryRun evicts nothing, and reports nothing Enforce would have refused.
  local idlest = nil
  if at_client_cap and evict and (force or (total - 1 < max and held - 1 < per_client)) then
    idlest = idlest_session()
  end
  if not idlest then
    would = total >= max and 'GLOBAL_SESSIONS' or 'CLIENT_SESSIONS'
  elseif not force then
    local gone = remove_session(idlest, tomb_ms)
    evicted = {idlest, gone[1], gone[2]}
  end
end
if would ~= '' and not force then
  return {'refused', would}
end
redis.call('HSET', K_RES, rid, GUARD .. ' ' .. client)
redis.call('ZADD', guard_res(GUARD), now, rid)
add_client_member(client, 'r:' .. rid)
if #evicted > 0 then
  redis.call('HSET', guard_evictions(GUARD), rid, cjson.encode(evicted))
  redis.call('PEXPIRE', guard_evictions(GUARD), KEPT_MS)
end
local reply = {'admitted', would}
for _, v in ipairs(evicted) do
  table.insert(reply, v)
end
return reply
