-- A breach of (rule, fingerprint) is muted by a silence or inhibition: count the notifications it would
-- have sent as "suppressed", at most once per cooldown, whatever the number of workers.
--
-- KEYS[1] state hash   KEYS[2] notification counts hash ("channel|outcome")
-- ARGV[1] cooldown seconds   ARGV[2] state TTL (s)   ARGV[3..] counts fields to increment
--
-- Returns 1 when counted now, 0 when already counted within the cooldown.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local suppressed_until = tonumber(redis.call('HGET', KEYS[1], 'suppressed_until')) or 0
if now < suppressed_until then
  return 0
end
redis.call('HSET', KEYS[1], 'suppressed_until', tostring(now + tonumber(ARGV[1])))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
for i = 3, #ARGV do
  redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
end
return 1
