-- Pause a notification channel for everybody after the API answered 429 with a Retry-After.
-- Only ever lengthens the pause: a shorter hint from a concurrent worker must not cut a longer one.
--
-- KEYS[1]  hold key     ARGV[1]  pause in ms
-- Returns the pause now in force, in ms.

local want = tonumber(ARGV[1])
local current = redis.call('PTTL', KEYS[1])
if current < want then
  redis.call('SET', KEYS[1], '1', 'PX', want)
  return want
end
return current
