-- read_leader.lua: what Redis says about the leadership; writes nothing.
-- KEYS[1] lease, KEYS[2] epoch hash
-- Reply {lease pttl, epoch|false, leader|false}. A wrong-typed epoch key
--   reads as no term (package lock owns and repairs it).
local m = redis.pcall('HMGET', KEYS[2], 'epoch', 'leader')
if m['err'] then m = {false, false} end
return {redis.call('PTTL', KEYS[1]), m[1], m[2]}
