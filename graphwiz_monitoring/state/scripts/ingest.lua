-- Ingest one batch of validated records atomically (called by graphwiz_monitoring/metrics/ingest.py).
--
-- Idempotent: a batch id seen before changes nothing; a trade id seen before is not counted again.
-- Aggregates are kept in Lua locals and written once per batch, so the per-trade cost is one ZADD NX
-- (trade id), one XADD (raw history) and arithmetic.
--
-- KEYS: 1 batches_seen  2 trade_ids  3 trades(stream)  4 trading_agg  5 pnl_daily  6 trade_pnls
--       7 exchanges(set)  8 agents(set)  9 portfolio_latest  10 portfolio_snapshots  11 ingest_stats
--       12 trader_heartbeat  13 traders(set)  14 trader_portfolio  15 trader_agg  16 trader_heartbeat_of
--       17 trader_exchanges (the last four of header.trader), then 3 keys per exchange in header.exchanges order (stats,
--       latency, window), then 3 keys per agent in header.agents order (stats, predictions, failures).
-- Per trader (header.trader, admitted up to header.max_traders): its latest portfolio, its heartbeat, its
-- exchanges' status and its trade aggregates, written once per batch; portfolio:latest holds the SUM of the traders' latest
-- portfolios, kept by adding each change (O(1) per portfolio record, whatever the number of traders).
-- ARGV[1]: header JSON; ARGV[2]: trades, binary (codec.pack_trade); ARGV[3]: JSON list of the other
-- records in compact form (ingest.py _compact).
-- Returns a JSON summary; rejected entries are {'t', trade seq, reason} or {'r', record index, reason}.

local h = cjson.decode(ARGV[1])
local null = cjson.null
local now = h.now

-- The batch id is recorded at the end: should anything below fail, a retry is not mistaken for a duplicate.
if redis.call('ZSCORE', KEYS[1], h.batch_id) then
  return cjson.encode({duplicate = true})
end

local recs = cjson.decode(ARGV[3])
local nex = #h.exchanges
local EX = 17  -- KEYS before the per-exchange ones
local agent_base = EX + 3 * nex
local rejected = {}
local accepted = {}

local function count(kind)
  accepted[kind] = (accepted[kind] or 0) + 1
end

local function fmt(x)
  return string.format('%.17g', x)
end

local function bucket(value, bounds)
  for i = 1, #bounds do
    if value <= bounds[i] then return i - 1 end
  end
  return #bounds
end

-- Cardinality bounds: a new exchange/agent beyond the limit is refused (its records rejected).
local function admit(set_key, names, limit)
  local ok = {}
  for i = 1, #names do
    if redis.call('SISMEMBER', set_key, names[i]) == 1 then
      ok[i] = true
    elseif redis.call('SCARD', set_key) < limit then
      redis.call('SADD', set_key, names[i])
      ok[i] = true
    end
  end
  return ok
end
local ex_ok = admit(KEYS[7], h.exchanges, h.max_exchanges)
local ag_ok = admit(KEYS[8], h.agents, h.max_agents)
local tr_ok = admit(KEYS[13], {h.trader}, h.max_traders)[1]

-- Running trading state.
local agg = redis.call('HMGET', KEYS[4], 'pnl_total', 'pnl_peak', 'max_drawdown', 'pv_peak', 'pv_max_drawdown')
local cum = tonumber(agg[1]) or 0
local peak = tonumber(agg[2]) or 0
local maxdd = tonumber(agg[3]) or 0
local pv_peak = tonumber(agg[4])
local pv_maxdd = tonumber(agg[5]) or 0
local capital = h.capital
if capital == null or capital == false then capital = nil end

local t_new, t_dup, t_ok, t_fail, pnl_n, wins, losses = 0, 0, 0, 0, 0, 0, 0
local pnl_sum, volume = 0, 0
local daily = {}
local pnls = {}
local exec_counts, exec_sum, exec_n = {}, 0, 0
local ex_hincr = {}   -- e -> field -> increment
local ex_wincr = {}   -- e -> window field -> increment
local lat_samples = {} -- e -> list

local function ex_add(e, field, n)
  local t = ex_hincr[e]
  if not t then t = {}; ex_hincr[e] = t end
  t[field] = (t[field] or 0) + n
end

