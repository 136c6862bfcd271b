-- authcode_release.lua: drops a claim on an authorization code, only if
-- the key still holds that claim (a finished exchange, or a newer claim,
-- stays).
-- KEYS[1] the code's key
-- ARGV[1] the claim value ClaimCode returned
-- Reply 1 released, 0 not held.
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
