-- Claim one window's grouped message once its window has ended (alerting/grouping.py), by the Redis clock.
--
-- KEYS[1] the group's held notifications (zset member -> window id)
-- KEYS[2] the window's grouped message (list of "<alert id>|<kind>"; written once, TTL ARGV[4])
-- KEYS[3] groups due (zset "<group>|<window id>" -> flush time, seconds)
-- ARGV[1] window id   ARGV[2] due member   ARGV[3] lease seconds   ARGV[4] TTL seconds of the message
--
-- The first claim moves the window's held members into the message; every claim (a redelivered task,
-- the sweep after a claimant died) leases the due entry for ARGV[3] seconds and returns the same
-- members, so handing them over twice sends once (delivery is idempotent per message and destination).
--
-- Returns {"done"} (nothing owed), {"wait", ms} (window still open), or {"claimed", member...}.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZSCORE', KEYS[3], ARGV[2])
if not due then
  return {'done'}
end
if tonumber(due) > now then
  return {'wait', math.ceil((tonumber(due) - now) * 1000)}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local id = tonumber(ARGV[1])
  local members = redis.call('ZRANGEBYSCORE', KEYS[1], id, id)
  if #members > 0 then
    redis.call('RPUSH', KEYS[2], unpack(members))
    redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], id, id)
end
redis.call('ZADD', KEYS[3], 'XX', now + tonumber(ARGV[3]), ARGV[2])
local out = {'claimed'}
for _, m in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  out[#out + 1] = m
end
return out
