-- One breach observation for (rule, fingerprint): the episode's pending -> firing decision, its repeat
-- schedule and the flap guard in one atomic step, timed by the Redis clock, so any number of workers
-- open ONE alert per episode and send each repeat once (docs/ALERTS.md).
--
-- KEYS[1] state hash (pending_since, alert_id, cleared_at, next_repeat_at, repeats, noticed, notices)
-- KEYS[2] active hash ("rule|fp" -> id)   KEYS[3] tracked set ("rule|fp")
-- KEYS[4] alert JSON key (the candidate id)   KEYS[5] history zset
-- KEYS[6] counts hash ("rule|severity" -> created)   KEYS[7] notification outbox zset
-- KEYS[8] escalation zset ("rule|fp" -> Redis time its next step is due, alert_escalate.lua)
-- ARGV[1] for_seconds   ARGV[2] cooldown seconds (repeat interval and flap window)   ARGV[3] candidate id
-- ARGV[4] alert JSON   ARGV[5] alert TTL (s)   ARGV[6] member "rule|fp"   ARGV[7] counts field
-- ARGV[8] state TTL (s)   ARGV[9] history retention (s)   ARGV[10] history max entries
-- ARGV[11] outbox entry of the candidate's first notification "id|firing"
-- ARGV[12] severity rank observed now (0 info .. 3 emergency)
-- ARGV[13] escalation: every step's after_seconds, comma-separated ('' = no escalation)
-- ARGV[14] escalation: the first step still to come (1-based; the steps before went with the first notice)
--
-- The episode's alert id stays in the state hash after a resolution: a breach back within the cooldown
-- (or before the resolved notice went out, alert_resolve.lua) re-opens that same alert, unannounced.
-- Every notification (first, repeat-<n>) is recorded in the outbox in the same step, so a process dying
-- before it enqueued the notification tasks loses nothing (alerting/outbox.py sweeps it).
--
-- An acknowledged episode (ack_id = its alert, ack_until unset or still ahead, alert_ack.lua) sends no
-- repeat; a severity above the highest the episode reached (state field sev) breaks the ack and sends a
-- repeat at once (then rise = 1: the caller updates the record's severity and drops the ack hash).
--
-- Returns {outcome, id, now, n, rise}: created (id = the candidate) | pending | firing (id = the open
-- alert, no repeat due) | acknowledged (a repeat was due, an ack holds it back) | repeat (n = the repeat's
-- sequence number, its outbox entry "id|repeat-<n>" recorded) | reopened (id = the episode's alert, active
-- again). now is a string: Redis truncates Lua numbers.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local for_seconds = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[2])
local member = ARGV[6]
local state_ttl = tonumber(ARGV[8])

local rank = tonumber(ARGV[12]) or 0
local h = redis.call('HMGET', KEYS[1], 'pending_since', 'alert_id', 'cleared_at', 'next_repeat_at', 'repeats',
                     'noticed', 'ack_id', 'ack_until', 'sev', 'esc_due')
local pending_since = tonumber(h[1])
local current = h[2]
local cleared_at = tonumber(h[3])
local next_repeat_at = tonumber(h[4]) or 0
local repeats = tonumber(h[5]) or 0

redis.call('SADD', KEYS[3], member)
redis.call('EXPIRE', KEYS[1], state_ttl)
local active = redis.call('HGET', KEYS[2], member)
if current and active == current then
  local sev = tonumber(h[9])
  local rise = 0
  if sev == nil or rank > sev then
    redis.call('HSET', KEYS[1], 'sev', rank)
    if sev ~= nil then
      rise = 1
      next_repeat_at = 0  -- tell at once that it got worse
      redis.call('HDEL', KEYS[1], 'ack_id', 'ack_until')
      if h[10] then  -- a step parked behind the ack is due again when its time came
        redis.call('ZADD', KEYS[8], tonumber(h[10]), member)
      end
    end
  end
  if now >= next_repeat_at then
    local ack_until = tonumber(h[8])
    if rise == 0 and h[7] == current and (ack_until == nil or now < ack_until) then
      return {'acknowledged', current, tostring(now), 0, 0}
    end
    repeats = repeats + 1
    redis.call('HSET', KEYS[1], 'repeats', repeats, 'next_repeat_at', tostring(now + cooldown))
    redis.call('ZADD', KEYS[7], now, current .. '|repeat-' .. repeats)
    return {'repeat', current, tostring(now), repeats, rise}
  end
  return {'firing', current, tostring(now), 0, 0}
end

if current and not active and cleared_at and (now < cleared_at + cooldown or h[6] ~= '1') then
  -- flap guard: the same episode goes on, visible at once, not notified as new
  redis.call('HSET', KEYS[2], member, current)
  redis.call('HDEL', KEYS[1], 'cleared_at', 'pending_since')
  redis.call('HSET', KEYS[1], 'noticed', '0')
  return {'reopened', current, tostring(now), repeats, 0}
end

if for_seconds > 0 then
  if not pending_since then
    redis.call('HSET', KEYS[1], 'pending_since', tostring(now))
    return {'pending', '', tostring(now), 0, 0}
  end
  if now - pending_since < for_seconds then
    return {'pending', '', tostring(now), 0, 0}
  end
end

redis.call('SET', KEYS[4], ARGV[4], 'EX', tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], member, ARGV[3])
redis.call('HDEL', KEYS[1], 'cleared_at', 'pending_since', 'noticed', 'notices', 'ack_id', 'ack_until',
           'esc_delays', 'esc_start', 'esc_next', 'esc_due')
redis.call('HSET', KEYS[1], 'alert_id', ARGV[3], 'next_repeat_at', tostring(now + cooldown), 'repeats', 0,
           'sev', rank)
local delays = {}
for d in string.gmatch(ARGV[13], '[^,]+') do
  delays[#delays + 1] = tonumber(d)
end
local first = tonumber(ARGV[14]) or 1
if first <= #delays then
  local due = now + delays[first]
  redis.call('HSET', KEYS[1], 'esc_delays', ARGV[13], 'esc_start', tostring(now), 'esc_next', first,
             'esc_due', tostring(due))
  redis.call('ZADD', KEYS[8], due, member)
else
  redis.call('ZREM', KEYS[8], member)
end
redis.call('ZADD', KEYS[5], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[9]))
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(tonumber(ARGV[10]) + 1))
redis.call('HINCRBY', KEYS[6], ARGV[7], 1)
redis.call('ZADD', KEYS[7], now, ARGV[11])
return {'created', ARGV[3], tostring(now), 0, 0}
