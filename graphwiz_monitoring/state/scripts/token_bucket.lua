-- Cluster-wide rate limit of one notification channel: a token bucket, decided atomically and timed
-- by the Redis clock (one clock for every worker on every host).
--
-- KEYS[1]  bucket hash {tokens, ts (µs)}     KEYS[2]  hold key (set after a 429 with Retry-After)
-- ARGV[1]  refill rate, tokens per second    ARGV[2]  burst (bucket size, >= 1)
--
-- Returns 0 when a token was taken (send now), else the wait in ms before a token can be had.
-- While the hold key lives the channel is paused for everybody: its remaining PTTL is returned.
-- The bucket key expires once it would be full again, so an idle channel leaves nothing behind.

local hold = redis.call('PTTL', KEYS[2])
if hold > 0 then
  return hold
end

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(h[1]) or burst
local ts = tonumber(h[2]) or now
local elapsed = math.max(0, now - ts) / 1000000
tokens = math.min(burst, tokens + elapsed * rate)

if tokens < 1 then
  return math.max(1, math.ceil((1 - tokens) / rate * 1000))
end

tokens = tokens - 1
-- string.format: tostring() keeps only 14 significant digits, too few for µs timestamps.
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return 0
