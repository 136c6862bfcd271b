-- verify_ticket_write.lua: store a component's verify ticket unless the
-- stored one is as new or newer (an older or replayed push is a no-op).
-- KEYS[1] cvt hash of the component
-- ARGV[1] ticket, ARGV[2] create_time (unix seconds, the push's CreateTime),
--   ARGV[3] events channel, ARGV[4] the input event to publish when stored
-- Reply {stored (1, or 0: the stored ticket is as new or newer), stored
--   create_time, corrupt}. A wrong-typed key, or a hash without a ticket or
--   with create_time or received_at missing or unparsable, is garbage: it
--   is replaced (and reported as repaired), so it can never block pushes.
-- Fields: ticket, create_time, received_at (Redis TIME, unix ms).
local ct = int(ARGV[2])
if ARGV[1] == '' or ct == nil then return redis.error_reply('ERR verify_ticket_write: bad arguments') end
local v = read(KEYS[1], true, 'HMGET', KEYS[1], 'ticket', 'create_time', 'received_at')
local stored = 0
if v == nil then
  redis.call('DEL', KEYS[1])
elseif v[1] or v[2] or v[3] then
  stored = int(v[2])
  if stored == nil or int(v[3]) == nil or not v[1] or v[1] == '' then
    bad(KEYS[1], '', 'incomplete or unparsable verify ticket', true)
    stored = 0
  end
end
if ct <= stored then return {0, fmt(stored), report(false)} end
local now = now_ms()
redis.call('HSET', KEYS[1], 'ticket', ARGV[1], 'create_time', fmt(ct), 'received_at', fmt(now))
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {1, fmt(ct), report(true)}
