-- reports_read.lua: read pending reports, repairing a wrong-typed key.
-- KEYS[1] reports
-- ARGV[1] mode: 'get' (ARGV[2..] = app ids: HMGET), 'all' (HGETALL),
--   'scan' (ARGV[2] cursor, ARGV[3] count: one HSCAN step) or 'check'
--   (only the repair below)
-- Reply {values, corrupt}: get: one value or false per app id; all: flat
--   field, value list; scan: {next cursor, flat field, value list};
--   check: {}.
-- A wrong-typed reports key is deleted (nothing is pending then): its
-- content is unreadable anyway, and waiting clients report again.
local v
if ARGV[1] == 'get' then
  v = read(KEYS[1], true, 'HMGET', KEYS[1], unpack(ARGV, 2))
elseif ARGV[1] == 'scan' then
  v = read(KEYS[1], true, 'HSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
elseif ARGV[1] == 'all' then
  v = read(KEYS[1], true, 'HGETALL', KEYS[1])
else
  v = read(KEYS[1], true, 'HGET', KEYS[1], '')
  if v ~= nil then v = {} end
end
if v == nil then
  redis.call('DEL', KEYS[1])
  v = {}
  if ARGV[1] == 'scan' then v = {'0', {}} end
  return {v, report(true)}
end
return {v, report(false)}
