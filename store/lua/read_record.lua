-- read_record.lua: one app's record, read atomically; writes nothing.
-- KEYS[1] token, KEYS[2] meta
-- Reply {token|false, pttl, expires_at, fetched_at, ticket, version, epoch,
--   leader, now ms, corrupt}: integer fields as strings ('' when missing);
--   token false when the key is missing; version false when meta has none
--   (no token was ever written). Any corrupt entry makes the record unusable.
-- Only GET, PTTL, HMGET and TIME are used (the reader ACL allows no more).
local now = now_ms()
local tok = read(KEYS[1], false, 'GET', KEYS[1])
local pttl = -2
if tok then pttl = redis.call('PTTL', KEYS[1]) end
local m = read_meta(KEYS[2], false)
local function f(name)
  if m[name] == nil then return '' end
  return fmt(m[name])
end
local version = false
if m.has_version then version = f('version') end
return {tok or false, pttl, f('expires_at'), f('fetched_at'), f('ticket'), version, f('epoch'),
  m.leader or false, fmt(now), report(false)}
