-- Settle a claimed notification (see delivery_claim.lua).
--
-- KEYS[1]  delivery record hash
-- ARGV[1]  caller token   ARGV[2]  outcome   ARGV[3]  reason   ARGV[4]  record TTL (s)
--
-- outcome:
--   done      sent: never send again (kept for the TTL, longer than any redelivery can come)
--   dead      dead-lettered: never send again unless `dlq retry` deletes the record
--   failed    this attempt failed: failures + 1, lease released for the retry
--   released  not attempted (rate limit, open circuit): lease released, failures unchanged; a
--             reserved rate-limit slot (slot_at, token_bucket.lua) is kept for the task's return
--   fallback  mark that the alert was copied to the log channel (once per notification)
-- done/dead apply even if the lease was lost (the send happened / the decision is final);
-- failed/released only by the attempt holding the lease (its token). Returns the failure count, or -1 if the lease was lost.

local outcome = ARGV[2]
if outcome == 'fallback' then
  local first = redis.call('HSETNX', KEYS[1], 'fallback_logged', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return first
end
local h = redis.call('HMGET', KEYS[1], 'token', 'failures')
local failures = tonumber(h[2]) or 0
if outcome == 'done' or outcome == 'dead' then
  redis.call('HSET', KEYS[1], 'state', outcome, 'reason', ARGV[3])
  -- A slot still reserved is wasted: that 1/rate of the channel passes unused (see delivery.py).
  redis.call('HDEL', KEYS[1], 'token', 'holder', 'lease_until', 'slot_at', 'slot_gen')
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return failures
end
if h[1] ~= ARGV[1] then
  return -1
end
if outcome == 'failed' then
  failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
end
redis.call('HSET', KEYS[1], 'state', 'idle', 'reason', ARGV[3])
redis.call('HDEL', KEYS[1], 'token', 'holder', 'lease_until')
redis.call('EXPIRE', KEYS[1], ARGV[4])
return failures
