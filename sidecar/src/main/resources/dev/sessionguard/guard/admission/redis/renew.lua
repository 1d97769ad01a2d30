-- Renews this guard's lease, purges dead guards, and drops this guard's reservations older than
-- ARGV[4] (a reply lost to a timeout must not hold a slot while the guard lives).
-- Returns 1 if the lease was still held, 0 if it had lapsed (this guard's records may have been
-- purged), or if the guard was purged since its last renewal though a script of its own (a
-- request's) has taken the lease again since.
local held = redis.call('EXISTS', lease_key(GUARD))
if redis.call('DEL', purged_key(GUARD)) == 1 then
  held = 0
end
touch_lease()
purge_dead_guards()
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', guard_res(GUARD), '-inf', ARGV[4])) do
  remove_reservation(rid)
end
return held
