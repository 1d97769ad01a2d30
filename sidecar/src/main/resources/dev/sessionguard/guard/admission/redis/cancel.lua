-- Releases a reservation; a second call does nothing. ARGV[4] reservation id, [5] '1' when the
-- admission's reply was lost: what it evicted (see admit.lua) goes to the guard's next expiry.
local rid = ARGV[4]
if ARGV[5] == '1' then
  local evicted = redis.call('HGET', guard_evictions(GUARD), rid)
  if evicted then
    redis.call('RPUSH', guard_evicted(GUARD), evicted)
    redis.call('PEXPIRE', guard_evicted(GUARD), KEPT_MS)
  end
end
redis.call('HDEL', guard_evictions(GUARD), rid)
return remove_reservation(rid) and 1 or 0
