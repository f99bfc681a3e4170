-- The condition of (rule, fingerprint) does not hold: clear its pending state, resolve its open alert
-- at once, and record the resolved notice once the condition stayed clear ``resolve_after`` seconds.
-- Atomic, so among concurrent workers exactly one resolves the alert and one records its notice.
--
-- KEYS[1] state hash   KEYS[2] active hash   KEYS[3] tracked set   KEYS[4] notification outbox zset
-- ARGV[1] member "rule|fp"   ARGV[2] only this alert id ('' = whichever is active)
-- ARGV[3] outbox entry separator ("|": the entry is "<id>|<kind>", alerting/outbox.py entry())
-- ARGV[4] resolve_after seconds   ARGV[5] '1': notice now (an explicit resolve), else '0'
--
-- Returns {outcome, id, kind}: resolved (the alert just left the active hash) | noticed (its resolved
-- notice was recorded in the outbox now) | resolved_noticed (both) | waiting (resolved, notice not due
-- yet) | none. kind: the notice's wire kind, "resolved" for an episode's first, "resolved-<n>" for the
-- n-th (an episode re-opened after its notice went out ends with a notice of its own). The alert id stays in the state hash (until its TTL): a breach back within the cooldown, or
-- before the notice went out, re-opens the same alert (alert_fire.lua).

local member = ARGV[1]
local active = redis.call('HGET', KEYS[2], member)
if ARGV[2] ~= '' and active ~= ARGV[2] then
  return {'none', '', ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'alert_id', 'cleared_at', 'noticed')
redis.call('HDEL', KEYS[1], 'pending_since')
local resolve_after = tonumber(ARGV[4])
local force = ARGV[5] == '1'

local function notice(id)
  local n = redis.call('HINCRBY', KEYS[1], 'notices', 1)
  local kind = 'resolved'
  if n > 1 then
    kind = 'resolved-' .. n
  end
  redis.call('HSET', KEYS[1], 'noticed', '1')
  redis.call('SREM', KEYS[3], member)
  -- recorded with the resolution itself: a crash before the tasks are enqueued loses nothing
  redis.call('ZADD', KEYS[4], now, id .. ARGV[3] .. kind)
  return kind
end

if active then
  redis.call('HDEL', KEYS[2], member)
  redis.call('HSET', KEYS[1], 'alert_id', active, 'cleared_at', tostring(now))
  if resolve_after <= 0 or force then
    return {'resolved_noticed', active, notice(active)}
  end
  redis.call('HSET', KEYS[1], 'noticed', '0')
  return {'resolved', active, ''}
end

local cleared_at = tonumber(h[2])
if h[1] and cleared_at and h[3] ~= '1' then
  if force or now - cleared_at >= resolve_after then
    return {'noticed', h[1], notice(h[1])}
  end
  return {'waiting', h[1], ''}
end
redis.call('SREM', KEYS[3], member)
return {'none', '', ''}
