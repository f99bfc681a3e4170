-- The trader's status report (trader/reporter.py, StatusReporter.report_once; read by health/trader_report.py), stamped on arrival.
-- KEYS[1] the trader heartbeat hash. ARGV[1] its TTL (seconds); ARGV[2] the neo4j flag field and ARGV[3]
-- its value ('' removes it); ARGV[4..] field, value pairs.
-- received_at is the Redis time when the report arrived: freshness is Redis-now minus it, so neither the
-- trader's clock nor the reading worker's decides whether the trader is alive (issue 11, finding 2c).
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', KEYS[1], 'received_at', now, unpack(ARGV, 4))
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return now
