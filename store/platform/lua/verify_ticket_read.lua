-- verify_ticket_read.lua: a component's verify ticket; writes nothing.
-- KEYS[1] cvt hash of the component
-- Reply {ticket|false, create_time, received_at, now ms, corrupt}: integer
--   fields as strings ('' when missing); ticket false when none is stored.
--   A wrong type or an unparsable field is reported; the ticket is then
--   unusable.
local now = now_ms()
local v = read(KEYS[1], false, 'HMGET', KEYS[1], 'ticket', 'create_time', 'received_at')
if v == nil then return {false, '', '', fmt(now), report(false)} end
local out = {v[1] or false, '', '', fmt(now)}
for i, f in ipairs({'create_time', 'received_at'}) do
  local raw = v[i + 1]
  if raw then
    local n = int(raw)
    if n == nil then bad(KEYS[1], f, 'not an integer', false) else out[i + 1] = fmt(n) end
  elseif v[1] then
    bad(KEYS[1], f, 'missing', false)
  end
end
out[5] = report(false)
return out
