-- The lead of a storm group's window ended (resolved or stale) with nothing held behind it: close the
-- window, so the group's next alert is a fresh incident, notified at once (alerting/grouping.py).
--
-- KEYS[1] the group's window (hash: id, until, lead)   KEYS[2] the group's held notifications (zset)
-- ARGV[1] the alert id that ended
--
-- Returns 1 when the window was closed, else 0 (another lead, held members waiting, or no window).

local id = redis.call('HGET', KEYS[1], 'id')
if not id or redis.call('HGET', KEYS[1], 'lead') ~= ARGV[1] then
  return 0
end
if redis.call('ZCOUNT', KEYS[2], tonumber(id), tonumber(id)) > 0 then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
