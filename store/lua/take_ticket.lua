-- take_ticket.lua: take a fetch ticket for one app.
-- KEYS[1] lease, KEYS[2] ticket, KEYS[3] budget, KEYS[4] meta, KEYS[5] token
-- ARGV[1] lease value, ARGV[2] daily budget (0: none), ARGV[3] budget day
--   offset in seconds (both validated by the caller)
-- Reply {ticket, budget used, now ms, corrupt}: ticket -1 = lease not held,
--   -2 = budget exhausted (nothing written in either case); corrupt as in
--   report() of the prelude.
-- Every key the later write depends on is checked before anything is
-- written: a garbage ticket key is repaired (max(meta ticket + 1, TIME)),
-- a garbage budget is reset, and garbage in the meta hash or a wrong-typed
-- token key is reported (the fenced write replaces them; it cannot fail
-- on them), so a ticket taken always leads to a write that can succeed.
if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0, 0, {}} end
local now, sec = now_ms()
local limit, offset = tonumber(ARGV[2]), tonumber(ARGV[3])
local day = math.floor((sec + offset) / 86400)

local meta = read_meta(KEYS[4], false)
read(KEYS[5], false, 'GET', KEYS[5])
local last = int_key(KEYS[2], true)

local used = 0
local b = read(KEYS[3], true, 'HMGET', KEYS[3], 'day', 'used')
local reset_budget = b == nil
if b then
  local bday, bused = int(b[1]), int(b[2])
  if b[1] and bday == nil then bad(KEYS[3], 'day', 'not an integer', true) end
  if b[2] and bused == nil then bad(KEYS[3], 'used', 'not an integer', true) end
  if bday == day and bused then used = bused end
end
if limit > 0 and used >= limit then return {-2, used, now, report(false)} end

-- Decided; write.
used = used + 1
if reset_budget then redis.call('DEL', KEYS[3]) end
redis.call('HSET', KEYS[3], 'day', fmt(day), 'used', fmt(used))
redis.call('PEXPIRE', KEYS[3], 172800000)
local ticket = math.max((last or 0) + 1, (meta.ticket or 0) + 1, now)
redis.call('SET', KEYS[2], fmt(ticket))
return {ticket, used, now, report(true)}
