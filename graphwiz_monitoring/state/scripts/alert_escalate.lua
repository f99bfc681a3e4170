-- Reach the next escalation step of (rule, fingerprint)'s open episode if it is due now on the Redis clock,
-- and record its notification "id|escalated-<n>" in the outbox in the same step: among any number of
-- workers running this at once, each step is claimed exactly once (alerting/escalation.py).
--
-- KEYS[1] state hash (alert_id, esc_delays, esc_start, esc_next, esc_due, ack_id, ack_until)
-- KEYS[2] active hash ("rule|fp" -> id)   KEYS[3] escalation zset   KEYS[4] notification outbox zset
-- ARGV[1] member "rule|fp"   ARGV[2] outbox entry separator ("|")
--
-- An acknowledged episode does not escalate: the member waits in the zset until the ack's end (+inf
-- without expiry; alert_unack.lua and a severity rise in alert_fire.lua put it back at esc_due). An
-- episode no longer active (resolved, stale, replaced) escalates no further.
--
-- Returns {outcome, id, n}: escalated (step n reached now) | acknowledged | ended | none (nothing due).

local member = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local score = redis.call('ZSCORE', KEYS[3], member)
if not score or tonumber(score) > now then
  return {'none', '', 0}
end
local h = redis.call('HMGET', KEYS[1], 'alert_id', 'esc_delays', 'esc_start', 'esc_next', 'ack_id', 'ack_until')
local id, step, start = h[1], tonumber(h[4]), tonumber(h[3])
if not id or not step or not start or redis.call('HGET', KEYS[2], member) ~= id then
  redis.call('ZREM', KEYS[3], member)
  redis.call('HDEL', KEYS[1], 'esc_delays', 'esc_start', 'esc_next', 'esc_due')
  return {'ended', id or '', 0}
end
local ack_until = tonumber(h[6])
if h[5] == id and (ack_until == nil or now < ack_until) then
  redis.call('ZADD', KEYS[3], ack_until or '+inf', member)
  return {'acknowledged', id, 0}
end
local delays = {}
for d in string.gmatch(h[2], '[^,]+') do
  delays[#delays + 1] = tonumber(d)
end
redis.call('ZADD', KEYS[4], now, id .. ARGV[2] .. 'escalated-' .. step)
if step < #delays then
  local due = start + delays[step + 1]
  redis.call('HSET', KEYS[1], 'esc_next', step + 1, 'esc_due', tostring(due))
  redis.call('ZADD', KEYS[3], due, member)
else
  redis.call('HDEL', KEYS[1], 'esc_next', 'esc_due')
  redis.call('ZREM', KEYS[3], member)
end
return {'escalated', id, step}
