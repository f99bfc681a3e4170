-- Take the outbox entries due for a retry (recorded more than ARGV[1] seconds ago, Redis clock), at
-- most ARGV[2], and re-score them to now: a concurrent sweeper skips them, and an entry whose retry
-- fails again (or whose sweeper dies) comes back one grace period later instead of at every sweep.
--
-- KEYS[1] notification outbox zset
-- ARGV[1] grace seconds   ARGV[2] max entries
--
-- Returns the claimed entries ("<alert id>|<kind>"), oldest first.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', now, entry)
end
return due
