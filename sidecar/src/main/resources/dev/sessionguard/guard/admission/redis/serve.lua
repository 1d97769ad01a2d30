-- A POST on a session as the fast path takes it, in one round trip: what lookup.lua answers and,
-- when the session is live and the caller's, what started.lua records.
-- ARGV[4] now, [5] session id, [6] the caller's client ('' when sessions are not bound to their
-- clients), [7] activity. Returns {'known', client, created, started}, where started is 1, or 0
-- when the session is another client's (nothing is recorded then); {'ended'} or {'unknown'}.
local id, caller = ARGV[5], ARGV[6]
local f = redis.call('HMGET', session_key(id), 'client', 'created', 'guard')
if not f[1] then
  if redis.call('EXISTS', tomb_key(id)) == 1 then
    return {'ended'}
  end
  return {'unknown'}
end
if caller ~= '' and caller ~= f[1] then
  return {'known', f[1], f[2], 0}
end
start_request(id, f[3], ARGV[4], ARGV[7] == '1')
return {'known', f[1], f[2], 1}
