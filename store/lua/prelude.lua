-- prelude.lua: shared by every script of package store; scripts.go puts
-- it in front of each script's own file. It defines the Redis-TIME
-- snippet, the strict integer rule and the corruption report, once.

-- now_ms returns Redis TIME in unix milliseconds, and in seconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tonumber(t[1])
end

-- int parses a non-negative decimal integer (digits only) that a double
-- holds exactly (<= 2^53 - 1); nil for anything else (1e400, -1, ' 7', '').
local function int(s)
  if type(s) ~= 'string' or #s == 0 or #s > 16 or not string.find(s, '^%d+$') then return nil end
  local n = tonumber(s)
  if n > 9007199254740991 then return nil end
  return n
end

-- fmt formats an integral number without exponent.
local function fmt(n) return string.format('%d', n) end

-- Corruption found by this script: one entry per key (and field), never a
-- value. fixable: this script repairs it when it goes on to write.
local corrupt = {}
local function bad(key, field, detail, fixable)
  corrupt[#corrupt + 1] = {key, field, detail, fixable}
end

-- report lists the corruption for the reply as strings
-- "key\tfield\tdetail\trepaired" (repaired: 1 or 0); wrote says whether the
-- script went on to write (so fixable entries were repaired).
local function report(wrote)
  local out = {}
  for i, c in ipairs(corrupt) do
    local repaired = '0'
    if c[4] and wrote then repaired = '1' end
    out[i] = c[1] .. '\t' .. c[2] .. '\t' .. c[3] .. '\t' .. repaired
  end
  return out
end

-- read runs a read command on key with pcall (no TYPE: the reader ACLs do
-- not grant it). It returns the reply (false for a missing key, as
-- redis.call does), or nil when key holds the wrong type, after recording
-- it. Any other error is raised.
local function read(key, fixable, ...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r['err'] then
    if string.find(r['err'], 'WRONGTYPE', 1, true) then
      bad(key, '', 'wrong type', fixable)
      return nil
    end
    error(r)
  end
  return r
end

-- int_key reads a string key holding an integer: the integer (0 when the
-- key is missing), or nil after recording a wrong type or garbage.
local function int_key(key, fixable)
  local v = read(key, fixable, 'GET', key)
  if v == nil then return nil end
  if v == false then return 0 end
  local n = int(v)
  if n == nil then bad(key, '', 'not an integer', fixable) end
  return n
end

-- meta_fields are the integer fields of a meta hash.
local meta_fields = {'ticket', 'version', 'expires_at', 'fetched_at', 'epoch'}

-- read_meta reads and checks an app's meta hash. Returns a table: exists,
-- wrongtype, ok (nothing wrong), token, leader, has_version, and each
-- integer field parsed (0 when missing, nil when unparsable or when the
-- key has the wrong type). Problems are recorded with bad(..., fixable).
local function read_meta(key, fixable)
  local m = {ok = true, exists = false, wrongtype = false}
  local v = read(key, fixable, 'HMGET', key, 'token', 'leader', unpack(meta_fields))
  if v == nil then
    m.ok, m.wrongtype, m.exists = false, true, true
    return m
  end
  m.token, m.leader, m.has_version = v[1], v[2], v[4] ~= false
  for i, f in ipairs(meta_fields) do
    local raw = v[i + 2]
    m[f] = 0
    if raw then
      m.exists = true
      m[f] = int(raw)
      if m[f] == nil then
        bad(key, f, 'not an integer', fixable)
        m.ok = false
      end
    end
  end
  if m.token or m.leader then m.exists = true end
  return m
end

-- ---- end of prelude ----
