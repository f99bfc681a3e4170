-- Store one health result and hand back the one it replaces, atomically: when two workers judge the
-- same check at once, only one of them sees the old status, so a transition is announced once.
--
-- KEYS[1]  latest hash (check -> result JSON)    KEYS[2]  the check's history list
-- ARGV[1]  check name    ARGV[2]  result JSON    ARGV[3]  history length kept
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
return previous
