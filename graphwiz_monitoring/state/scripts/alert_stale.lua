-- The data of (rule, fingerprint) stopped coming (its trader went silent, docs/ALERTS.md): its open episode
-- ends as ``stale``, with one "stale" notice recorded in the outbox, and its lifecycle state goes, so
-- fresh data breaching again opens a new episode (no flap guard across a stale end). Atomic: among
-- concurrent workers exactly one ends the episode and records its notice.
--
-- KEYS[1] state hash   KEYS[2] active hash   KEYS[3] tracked set   KEYS[4] notification outbox zset
-- ARGV[1] member "rule|fp"   ARGV[2] outbox entry separator ("|": the entry is "<id>|stale")
--
-- Returns {outcome, id}: stale (the open alert ended now, its notice recorded) | none (nothing open: a
-- pending or already-resolved episode is forgotten, unannounced).

local member = ARGV[1]
local active = redis.call('HGET', KEYS[2], member)
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], member)
if not active then
  return {'none', ''}
end
redis.call('HDEL', KEYS[2], member)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[4], now, active .. ARGV[2] .. 'stale')
return {'stale', active}
