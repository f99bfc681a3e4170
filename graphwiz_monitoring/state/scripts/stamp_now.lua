-- Set the hash fields ARGV[1..] of KEYS[1] to the Redis clock (seconds): liveness stamps that every
-- reader compares with TIME, so no host's clock skew matters (state/stamps.py). Returns the time set.
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1000000)
for i = 1, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], now)
end
return now
