-- Replaces this guard's POSTs-in-flight with the guard's own count after updates were lost
-- (Redis unreachable). ARGV[4..] pairs of session id, POSTs in flight.
touch_lease()
local gb = guard_busy(GUARD)
local old = redis.call('HGETALL', gb)
for i = 1, #old, 2 do
  release_busy(old[i], tonumber(old[i + 1]))
end
redis.call('DEL', gb)
for i = 4, #ARGV, 2 do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  local sk = session_key(id)
  if n > 0 and redis.call('EXISTS', sk) == 1 then
    redis.call('HSET', gb, id, n)
    redis.call('HINCRBY', sk, 'busy', n)
    redis.call('ZREM', guard_idle(redis.call('HGET', sk, 'guard')), id)
  end
end
return 1
