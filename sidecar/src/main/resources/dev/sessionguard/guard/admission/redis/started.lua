-- A POST on the session started on this guard: the session is busy (not idle) until it
-- finishes, and this guard owns (and reaps) it from now on.
-- ARGV[4] now, [5] session id, [6] activity.
local now, id = ARGV[4], ARGV[5]
local sk = session_key(id)
local owner = redis.call('HGET', sk, 'guard')
if not owner then
  return 0
end
touch_lease()
take_ownership(id, owner)
redis.call('HINCRBY', guard_busy(GUARD), id, 1)
if redis.call('HINCRBY', sk, 'busy', 1) == 1 then
  redis.call('ZREM', guard_idle(GUARD), id)
end
if ARGV[6] == '1' then
  redis.call('HSET', sk, 'act', now)
end
return 1
