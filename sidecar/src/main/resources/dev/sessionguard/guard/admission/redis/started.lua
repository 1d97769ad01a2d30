-- A POST on the session started on this guard (see start_request).
-- ARGV[4] now, [5] session id, [6] activity.
local id = ARGV[5]
local owner = redis.call('HGET', session_key(id), 'guard')
if not owner then
  return 0
end
start_request(id, owner, ARGV[4], ARGV[6] == '1')
return 1
