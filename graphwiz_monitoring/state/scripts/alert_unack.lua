-- End the acknowledgement of one alert (``alerts unack``, or its severity rose): repeats and escalation
-- go on at once from where the episode's schedule stands.
--
-- KEYS[1] state hash   KEYS[2] ack hash of the alert   KEYS[3] escalation zset
-- ARGV[1] member "rule|fp"   ARGV[2] alert id
--
-- Returns 1 when an ack of that alert was in force (its hash had not expired), else 0.

local h = redis.call('HMGET', KEYS[1], 'ack_id', 'esc_due')
local had = redis.call('DEL', KEYS[2])
if h[1] == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'ack_id', 'ack_until')
  if h[2] then
    redis.call('ZADD', KEYS[3], tonumber(h[2]), ARGV[1])
  end
end
return had
