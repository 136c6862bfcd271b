-- take_ticket.lua: take a fetch ticket for one credential.
-- KEYS[1] lease, KEYS[2] ticket, KEYS[3] daily budget, KEYS[4] meta,
--   KEYS[5] token, KEYS[6..] one windowed budget each (Keys.Window)
-- ARGV[1] lease value, ARGV[2] daily budget (0: none), ARGV[3] budget day
--   offset in seconds, then per windowed budget: its limit and its window
--   in ms (all validated by the caller)
-- Reply {ticket, used, now ms, which, until ms, corrupt}:
--   ticket > 0: taken; used = the daily count with this fetch;
--   ticket -1: lease not held;
--   ticket -2: daily budget exhausted, used = its count;
--   ticket -3: windowed budget `which` (1-based) exhausted, used = its
--     count, until = when its window ends;
--   ticket -4: windowed budget `which` held garbage; it was repaired as
--     exhausted until `until` (nothing else written);
--   nothing is written for -1 to -3. corrupt as in report() of the prelude.
-- Every key the later write depends on, and every budget, is checked
-- before anything is written, so a refusal costs no budget anywhere: a
-- garbage ticket key is repaired (max(meta ticket + 1, TIME)), a garbage
-- daily budget is reset, and garbage in the meta hash or a wrong-typed
-- token key is reported (the fenced write replaces them; it cannot fail
-- on them), so a ticket taken always leads to a write that can succeed.
-- A garbage windowed budget cannot be reset like the daily one: it guards
-- an upstream limit, perhaps shared, and its count is unknown. It is set
-- to exhausted until its window ends (no upstream call is made because of
-- it) and reported repaired.
if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0, 0, 0, 0, {}} end
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

-- Windowed budgets: windows of `win` ms cut on Redis TIME.
local windows = {}
for i = 1, #KEYS - 5 do
  local key, wlimit, win = KEYS[5 + i], tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local w = {key = key, limit = wlimit, index = math.floor(now / win), used = 0}
  w.ends = (w.index + 1) * win
  local v = read(key, true, 'HMGET', key, 'window', 'used')
  local garbage = v == nil
  if v then
    local index, used = int(v[1]), int(v[2])
    if v[1] and index == nil then bad(key, 'window', 'not an integer', true); garbage = true end
    if v[2] and used == nil then bad(key, 'used', 'not an integer', true); garbage = true end
    if index == w.index and used then w.used = used end
  end
  if garbage then
    -- Repair this budget alone, as exhausted; the other entries stay
    -- reported unrepaired (this script writes nothing else).
    for _, c in ipairs(corrupt) do c[4] = c[4] and c[1] == key end
    redis.call('DEL', key)
    redis.call('HSET', key, 'window', fmt(w.index), 'used', fmt(wlimit))
    redis.call('PEXPIRE', key, fmt(w.ends - now))
    return {-4, wlimit, now, i, w.ends, report(true)}
  end
  windows[i] = w
end

if limit > 0 and used >= limit then return {-2, used, now, 0, 0, report(false)} end
for i, w in ipairs(windows) do
  if w.used >= w.limit then return {-3, w.used, now, i, w.ends, report(false)} end
end

-- Decided; write.
used = used + 1
if reset_budget then redis.call('DEL', KEYS[3]) end
redis.call('HSET', KEYS[3], 'day', fmt(day), 'used', fmt(used))
redis.call('PEXPIRE', KEYS[3], 172800000)
for _, w in ipairs(windows) do
  redis.call('HSET', w.key, 'window', fmt(w.index), 'used', fmt(w.used + 1))
  redis.call('PEXPIRE', w.key, fmt(w.ends - now))
end
local ticket = math.max((last or 0) + 1, (meta.ticket or 0) + 1, now)
redis.call('SET', KEYS[2], fmt(ticket))
return {ticket, used, now, 0, 0, report(true)}
