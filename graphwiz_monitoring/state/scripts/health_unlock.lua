-- Release a lock only if we still hold it (its value is our id): a lock that expired and was taken
-- by someone else must not be deleted by the late first holder.
-- KEYS[1] lock   ARGV[1] holder id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
