-- Admit one notification to its storm group (alerting/grouping.py), atomically and by the Redis clock.
--
-- KEYS[1] the group's window (hash: id = start ms, until = end ms, lead = its first alert; PX the interval)
-- KEYS[2] the group's held notifications (zset member -> window id)
-- KEYS[3] groups due for their grouped message (zset "<group>|<window id>" -> flush time, seconds)
-- KEYS[4] the notification outbox (zset)
-- ARGV[1] member "<alert id>|<kind>" (also its outbox entry)   ARGV[2] interval ms   ARGV[3] group key
-- ARGV[4] TTL seconds of the held set and the due set   ARGV[5] alert id
--
-- No open window: this notification opens one and is its lead (sent at once by the caller). Inside a
-- window: it is held for the window's grouped message and, in the same step, leaves the outbox: from
-- now on the due set owes it (a caller dying after this loses nothing). The lead's alert asking again
-- (the outbox sweep; its own next notification, e.g. a flap's resolved-2) is sent at once: one alert
-- is no storm. A member already held stays held once.
--
-- Returns {verdict ("lead" | "held"), window id, ms until the window ends, 1 when this call scheduled
-- the window's grouped message (its first held member), else 0}.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, interval = ARGV[1], tonumber(ARGV[2])
local id = redis.call('HGET', KEYS[1], 'id')
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if id and now < untl then
  if redis.call('HGET', KEYS[1], 'lead') == ARGV[5] then
    return {'lead', id, untl - now, 0}
  end
  redis.call('ZADD', KEYS[2], 'NX', tonumber(id), member)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
  redis.call('ZREM', KEYS[4], member)
  local scheduled = redis.call('ZADD', KEYS[3], 'NX', untl / 1000, ARGV[3] .. '|' .. id)
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))  -- bounded in time like its windows' alerts
  return {'held', id, untl - now, scheduled}
end
id = tostring(now)
redis.call('HSET', KEYS[1], 'id', id, 'until', now + interval, 'lead', ARGV[5])
redis.call('PEXPIRE', KEYS[1], interval)
return {'lead', id, interval, 0}
