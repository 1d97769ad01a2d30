-- Turns a reservation into a session. The reservation may be gone already (its guard's lease
-- lapsed): the upstream issued the session, so it is recorded anyway.
-- ARGV[4] now, [5] reservation id, [6] session id, [7] client.
-- Returns {'new' | 'existing', client, created}.
local now, rid, id, client = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
touch_lease()
remove_reservation(rid)
redis.call('HDEL', guard_evictions(GUARD), rid) -- the admission's reply was received
local f = redis.call('HMGET', session_key(id), 'client', 'created')
if f[1] then
  return {'existing', f[1], f[2]}
end
add_session(id, client, now, now)
return {'new', client, now}
