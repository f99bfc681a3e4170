-- Store one silence (alerting/silences.py, add_silence) so that only its expiry removes it.
-- KEYS[1] {ns}:silence:{id}, KEYS[2] {ns}:silences:ends (id -> ends_at).
-- ARGV[1] id, ARGV[2] the Silence JSON, ARGV[3] ends_at (epoch seconds on the Redis clock), ARGV[4] the
-- most silences live at once. The key expires at ends_at by the Redis clock (PXAT), so no process's own
-- clock decides when a silence ends (issue 11, finding 2b). Returns 'ok', 'ended' (ends_at is already
-- past on the Redis clock) or 'full'.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ends = tonumber(ARGV[3])
if ends <= now then
  return 'ended'
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)  -- ids whose key has expired (bounded index)
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 'full'
end
local ends_ms = math.ceil(ends * 1000)
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ends_ms)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[2]) < ends_ms then  -- -1: no expiry yet
  redis.call('PEXPIREAT', KEYS[2], ends_ms)
end
return 'ok'
