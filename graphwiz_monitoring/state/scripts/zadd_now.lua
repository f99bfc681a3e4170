-- Add ARGV's members to the sorted set KEYS[1] scored by the Redis clock (seconds), like every outbox
-- score: the sweep compares them with TIME, so no host's clock skew matters (alerting/outbox.py).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
end
return #ARGV
