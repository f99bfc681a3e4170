-- The breach of (rule, fingerprint) is over: clear pending state and, if an alert is firing, resolve it.
-- Atomic, so among concurrent workers exactly one gets the alert id back (and notifies).
--
-- KEYS[1] state hash   KEYS[2] active hash   KEYS[3] tracked set   KEYS[4] notification outbox zset
-- ARGV[1] member "rule|fp"   ARGV[2] only this alert id ('' = whichever is active)
-- ARGV[3] outbox entry suffix ("|resolved", built by alerting/outbox.py entry(): appended to the alert id)
--
-- Returns the resolved alert id, or false when nothing was firing. The cooldown stays in the state
-- hash (until its TTL), so a breach that comes straight back waits out the cooldown.

local member = ARGV[1]
local active = redis.call('HGET', KEYS[2], member)
if ARGV[2] ~= '' and active ~= ARGV[2] then
  return false
end
redis.call('SREM', KEYS[3], member)
redis.call('HDEL', KEYS[1], 'pending_since', 'alert_id')
if active then
  redis.call('HDEL', KEYS[2], member)
  -- recorded with the resolution itself: a crash before the tasks are enqueued loses nothing
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[4], tonumber(t[1]) + tonumber(t[2]) / 1000000, active .. ARGV[3])
  return active
end
return false
