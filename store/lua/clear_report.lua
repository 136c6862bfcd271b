-- clear_report.lua: delete an app's pending report if it still names the
-- given token, so a newer report is never lost.
-- KEYS[1] reports
-- ARGV[1] app, ARGV[2] token
-- Reply {deleted (0 or 1), corrupt}. A wrong-typed reports key is deleted.
local v = read(KEYS[1], true, 'HGET', KEYS[1], ARGV[1])
if v == nil then
  redis.call('DEL', KEYS[1])
  return {0, report(true)}
end
if v == ARGV[2] then return {redis.call('HDEL', KEYS[1], ARGV[1]), report(false)} end
return {0, report(false)}
