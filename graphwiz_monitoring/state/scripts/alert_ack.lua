-- Acknowledge the open alert of (rule, fingerprint): who, when, why and until when, on the Redis clock.
-- One atomic step writes the decision fields the lifecycle scripts read (state hash: ack_id, ack_until)
-- and the record readers show (the ack hash, expiring with the ack), so an ack is never half there.
--
-- KEYS[1] state hash   KEYS[2] active hash ("rule|fp" -> id)   KEYS[3] ack hash of the alert
-- KEYS[4] escalation zset ("rule|fp" -> next step due)
-- ARGV[1] member "rule|fp"   ARGV[2] alert id   ARGV[3] by   ARGV[4] comment ('' = none)
-- ARGV[5] for seconds (0 = until the episode resolves or its severity rises)   ARGV[6] ack hash TTL (s)
--
-- Returns {outcome, now, until}: acked | not_active (the id is not the member's open alert).
-- until is '' without expiry. Numbers as strings: Redis truncates Lua numbers.

local member, id = ARGV[1], ARGV[2]
if redis.call('HGET', KEYS[2], member) ~= id then
  return {'not_active', '', ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local for_seconds = tonumber(ARGV[5])
local ends = ''
if for_seconds > 0 then
  ends = tostring(now + for_seconds)
end
redis.call('HSET', KEYS[1], 'ack_id', id, 'ack_until', ends)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'by', ARGV[3], 'at', tostring(now), 'comment', ARGV[4], 'until', ends)
if for_seconds > 0 then
  redis.call('PEXPIREAT', KEYS[3], math.floor((now + for_seconds) * 1000))
  -- a step falling due while acknowledged waits for the ack's end (escalation.lua re-scores it anyway)
  local due = redis.call('ZSCORE', KEYS[4], member)
  if due and tonumber(due) < now + for_seconds then
    redis.call('ZADD', KEYS[4], now + for_seconds, member)
  end
else
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
end
return {'acked', tostring(now), ends}
