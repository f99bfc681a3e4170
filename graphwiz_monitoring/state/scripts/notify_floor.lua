-- Which channels get one notification of an alert, given each channel's floor
-- (notifications.<channel>.min_repeat_seconds): a repeat reaches a channel only when that channel's
-- last notification of the alert is at least its floor old. Atomic and by the Redis clock (PX).
--
-- KEYS[i]  per channel: the alert's floor gate (string: the kind last let through; PX its floor)
-- ARGV[1]  kind (firing | repeat-<n>)   ARGV[1+i] floor of channel i in ms (0: no floor)
--
-- A first notification (firing) always passes and sets the gates. A repeat passes a channel with no
-- gate (and sets it), or whose gate holds this very kind (the same repeat handed over again by the
-- outbox sweep). Returns one 1/0 per channel.

local kind = ARGV[1]
local out = {}
for i = 1, #KEYS do
  local floor = tonumber(ARGV[i + 1]) or 0
  if floor <= 0 then
    out[i] = 1
  elseif kind == 'firing' then
    redis.call('SET', KEYS[i], kind, 'PX', floor)
    out[i] = 1
  else
    local gate = redis.call('GET', KEYS[i])
    if not gate then
      redis.call('SET', KEYS[i], kind, 'PX', floor)
      out[i] = 1
    elseif gate == kind then
      out[i] = 1
    else
      out[i] = 0
    end
  end
end
return out
