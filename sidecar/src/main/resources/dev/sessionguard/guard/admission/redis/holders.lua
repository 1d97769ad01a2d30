-- Clients with the sessions they hold (reservations not counted): a flat list client, count.
local out = {}
for _, client in ipairs(redis.call('SMEMBERS', K_CLIENTS)) do
  local n = 0
  for _, m in ipairs(redis.call('SMEMBERS', client_key(client))) do
    if string.sub(m, 1, 2) == 's:' then
      n = n + 1
    end
  end
  if n > 0 then
    out[#out + 1] = client
    out[#out + 1] = tostring(n)
  end
end
return out
