-- Which of ARGV[4..] are live sessions: a list of 1 / 0.
local out = {}
for i = 4, #ARGV do
  out[#out + 1] = redis.call('EXISTS', session_key(ARGV[i]))
end
return out
