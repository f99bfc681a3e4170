-- Claim one notification (alert × channel × kind) before sending it, so a redelivered or duplicated
-- task never sends twice. The claim is a lease: if its holder dies, the next task may take it over
-- once the lease has run out (timed by the Redis clock). The token is the Celery task id: a task
-- redelivered after its worker died carries the same id and takes its own lease back at once.
--
-- KEYS[1]  delivery record hash {state, token, lease_until (ms), failures, reason, fallback_logged,
--          slot_at (ms), slot_gen}: slot_* is a rate-limit reservation (token_bucket.lua); it is not
--          part of the lease, so it outlives a released claim and the task's re-queue.
-- ARGV[1]  caller token   ARGV[2]  lease (ms)   ARGV[3]  record TTL (s)
--
-- Returns {verdict, n}:
--   {'claimed', failures so far}   go ahead and send
--   {'done', 0} / {'dead', 0}      already sent / already dead-lettered: do nothing
--   {'busy', ms}                   another task holds a live lease: look again after ms

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'lease_until', 'failures', 'token')
local state = h[1]
if state == 'done' or state == 'dead' then
  return {state, 0}
end
local lease_until = tonumber(h[2]) or 0
if state == 'claimed' and lease_until > now and h[4] ~= ARGV[1] then
  return {'busy', lease_until - now}
end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[1],
           'lease_until', string.format('%.0f', now + tonumber(ARGV[2])))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'claimed', tonumber(h[3]) or 0}
