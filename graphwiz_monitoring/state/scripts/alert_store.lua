-- Store an alert given by the caller (manual alerts, send_alert) and record its notification in the
-- outbox in one atomic step, so the notification cannot be lost between the two (alerting/outbox.py).
--
-- KEYS[1] alert JSON key   KEYS[2] notification outbox zset
-- ARGV[1] alert JSON   ARGV[2] alert TTL (s)   ARGV[3] kind (firing|resolved)   ARGV[4] outbox entry "id|kind"
--
-- Returns {stored, queued}: stored = 1 when the record was new; queued = 1 when this call recorded the
-- notification (0: it was recorded by whoever stored or resolved the alert before).

local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local existing = redis.call('GET', KEYS[1])
if not existing then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  return {1, 1}
end
-- A known alert's firing notification was recorded when it was stored (here or by alert_fire.lua).
if ARGV[3] ~= 'resolved' then
  return {0, 0}
end
-- Reported resolved: once. A record already resolved was announced (or deliberately not: muted, or
-- its notice waits for alerts.resolve_after_seconds) by whoever resolved it.
local ok, stored = pcall(cjson.decode, existing)
if ok and type(stored) == 'table' and stored['state'] == 'resolved' then
  return {0, 0}
end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
redis.call('ZADD', KEYS[2], now, ARGV[4])
return {0, 1}
