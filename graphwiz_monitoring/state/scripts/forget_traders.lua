-- Forget the traders silent since ARGV[1] (called by graphwiz_monitoring/metrics/retention.py
-- forget_silent_traders): their share leaves the summed portfolio, their keys go, their identity
-- leaves the traders set (so a renamed or re-hosted trader does not stay in the total forever).
-- A trader's last report is the newest of its portfolio time, its heartbeat and its last ingested trade.
--
-- KEYS: 1 traders(set)  2 portfolio_latest, then 4 keys per name in ARGV[2..] (portfolio, agg, heartbeat,
--       exchanges). ARGV[1]: cutoff (Unix time); ARGV[2..]: the names to look at.
-- Returns the forgotten names.

local cutoff = tonumber(ARGV[1])
local forgotten = {}

local function fmt(x)
  return string.format('%.17g', x)
end

for i = 2, #ARGV do
  local name = ARGV[i]
  local base = 2 + 4 * (i - 2)
  local p_key, a_key, h_key, x_key = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]
  local p = redis.call('HMGET', p_key, 'timestamp', 'value', 'cash', 'positions_value', 'exposure', 'position_count')
  local last = math.max(tonumber(p[1]) or 0, tonumber(redis.call('HGET', h_key, 'last_seen') or '0'),
    tonumber(redis.call('HGET', a_key, 'last_at') or '0'))
  if redis.call('SISMEMBER', KEYS[1], name) == 1 and last < cutoff then
    if p[1] and redis.call('HGET', KEYS[2], 'summed') then
      redis.call('HINCRBYFLOAT', KEYS[2], 'value', fmt(-(tonumber(p[2]) or 0)))
      redis.call('HINCRBYFLOAT', KEYS[2], 'positions_value', fmt(-(tonumber(p[4]) or 0)))
      redis.call('HINCRBYFLOAT', KEYS[2], 'exposure', fmt(-(tonumber(p[5]) or 0)))
      redis.call('HINCRBY', KEYS[2], 'position_count', 0 - (tonumber(p[6]) or 0))
      if p[3] then
        local cash_sum = tonumber(redis.call('HINCRBYFLOAT', KEYS[2], 'cash_sum', fmt(-tonumber(p[3]))))
        local cash_n = redis.call('HINCRBY', KEYS[2], 'cash_n', -1)
        if cash_n > 0 then redis.call('HSET', KEYS[2], 'cash', fmt(cash_sum)) else redis.call('HDEL', KEYS[2], 'cash') end
      end
    end
    redis.call('DEL', p_key, a_key, h_key, x_key)
    redis.call('SREM', KEYS[1], name)
    forgotten[#forgotten + 1] = name
  end
end
if #forgotten == 0 then return '[]' end
return cjson.encode(forgotten)
