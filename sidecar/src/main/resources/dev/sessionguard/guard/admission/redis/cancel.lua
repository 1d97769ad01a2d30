-- Releases a reservation; a second call does nothing. ARGV[4] reservation id, [5] '1' when the
-- admission's reply was lost (what it evicted is left to the next expiry), '0' when received.
local rid = ARGV[4]
if ARGV[5] ~= '1' then
  redis.call('HDEL', guard_evictions(GUARD), rid)
end
return remove_reservation(rid) and 1 or 0
