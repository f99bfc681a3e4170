-- Record one recovery attempt exactly once, even when the task is redelivered: the marker (which also
-- keeps the outcome for the redelivered run) is set only if absent, and only then are the history and
-- the graphwiz_recovery_actions_total counter touched.
--
-- KEYS[1]  marker (string)   KEYS[2]  history list   KEYS[3]  counter hash ("action|outcome" -> n)
-- ARGV[1]  attempt JSON      ARGV[2]  counter field  ARGV[3]  history length kept   ARGV[4]  marker TTL (s)
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[4])) then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
