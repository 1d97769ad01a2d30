-- Turns a reservation into a session. The reservation may be gone already (its guard's lease
-- lapsed): the upstream issued the session, so it is recorded anyway.
-- ARGV[4] now, [5] reservation id, [6] session id, [7] client, [8] '1' when the POST that brought
-- the id is still being answered: the session is busy with it from this step (see start_request),
-- unless it is another client's; [9] '1' when that POST counts as activity (a new session's
-- creation always does).
-- Returns {'new' | 'existing', client, created}.
local now, rid, id, client = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local started = ARGV[8] == '1'
touch_lease()
remove_reservation(rid)
redis.call('HDEL', guard_evictions(GUARD), rid) -- the admission's reply was received
local f = redis.call('HMGET', session_key(id), 'client', 'created', 'guard')
if f[1] then
  if started and f[1] == client then
    start_request(id, f[3], now, ARGV[9] == '1')
  end
  return {'existing', f[1], f[2]}
end
add_session(id, client, now, now)
if started then
  start_request(id, GUARD, now, true)
end
return {'new', client, now}
