-- A trader's control listener stops cleanly (health/commands.py: leave_trader): it is no longer live,
-- so senders stop waiting for it at once. Only its own entry: a newer process under the same identity
-- (its token differs) stays registered.
-- KEYS[1] registry zset   KEYS[2] this identity's hash   ARGV[1] identity   ARGV[2] token
if redis.call('HGET', KEYS[2], 'token') == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
