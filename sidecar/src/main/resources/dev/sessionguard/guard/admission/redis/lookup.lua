-- What is known of a session id. A live session whose owner's lease is gone is taken over by
-- the caller (it still holds its slot; the caller's lease now keeps it).
-- ARGV[4] session id. Returns {'known', client, created}, {'ended'} or {'unknown'}.
local id = ARGV[4]
local f = redis.call('HMGET', session_key(id), 'client', 'created', 'guard')
if f[1] then
  if f[3] ~= GUARD and redis.call('EXISTS', lease_key(f[3])) == 0 then
    touch_lease()
    take_ownership(id, f[3])
  end
  return {'known', f[1], f[2]}
end
if redis.call('EXISTS', tomb_key(id)) == 1 then
  return {'ended'}
end
return {'unknown'}