-- Per-minute window fields ("<minute>:<o|f|e|c>"); trades of a batch mostly share a minute, so the
-- field names are built once per minute, not per trade.
local cur_min, f_o, f_f, f_e, f_c = nil, nil, nil, nil, nil
local function minute(ts)
  local m = math.floor(ts / 60)
  if m ~= cur_min then
    cur_min = m
    local p = string.format('%d:', m)
    f_o, f_f, f_e, f_c = p .. 'o', p .. 'f', p .. 'e', p .. 'c'
  end
end

local function win_add(e, field, n)
  local t = ex_wincr[e]
  if not t then t = {}; ex_wincr[e] = t end
  t[field] = (t[field] or 0) + n
end

-- Trades: binary records (codec.pack_trade), unpacked into parallel arrays first so that the trade
-- ids can be checked and added in bulk (ZMSCORE / ZADD of up to 500 ids) instead of one call each.
local blob = ARGV[2]
local pos, blob_len = 1, #blob
local sfield = h.stream_field
local n = 0
local t_seq, t_ex, t_flags, t_ts, t_pnl, t_notional, t_et, t_id, t_line = {}, {}, {}, {}, {}, {}, {}, {}, {}
while pos <= blob_len do
  n = n + 1
  t_seq[n], t_ex[n], t_flags[n], t_ts[n], t_pnl[n], t_notional[n], t_et[n], t_id[n], t_line[n], pos =
    struct.unpack('<I4HBddddHc0Hc0', blob, pos)
end
local known = {}
for s = 1, n, 500 do
  local last = math.min(s + 499, n)
  local scores = redis.call('ZMSCORE', KEYS[2], unpack(t_id, s, last))
  for k = s, last do known[k] = scores[k - s + 1] end
