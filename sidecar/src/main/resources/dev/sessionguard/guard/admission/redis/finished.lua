-- A POST this guard started on the session finished. ARGV[4] now, [5] session id, [6] activity.
local now, id = ARGV[4], ARGV[5]
local gb = guard_busy(GUARD)
local mine = tonumber(redis.call('HGET', gb, id) or '0')
if mine == 0 then
  return 0
end
if mine == 1 then
  redis.call('HDEL', gb, id)
else
  redis.call('HINCRBY', gb, id, -1)
end
release_busy(id, 1, ARGV[6] == '1' and now or nil)
return 1
