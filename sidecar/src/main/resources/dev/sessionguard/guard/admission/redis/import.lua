-- Records a session admitted locally while Redis was unreachable (failureMode Open). It is live
-- upstream, so it is recorded even over a cap. ARGV[4] now, [5] id, [6] client, [7] created.
-- Returns 1 if recorded, 0 if the id was live already.
local now, id, client, created = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
touch_lease()
if redis.call('EXISTS', session_key(id)) == 1 then
  return 0
end
add_session(id, client, created, now)
return 1