end
local seen, id_args = {}, {}
for k = 1, n do
  local e, tid = t_ex[k], t_id[k]
  if e > 0 and not ex_ok[e] then
    rejected[#rejected + 1] = {'t', t_seq[k], 'too many exchanges (retention.max_exchanges)'}
  elseif known[k] or seen[tid] then
    t_dup = t_dup + 1
  else
    seen[tid] = true
    id_args[#id_args + 1] = now
    id_args[#id_args + 1] = tid
    t_new = t_new + 1
    redis.call('XADD', KEYS[3], '*', sfield, t_line[k])
    local flags, ts, pnl, notional, et = t_flags[k], t_ts[k], t_pnl[k], t_notional[k], t_et[k]
    local success = flags % 2 == 1
    if success then t_ok = t_ok + 1 else t_fail = t_fail + 1 end
    volume = volume + notional
    if math.floor(flags / 2) % 2 == 1 then
      pnl_n = pnl_n + 1
      pnl_sum = pnl_sum + pnl
      if pnl > 0 then wins = wins + 1 elseif pnl < 0 then losses = losses + 1 end
      local day = math.floor(ts / 86400)
      daily[day] = (daily[day] or 0) + pnl
      pnls[#pnls + 1] = pnl
      cum = cum + pnl
      if cum > peak then peak = cum end
      if capital and capital + peak > 0 then
        local dd = (peak - cum) / (capital + peak)
        if dd > maxdd then maxdd = dd end
      end
    end
    if flags >= 4 then
      local b = bucket(et, h.buckets)
      exec_counts[b] = (exec_counts[b] or 0) + 1
      exec_sum = exec_sum + et
      exec_n = exec_n + 1
    end
    if e > 0 then
      ex_add(e, 'orders', 1)
      minute(ts)
      win_add(e, f_o, 1)
      if success then
        ex_add(e, 'fills', 1)
        win_add(e, f_f, 1)
      else
        ex_add(e, 'failed_orders', 1)
        win_add(e, f_e, 1)
      end
    end
  end
end

for _, r in ipairs(recs) do
  local kind = r[1]
  if kind == 'l' then
    local e, seconds, err, ts = r[3], r[4], r[5], r[6]
    if not ex_ok[e] then
      rejected[#rejected + 1] = {'r', r[2], 'too many exchanges (retention.max_exchanges)'}
    else
      count('latency')
      local list = lat_samples[e]
      if not list then list = {}; lat_samples[e] = list end
      list[#list + 1] = seconds
      ex_add(e, 'lat_b' .. bucket(seconds, h.buckets), 1)
      ex_add(e, 'lat_sum', seconds)
      ex_add(e, 'lat_count', 1)
      ex_add(e, 'calls', 1)
      minute(ts)
      win_add(e, f_c, 1)
      if err == 1 then
        ex_add(e, 'call_errors', 1)
        win_add(e, f_e, 1)
      end
    end
  elseif kind == 's' then
    local e, connected, limit, ts = r[3], r[4], r[5], r[6]
    if not ex_ok[e] then
      rejected[#rejected + 1] = {'r', r[2], 'too many exchanges (retention.max_exchanges)'}
    else
      count('exchange_status')
      if tr_ok then  -- this trader's view of the exchange, beside the newest report of any trader
        local name = h.exchanges[e]
        if ts >= tonumber(redis.call('HGET', KEYS[17], name .. ':ts') or '0') then
          redis.call('HSET', KEYS[17], name, connected, name .. ':ts', fmt(ts))
        end
      end
      local stats = KEYS[EX + 3 * (e - 1) + 1]
      local last = tonumber(redis.call('HGET', stats, 'status_ts') or '0')
      if ts >= last then  -- batches may arrive out of order: keep the newest status
        redis.call('HSET', stats, 'connected', connected, 'status_ts', fmt(ts))
        if limit ~= false then redis.call('HSET', stats, 'rate_limit_remaining', fmt(limit)) end
      end
    end
  elseif kind == 'p' then
    local a, d, scored, correct, failed = r[3], r[4], r[5], r[6], r[7]
    if not ag_ok[a] then
      rejected[#rejected + 1] = {'r', r[2], 'too many agents (retention.max_agents)'}
    else
      count('prediction')
      local base = agent_base + 3 * (a - 1)
      redis.call('HINCRBY', KEYS[base + 1], 'predictions', 1)
      if scored == 1 then redis.call('HINCRBY', KEYS[base + 1], 'scored', 1) end
      if correct == 1 then redis.call('HINCRBY', KEYS[base + 1], 'correct', 1) end
      if d.confidence ~= null then
        redis.call('HINCRBYFLOAT', KEYS[base + 1], 'confidence_sum', fmt(d.confidence))
        redis.call('HINCRBY', KEYS[base + 1], 'confidence_n', 1)
      end
      if failed == 1 then
        redis.call('HINCRBY', KEYS[base + 1], 'failures_total', 1)
        redis.call('ZADD', KEYS[base + 3], d.timestamp, d.prediction_id)
      end
      redis.call('HSET', KEYS[base + 1], 'last_ts', fmt(d.timestamp))
      redis.call('LPUSH', KEYS[base + 2], cjson.encode(d))
      redis.call('LTRIM', KEYS[base + 2], 0, h.predictions_max - 1)
    end
  elseif kind == 'f' then
    local ts, value, cash, pos_value, exposure, npos, d = r[3], r[4], r[5], r[6], r[7], r[8], r[9]
    if not tr_ok then
      rejected[#rejected + 1] = {'r', r[2], 'too many traders (retention.max_traders)'}
    else
      count('portfolio')
      local latest = redis.call('HMGET', KEYS[9], 'timestamp', 'snap_ts', 'summed')
      if not latest[3] then  -- written before per-trader portfolios: the sum starts over
        redis.call('DEL', KEYS[9])
        redis.call('HSET', KEYS[9], 'summed', 1)
        if latest[2] then redis.call('HSET', KEYS[9], 'snap_ts', latest[2]) end
        latest[1] = false
      end
      local last_ts = tonumber(latest[1]) or 0
      local snap_ts = tonumber(latest[2]) or 0
      local mine = redis.call('HMGET', KEYS[14], 'timestamp', 'value', 'cash', 'positions_value', 'exposure',
        'position_count')
      local total = nil
      if not mine[1] or ts >= tonumber(mine[1]) then
        redis.call('HSET', KEYS[14], 'timestamp', fmt(ts), 'value', fmt(value), 'positions_value', fmt(pos_value),
          'exposure', fmt(exposure), 'position_count', npos)
        if cash ~= false then redis.call('HSET', KEYS[14], 'cash', fmt(cash)) else redis.call('HDEL', KEYS[14], 'cash') end
        total = tonumber(redis.call('HINCRBYFLOAT', KEYS[9], 'value', fmt(value - (tonumber(mine[2]) or 0))))
        redis.call('HINCRBYFLOAT', KEYS[9], 'positions_value', fmt(pos_value - (tonumber(mine[4]) or 0)))
        redis.call('HINCRBYFLOAT', KEYS[9], 'exposure', fmt(exposure - (tonumber(mine[5]) or 0)))
        redis.call('HINCRBY', KEYS[9], 'position_count', npos - (tonumber(mine[6]) or 0))
        local had_cash = mine[3] and 1 or 0
        local cash_now = cash ~= false and 1 or 0
        local cash_sum = tonumber(redis.call('HINCRBYFLOAT', KEYS[9], 'cash_sum',
          fmt((cash ~= false and cash or 0) - (tonumber(mine[3]) or 0))))
        local cash_n = redis.call('HINCRBY', KEYS[9], 'cash_n', cash_now - had_cash)
        if cash_n > 0 then redis.call('HSET', KEYS[9], 'cash', fmt(cash_sum)) else redis.call('HDEL', KEYS[9], 'cash') end
        if ts >= last_ts then redis.call('HSET', KEYS[9], 'timestamp', fmt(ts)) end
        d.trader = h.trader
        d.trader_value = value
        d.value = total  -- the history (returns) follows the total
      end
      local payload = cjson.encode(d)
      if total and ts >= last_ts then redis.call('HSET', KEYS[9], 'json', payload) end
      -- The history follows the total: a trader's older (out-of-order) snapshot is not part of it.
      if total and (ts - snap_ts >= h.snapshot_interval or ts < snap_ts - h.snapshot_interval) then
        redis.call('ZADD', KEYS[10], ts, payload)
        if ts > snap_ts then redis.call('HSET', KEYS[9], 'snap_ts', fmt(ts)) end
      end
      if total then
        if pv_peak == nil or total > pv_peak then pv_peak = total end
        if pv_peak > 0 then
          local dd = (pv_peak - total) / pv_peak
          if dd > pv_maxdd then pv_maxdd = dd end
        end
      end
    end
  elseif kind == 'h' then
    local ts, d = r[3], r[4]
    count('heartbeat')
    local last = tonumber(redis.call('HGET', KEYS[12], 'last_seen') or '0')
    if ts >= last then
      redis.call('HSET', KEYS[12], 'last_seen', fmt(ts), 'host', d.host, 'pid', d.pid)
    end
    -- What only ingested heartbeats carry (info fields, client stats) keeps its own clock: the
    -- trader's status reporter moves last_seen directly, so a heartbeat arriving after it would
    -- otherwise never update them; an older (journaled) heartbeat must not overwrite newer ones.
    local at = tonumber(redis.call('HGET', KEYS[12], 'heartbeat_at') or '0')
    if ts >= at then
      redis.call('HSET', KEYS[12], 'heartbeat_at', fmt(ts))
      for k, v in pairs(d.info) do
        if v == null then redis.call('HDEL', KEYS[12], 'info:' .. k)
        else redis.call('HSET', KEYS[12], 'info:' .. k, tostring(v)) end
      end
      if d.client ~= nil and d.client ~= null then
        redis.call('HSET', KEYS[12], 'client', cjson.encode(d.client))
      end
    end
    if tr_ok and ts >= tonumber(redis.call('HGET', KEYS[16], 'last_seen') or '0') then
      redis.call('HSET', KEYS[16], 'last_seen', fmt(ts), 'host', d.host, 'pid', d.pid)
      if d.client ~= nil and d.client ~= null then redis.call('HSET', KEYS[16], 'client', cjson.encode(d.client)) end
    end
  end
end

-- Write the aggregates once.
for s = 1, #id_args, 1000 do
  redis.call('ZADD', KEYS[2], unpack(id_args, s, math.min(s + 999, #id_args)))
end
if t_new > 0 then redis.call('XTRIM', KEYS[3], 'MAXLEN', '~', h.stream_max) end
if t_new > 0 then
  redis.call('HINCRBY', KEYS[4], 'total_trades', t_new)
  if t_ok > 0 then redis.call('HINCRBY', KEYS[4], 'successful_trades', t_ok) end
  if t_fail > 0 then redis.call('HINCRBY', KEYS[4], 'failed_trades', t_fail) end
  redis.call('HINCRBYFLOAT', KEYS[4], 'volume_usd', fmt(volume))
  redis.call('HINCRBY', KEYS[11], 'records:trade', t_new)
end
if t_dup > 0 then redis.call('HINCRBY', KEYS[11], 'duplicates:trade', t_dup) end
-- Any batch of a trader says it is alive: received_at is the Redis time it arrived, which the snapshot
-- judges the trader's freshness by (health_checks.trader_stale_seconds), whatever the hosts' clocks.
if tr_ok then
  local rt = redis.call('TIME')
  redis.call('HSET', KEYS[16], 'received_at', rt[1] .. '.' .. string.format('%06d', tonumber(rt[2])))
end
if tr_ok and t_new > 0 then
  redis.call('HINCRBY', KEYS[15], 'total_trades', t_new)
  redis.call('HSET', KEYS[15], 'last_at', fmt(now))
  if t_ok > 0 then redis.call('HINCRBY', KEYS[15], 'successful_trades', t_ok) end
  if t_fail > 0 then redis.call('HINCRBY', KEYS[15], 'failed_trades', t_fail) end
  redis.call('HINCRBYFLOAT', KEYS[15], 'volume_usd', fmt(volume))
  if pnl_n > 0 then
    redis.call('HINCRBYFLOAT', KEYS[15], 'pnl_total', fmt(pnl_sum))
    redis.call('HINCRBY', KEYS[15], 'pnl_trades', pnl_n)
    if wins > 0 then redis.call('HINCRBY', KEYS[15], 'wins', wins) end
    if losses > 0 then redis.call('HINCRBY', KEYS[15], 'losses', losses) end
  end
elseif not tr_ok and t_new > 0 then
  redis.call('HINCRBY', KEYS[11], 'unattributed:trade', t_new)  -- counted in the totals only
end
if pnl_n > 0 then
  redis.call('HINCRBYFLOAT', KEYS[4], 'pnl_total', fmt(pnl_sum))
  redis.call('HINCRBY', KEYS[4], 'pnl_trades', pnl_n)
  if wins > 0 then redis.call('HINCRBY', KEYS[4], 'wins', wins) end
  if losses > 0 then redis.call('HINCRBY', KEYS[4], 'losses', losses) end
  redis.call('HSET', KEYS[4], 'pnl_peak', fmt(peak), 'max_drawdown', fmt(maxdd))
  if capital then redis.call('HSET', KEYS[4], 'capital', fmt(capital)) end
  for day, v in pairs(daily) do redis.call('HINCRBYFLOAT', KEYS[5], string.format('%d', day), fmt(v)) end
  for i = 1, #pnls, 500 do  -- bounded unpack size
    redis.call('RPUSH', KEYS[6], unpack(pnls, i, math.min(i + 499, #pnls)))
  end
  redis.call('LTRIM', KEYS[6], -h.pnl_max, -1)
end
if exec_n > 0 then
  for b, n in pairs(exec_counts) do redis.call('HINCRBY', KEYS[4], 'exec_b' .. b, n) end
  redis.call('HINCRBYFLOAT', KEYS[4], 'exec_sum', fmt(exec_sum))
  redis.call('HINCRBY', KEYS[4], 'exec_count', exec_n)
end
if pv_peak ~= nil then
  redis.call('HSET', KEYS[4], 'pv_peak', fmt(pv_peak), 'pv_max_drawdown', fmt(pv_maxdd))
end
for e, fields in pairs(ex_hincr) do
  local stats = KEYS[EX + 3 * (e - 1) + 1]
  for field, n in pairs(fields) do
    if field == 'lat_sum' then redis.call('HINCRBYFLOAT', stats, field, fmt(n))
    else redis.call('HINCRBY', stats, field, n) end
  end
end
for e, fields in pairs(ex_wincr) do
  local window = KEYS[EX + 3 * (e - 1) + 3]
  for field, n in pairs(fields) do redis.call('HINCRBY', window, field, n) end
end
for e, list in pairs(lat_samples) do
  local key = KEYS[EX + 3 * (e - 1) + 2]
  for i = 1, #list, 500 do
    redis.call('LPUSH', key, unpack(list, i, math.min(i + 499, #list)))
  end
  redis.call('LTRIM', key, 0, h.latency_max - 1)
end
for kind, n in pairs(accepted) do redis.call('HINCRBY', KEYS[11], 'records:' .. kind, n) end

redis.call('ZADD', KEYS[1], now, h.batch_id)

-- Bound the dedup sets by count here (trim_history also trims them by age): a burst between two
-- trim runs must not grow them without limit.
if t_new > 0 then
  local over = redis.call('ZCARD', KEYS[2]) - h.ids_max
  if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1) end
end
local over_b = redis.call('ZCARD', KEYS[1]) - h.batches_max
if over_b > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over_b - 1) end

return cjson.encode({duplicate = false, new_trades = t_new, duplicate_trades = t_dup, successful = t_ok,
  failed = t_fail, pnl = pnl_sum, rejected = rejected, accepted = accepted})
