-- Pause a notification channel for everybody after the API answered 429 with a Retry-After.
-- Only ever lengthens the pause: a shorter hint from a concurrent worker must not cut a longer one.
--
-- KEYS[1]  hold key     KEYS[2]  the channel's token bucket (token_bucket.lua)
-- ARGV[1]  pause in ms
-- Returns the pause now in force, in ms.
--
-- Setting the pause also deletes the bucket. Slots reserved before the 429 were promised against a
-- pace the server has just refused, and many of them fall inside the pause: honoured as they are,
-- their tasks would all send at the pause's end. Shifting each one by the pause would mean finding
-- and rewriting every waiting delivery record. Instead the bucket starts a new generation after the
-- pause, which voids every older reservation: whenever such a task comes back (told to wait for the
-- pause, or at its old slot) it takes a token or reserves a fresh slot, one after another again.
-- While the pause lasts token_bucket.lua reserves nothing, so no slot can be promised inside it.

local want = tonumber(ARGV[1])
local current = redis.call('PTTL', KEYS[1])
if current < want then
  redis.call('SET', KEYS[1], '1', 'PX', want)
  redis.call('DEL', KEYS[2])
  return want
end
return current
