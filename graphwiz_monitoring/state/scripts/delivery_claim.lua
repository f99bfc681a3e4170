-- Claim one notification (alert × channel × kind) before sending it, so a redelivered or duplicated
-- task never sends twice. The claim is a lease held by one attempt (a token made per attempt, never
-- shared by a redelivery of the same task): while it runs (timed by the Redis clock) nobody else
-- sends, not even a redelivery of the same task, because its holder may only be stalled or cut off
-- from Redis with its request already sent. It frees when it runs out, when its holder settles it
-- (delivery_finish.lua), or when a claimant has seen its holder process gone (lease_holder.py) and
-- names that holder in ARGV[5]: the takeover then happens only if that holder still has the lease.
--
-- KEYS[1]  delivery record hash {state, token, holder, lease_until (ms), failures, reason,
--          fallback_logged, slot_at (ms), slot_gen}: slot_* is a rate-limit reservation
--          (token_bucket.lua); it is not part of the lease, so it outlives a released claim.
-- ARGV[1]  attempt token   ARGV[2]  lease (ms)   ARGV[3]  record TTL (s)
-- ARGV[4]  this attempt's holder identity   ARGV[5]  holder known gone ('' for none)
--
-- Returns {verdict, n, holder}:
--   {'claimed', failures so far, ''}   go ahead and send
--   {'done', 0, ''} / {'dead', 0, ''}  already sent / already dead-lettered: do nothing
--   {'busy', ms, holder}               another attempt holds a live lease for ms more

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'lease_until', 'failures', 'token', 'holder')
local state = h[1]
if state == 'done' or state == 'dead' then
  return {state, 0, ''}
end
local lease_until = tonumber(h[2]) or 0
local holder = h[5] or ''
if state == 'claimed' and lease_until > now and h[4] ~= ARGV[1]
    and not (ARGV[5] ~= '' and holder == ARGV[5]) then
  return {'busy', lease_until - now, holder}
end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[1], 'holder', ARGV[4],
           'lease_until', string.format('%.0f', now + tonumber(ARGV[2])))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'claimed', tonumber(h[3]) or 0, ''}
