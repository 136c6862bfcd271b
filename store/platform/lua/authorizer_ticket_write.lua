-- authorizer_ticket_write.lua: the fenced write of an Open Platform
-- authorizer's ticket ("<component>/<appid>:<kind>"), made only while the
-- authorizer is stored. Assembled like authorizer_write.lua: prelude, then
-- write_token.lua as the body of a local function write_token(), then
-- this file. KEYS[1..3], ARGV[1..11] and the reply are write_token.lua's;
-- KEYS[4] the component's authorizers hash, ARGV[12] the authorizer appid.
-- An authorizer no longer in the hash (unauthorized meanwhile, or the hash
-- lost) writes nothing: reply code -4.
local entry = read(KEYS[4], false, 'HGET', KEYS[4], ARGV[12])
if entry == nil or entry == false then return {-4, 0, 0, 0, 0, 0, report(false)} end
return write_token()
