-- authorizer_write.lua: an Open Platform authorizer's token write and its
-- refresh token, in one script. scripts.go assembles it as: prelude, then
-- write_token.lua as the body of a local function write_token(), then this
-- file. The token write is exactly write_token.lua's (same KEYS[1..3],
-- ARGV[1..11], reply and fence); this file adds:
-- KEYS[4] the component's authorizers hash
-- ARGV[12] the authorizer appid (the hash field), ARGV[13] the refresh
--   token the upstream returned with the token
-- Before the write: an authorizer no longer in the hash (unauthorized, or
-- the hash lost) writes nothing: reply code -4. After an accepted write
-- (code 1 or 2) the entry's refresh_token becomes ARGV[13] when it
-- differs, its other fields kept; an entry that is not a JSON object is
-- replaced by {"refresh_token":ARGV[13]} and reported as repaired. A
-- refused write (-1, -2, -3) changes neither.
local entry = read(KEYS[4], false, 'HGET', KEYS[4], ARGV[12])
if entry == nil then return {-4, 0, 0, 0, 0, 0, report(false)} end
if entry == false then return {-4, 0, 0, 0, 0, 0, report(false)} end
local r = write_token()
if r[1] ~= 1 and r[1] ~= 2 then return r end
local ok, obj = pcall(cjson.decode, entry)
if not ok or type(obj) ~= 'table' then
  bad(KEYS[4], ARGV[12], 'authorizer entry is not a JSON object', true)
  obj = {}
end
if obj['refresh_token'] ~= ARGV[13] then
  obj['refresh_token'] = ARGV[13]
  redis.call('HSET', KEYS[4], ARGV[12], cjson.encode(obj))
end
r[7] = report(true)
return r
