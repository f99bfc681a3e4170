-- One breach observation for (rule, fingerprint): the pending -> firing decision, cooldown and alert
-- creation in one atomic step, timed by the Redis clock, so any number of workers create ONE alert.
--
-- KEYS[1] state hash (pending_since, alert_id, cooldown_until)   KEYS[2] active hash ("rule|fp" -> id)
-- KEYS[3] tracked set ("rule|fp")   KEYS[4] alert JSON key (the candidate id)   KEYS[5] history zset
-- KEYS[6] counts hash ("rule|severity" -> created)   KEYS[7] notification outbox zset
-- ARGV[1] for_seconds   ARGV[2] cooldown seconds   ARGV[3] candidate alert id   ARGV[4] alert JSON
-- ARGV[5] alert TTL (s)   ARGV[6] member "rule|fp"   ARGV[7] counts field   ARGV[8] state TTL (s)
-- ARGV[9] history retention (s)   ARGV[10] history max entries   ARGV[11] outbox entry "id|firing"
--
-- A created alert's firing notification is recorded in the outbox in the same step, so a process
-- dying before it enqueued the notification tasks loses nothing (alerting/outbox.py sweeps it).
--
-- Returns {outcome, id, now}: outcome created (id = previous alert it supersedes, or '') | pending |
-- firing (id = the active alert, still within its cooldown) | cooldown (resolved recently).
-- now is a string: Redis truncates Lua numbers to integers.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local for_seconds = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[2])
local member = ARGV[6]
local state_ttl = tonumber(ARGV[8])

local h = redis.call('HMGET', KEYS[1], 'pending_since', 'alert_id', 'cooldown_until')
local pending_since = tonumber(h[1])
local current = h[2]
local cooldown_until = tonumber(h[3]) or 0

redis.call('SADD', KEYS[3], member)
local active = redis.call('HGET', KEYS[2], member)
if current and active == current then
  if now < cooldown_until then
    redis.call('EXPIRE', KEYS[1], state_ttl)
    return {'firing', current, tostring(now)}
  end
  -- still breached after its cooldown: a new alert (superseding this one) repeats the notification
else
  if for_seconds > 0 then
    if not pending_since then
      redis.call('HSET', KEYS[1], 'pending_since', tostring(now))
      redis.call('EXPIRE', KEYS[1], state_ttl)
      return {'pending', '', tostring(now)}
    end
    if now - pending_since < for_seconds then
      return {'pending', '', tostring(now)}
    end
  end
  if now < cooldown_until then
    return {'cooldown', '', tostring(now)}
  end
end

redis.call('SET', KEYS[4], ARGV[4], 'EX', tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], member, ARGV[3])
redis.call('HSET', KEYS[1], 'alert_id', ARGV[3], 'cooldown_until', tostring(now + cooldown))
redis.call('EXPIRE', KEYS[1], state_ttl)
redis.call('ZADD', KEYS[5], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[9]))
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(tonumber(ARGV[10]) + 1))
redis.call('HINCRBY', KEYS[6], ARGV[7], 1)
redis.call('ZADD', KEYS[7], now, ARGV[11])
return {'created', active or '', tostring(now)}
