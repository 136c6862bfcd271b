-- authcode_read.lua: what an authorization code was exchanged for; writes
-- nothing.
-- KEYS[1] the code's key ({prefix}:authcode:<component>:<sha256 hex>)
-- KEYS[2] the component's authorizers hash
-- Reply {state, value, entry}: state 0 no key, 1 a string, 2 a key of
--   another type; value the string (false unless state 1); entry the
--   authorizers hash field named by value (false when there is none or
--   the hash is not a hash).
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return {2, false, false} end
if not v then return {0, false, false} end
local e = redis.pcall('HGET', KEYS[2], v)
if type(e) ~= 'string' then e = false end
return {1, v, e}
