-- A trader's control listener says "I am live" (health/commands.py: touch_trader), on the Redis clock so
-- that no host's clock decides who is live. It also notices a second live process using the same
-- identity: after its first touch, finding another process's token in the hash means someone else
-- wrote it since (a dead predecessor never writes again, so a restart is not a conflict).
-- KEYS[1] registry zset (identity -> Redis time)   KEYS[2] this identity's hash
-- ARGV[1] identity  ARGV[2] token (one per process)  ARGV[3] pid  ARGV[4] host  ARGV[5] "1" on the first touch
-- ARGV[6] TTL / registry trim age (seconds)
-- Returns {conflict (0|1), Redis time as a string}.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local previous = redis.call('HGET', KEYS[2], 'token')
local conflict = 0
if ARGV[5] ~= '1' and previous and previous ~= ARGV[2] then
  conflict = 1
  redis.call('HSET', KEYS[2], 'conflict_at', tostring(now),
             'conflict_pid', redis.call('HGET', KEYS[2], 'pid') or '',
             'conflict_host', redis.call('HGET', KEYS[2], 'host') or '')
end
redis.call('HSET', KEYS[2], 'token', ARGV[2], 'pid', ARGV[3], 'host', ARGV[4], 'seen', tostring(now))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[6]))
return {conflict, tostring(now)}
