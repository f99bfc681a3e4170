-- Circuit breaker: every transition in one atomic script, timed by the Redis clock (one clock for all hosts).
--
-- KEYS[1]  breaker hash          KEYS[2]  set of breaker names
-- ARGV[1]  op: allow | success | failure | release | reset   (reading is a plain HGETALL)
-- ARGV[2]  breaker name          ARGV[3]  failure threshold (consecutive failures that open it)
-- ARGV[4]  recovery timeout (s)  ARGV[5]  trial lease (s): a crashed trial is handed out again after it
-- ARGV[6]  caller token          ARGV[7]  key TTL (s)
-- ARGV[8]  error text (failure only)
--
-- closed --threshold failures--> open --timeout--> half_open (ONE caller gets the trial lease)
-- half_open --trial success--> closed ; half_open --trial failure--> open
-- release: the call told nothing about the service (e.g. a health check whose input, the trader's report,
-- was missing): neither success nor failure; a half-open trial's lease is handed back for the next caller.
--
-- Returns {allowed 0|1, state, is_trial 0|1, failures, previous state, opened_at, now}; floats as strings
-- because Redis truncates Lua numbers to integers.

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op = ARGV[1]
local threshold = tonumber(ARGV[3])
local timeout = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local token = ARGV[6]

local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'trial_token', 'trial_expires')
local state = h[1] or 'closed'
local failures = tonumber(h[2]) or 0
local opened_at = tonumber(h[3]) or 0
local trial_token = h[4] or ''
local trial_expires = tonumber(h[5]) or 0
local previous = state
local allowed, trial = 0, 0
local fields = {}

if op == 'allow' then
  if state == 'closed' then
    allowed = 1
  elseif state == 'open' then
    if now >= opened_at + timeout then
      state = 'half_open'
      trial_token, trial_expires, allowed, trial = token, now + lease, 1, 1
    end
  elseif state == 'half_open' then
    -- the lease makes a crashed trial harmless: once it lapses the next caller gets the trial
    if trial_token == '' or now >= trial_expires then
      trial_token, trial_expires, allowed, trial = token, now + lease, 1, 1
    end
  end
  if trial == 1 then
    table.insert(fields, 'trials')
    table.insert(fields, tostring((tonumber(redis.call('HGET', KEYS[1], 'trials')) or 0) + 1))
    table.insert(fields, 'trial_started_at')
    table.insert(fields, tostring(now))
  end
elseif op == 'success' then
  if state == 'closed' then
    failures = 0
  elseif state == 'half_open' and token == trial_token then
    state, failures, trial_token, trial_expires, opened_at = 'closed', 0, '', 0, 0
  end
  -- a success reported while open comes from a call let through before it opened: ignored
  table.insert(fields, 'last_success_at')
  table.insert(fields, tostring(now))
elseif op == 'failure' then
  if state == 'closed' then
    failures = failures + 1
    if failures >= threshold then
      state, opened_at = 'open', now
    end
  elseif state == 'half_open' and token == trial_token then
    state, opened_at, trial_token, trial_expires = 'open', now, '', 0
    failures = failures + 1
  end
  table.insert(fields, 'last_failure_at')
  table.insert(fields, tostring(now))
  table.insert(fields, 'last_error')
  table.insert(fields, ARGV[8] or '')
elseif op == 'release' then
  if state == 'half_open' and token == trial_token then
    trial_token, trial_expires = '', 0
  end
  table.insert(fields, 'last_released_at')
  table.insert(fields, tostring(now))
elseif op == 'reset' then
  state, failures, opened_at, trial_token, trial_expires = 'closed', 0, 0, '', 0
  table.insert(fields, 'reset_at')
  table.insert(fields, tostring(now))
else
  return redis.error_reply('unknown breaker op ' .. tostring(op))
end

redis.call('HSET', KEYS[1], 'name', ARGV[2], 'state', state, 'failures', failures,
  'opened_at', tostring(opened_at), 'trial_token', trial_token, 'trial_expires', tostring(trial_expires),
  'updated_at', tostring(now), unpack(fields))
if previous ~= state then
  redis.call('HSET', KEYS[1], 'changed_at', tostring(now))
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
redis.call('SADD', KEYS[2], ARGV[2])
return {allowed, state, trial, failures, previous, tostring(opened_at), tostring(now)}
