-- Read the per-exchange and per-agent metric state in one call, as ONE JSON string
-- (called by graphwiz_monitoring/metrics/snapshot.py load_state).
--
-- Thousands of small replies cost far more to parse in redis-py than one JSON document: latency
-- samples are joined into one comma-separated string and the per-minute window is summed here.
--
-- KEYS: 1 trade_pnls, then per exchange (stats, latency, window), then per agent (stats, failures).
-- ARGV: 1 number of exchanges, 2 number of agents, 3 first minute of the rate window,
--       4 failures since (epoch seconds).
-- Returns {"pnls": "p1,p2,...", "ex": [[stats as flat list, "s1,s2,...", {o, f, e, c}], ...],
--          "ag": [[stats flat list, failures], ...]}

local nex, nag = tonumber(ARGV[1]), tonumber(ARGV[2])
local since = tonumber(ARGV[3])
local ex, ag = {}, {}
for i = 1, nex do
  local base = 1 + 3 * (i - 1)
  local stats = redis.call('HGETALL', KEYS[base + 1])
  local samples = table.concat(redis.call('LRANGE', KEYS[base + 2], 0, -1), ',')
  local window = redis.call('HGETALL', KEYS[base + 3])
  local sums = {o = 0, f = 0, e = 0, c = 0}
  for j = 1, #window, 2 do
    local field = window[j]
    local sep = string.find(field, ':', 1, true)
    if sep and tonumber(string.sub(field, 1, sep - 1)) >= since then
      local kind = string.sub(field, sep + 1)
      if sums[kind] then sums[kind] = sums[kind] + tonumber(window[j + 1]) end
    end
  end
  ex[i] = {stats, samples, sums}
end
local base = 1 + 3 * nex
for i = 1, nag do
  local stats = redis.call('HGETALL', KEYS[base + 2 * (i - 1) + 1])
  local failures = redis.call('ZCOUNT', KEYS[base + 2 * (i - 1) + 2], ARGV[4], '+inf')
  ag[i] = {stats, failures}
end
local pnls = table.concat(redis.call('LRANGE', KEYS[1], 0, -1), ',')
return cjson.encode({pnls = pnls, ex = ex, ag = ag})
