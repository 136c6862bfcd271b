-- write_token.lua: the fenced token write of one app.
-- KEYS[1] token, KEYS[2] meta, KEYS[3] ticket
-- ARGV[1] ticket, ARGV[2] token, ARGV[3] sent_at ms, ARGV[4] expires_in ms,
--   ARGV[5] safety margin ms, ARGV[6] epoch, ARGV[7] leader, ARGV[8] events
--   channel, ARGV[9] and ARGV[10] the token event before and after its
--   version (event.TokenTemplate: the shape is defined in Go only)
--   (all validated by the caller)
-- Reply {code, n, px, corrupt}:
--   code 1: written, n = new version, px = the token key's PX;
--   code 2: already written (a retry of the stored ticket and token),
--           n = stored version, px = the token key's remaining PTTL;
--   code -1: stale, n = the ticket that fenced it out; nothing written;
--   code -2: the token would already be expired; nothing written.
-- Fence: accepted if ticket > meta ticket. When meta's ticket is garbage
-- (or meta has the wrong type), accepted if ticket >= the newest ticket
-- taken (the ticket key), so a late write of an ex-leader still loses.
-- A garbage version becomes the ticket (larger than any counter), so every
-- reader moves forward. Everything is checked before the first write, and
-- token key and meta are written together or not at all.
local ticket, token = tonumber(ARGV[1]), ARGV[2]
local now = now_ms()
local expires_at = tonumber(ARGV[3]) + tonumber(ARGV[4])
local px = expires_at - tonumber(ARGV[5]) - now

local stored = read(KEYS[1], true, 'GET', KEYS[1])
local meta = read_meta(KEYS[2], true)
if meta.ticket == nil then
  local newest = int_key(KEYS[3], false)
  if newest and ticket < newest then return {-1, newest, 0, report(false)} end
elseif ticket < meta.ticket or (ticket == meta.ticket and meta.token ~= token) then
  return {-1, meta.ticket, 0, report(false)}
end
if px <= 0 then return {-2, 0, 0, report(false)} end
if ticket == meta.ticket and #corrupt == 0 and stored == token then
  -- A retry of a write that was applied (its reply was lost).
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl > 0 then return {2, meta.version, pttl, report(false)} end
end

-- Decided; write. (A stored token key of the wrong type is replaced by SET.)
local version = ticket
if meta.version then version = meta.version + 1 end
if meta.wrongtype then redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[1], token, 'PX', px)
redis.call('HSET', KEYS[2], 'token', token, 'expires_at', fmt(expires_at), 'fetched_at', ARGV[3],
  'ticket', ARGV[1], 'version', fmt(version), 'epoch', ARGV[6], 'leader', ARGV[7])
redis.call('PUBLISH', ARGV[8], ARGV[9] .. fmt(version) .. ARGV[10])
return {1, version, px, report(true)}
