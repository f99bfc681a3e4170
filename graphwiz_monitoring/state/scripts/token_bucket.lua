-- Cluster-wide rate limit of one notification channel, with reservations: a token bucket whose
-- tokens may go negative. A caller that finds no token does not poll for one: it reserves the next
-- free slot (one token's worth of future refill) and comes back when its slot is due, so a backlog
-- of N notifications costs about 2N task runs instead of every waiter waking for every token.
-- Decided atomically and timed by the Redis clock (one clock for every worker on every host).
--
-- KEYS[1]  bucket hash {tokens, ts (µs), gen}
-- KEYS[2]  hold key (set after a 429 with Retry-After, see notify_hold.lua)
-- KEYS[3]  the caller's delivery record (delivery_claim.lua): the reservation lives there as
--          {slot_at (ms), slot_gen}, so it survives the task's re-queue
-- ARGV[1]  refill rate, tokens per second    ARGV[2]  burst (bucket size, >= 1)
-- ARGV[3]  horizon (ms): no slot is reserved further ahead than this
--
-- Returns {verdict, ms}:
--   {'held', ms}      the channel is paused by a 429 for ms more: nothing taken, nothing reserved
--   {'go', 0}         a token was taken: send now
--   {'slot', 0}       the caller's reserved slot is due (or past: a late caller keeps its turn):
--                     send now, no token taken (the reservation already took it)
--   {'early', ms}     the caller's slot is ms ahead: wait, keeping it (never a second slot)
--   {'reserved', ms}  no token now: the next free slot, ms ahead, is now the caller's
--   {'full', ms}      every slot within the horizon is taken: look again after ms, nothing reserved
--
-- `gen` names one life of the bucket (its creation time). A reservation counts only in the
-- generation that made it: a 429 deletes the bucket (notify_hold.lua), and an idle bucket expires,
-- so a slot promised before either is void and its caller takes a token or a new slot instead.
-- The bucket expires LATE_GRACE_MS after it would be full again (after its last slot), so a caller
-- that comes back late for its slot (a busy worker) still finds its generation.

local LATE_GRACE_MS = 120000

local hold = redis.call('PTTL', KEYS[2])
if hold > 0 then
  return {'held', hold}
end

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)

local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'gen')
-- string.format: tostring() keeps only 14 significant digits, too few for µs timestamps.
local gen = b[3] or string.format('%.0f', now)

local r = redis.call('HMGET', KEYS[3], 'slot_at', 'slot_gen')
if r[1] then
  if r[2] == gen then
    local slot_at = tonumber(r[1])
    if slot_at > now_ms then
      return {'early', slot_at - now_ms}
    end
    redis.call('HDEL', KEYS[3], 'slot_at', 'slot_gen')
    return {'slot', 0}
  end
  redis.call('HDEL', KEYS[3], 'slot_at', 'slot_gen')  -- void (see above): treated as no reservation
end

local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) / 1000000 * rate)

local verdict, wait = 'go', 0
if tokens < 1 then
  -- The slot is when the bucket, counting every reservation already made, next holds a token.
  wait = math.max(1, math.ceil((1 - tokens) / rate * 1000))
  if wait > horizon then
    -- Come back when half the horizon has drained: one extra run per half horizon, not a herd.
    return {'full', math.ceil(wait - horizon / 2)}
  end
  verdict = 'reserved'
  redis.call('HSET', KEYS[3], 'slot_at', string.format('%.0f', now_ms + wait), 'slot_gen', gen)
end

tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.0f', now), 'gen', gen)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + LATE_GRACE_MS)
return {verdict, wait}
