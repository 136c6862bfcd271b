-- write_token.lua: the fenced write of one credential.
-- KEYS[1] token, KEYS[2] meta, KEYS[3] ticket
-- ARGV[1] ticket, ARGV[2] token, ARGV[3] sent_at ms, ARGV[4] expires_in ms,
--   ARGV[5] safety margin ms, ARGV[6] epoch, ARGV[7] leader, ARGV[8] events
--   channel, ARGV[9] and ARGV[10] the token event before and after its
--   version (event.TokenTemplate: the shape is defined in Go only),
--   ARGV[11] the same-value rule (SameValue: 0 as new, 1 keep the later
--   expiry, 2 keep the stored expiry) (all validated by the caller)
-- Reply {code, n, px, expires_at, fetched_at, changed, corrupt}:
--   code 1: written, n = the version (bumped, with a token event, when
--           the value, its expiry or the token key changed; else kept),
--           px = the token key's PX or remaining PTTL;
--   code 2: already written (a retry of the stored ticket and token),
--           n = stored version, px = the token key's remaining PTTL;
--   code -1: stale, n = the ticket that fenced it out; nothing written;
--   code -2: the token would already be expired; nothing written;
--   code -3: the stored value again, its kept expiry past (the upstream
--           has not rolled over yet); nothing written.
--   expires_at and fetched_at are the effective ones (ms), changed is 1
--   when the value differs from the stored one.
-- Fence: accepted if ticket > meta ticket. When meta's ticket is garbage
-- (or meta has the wrong type), accepted if ticket >= the newest ticket
-- taken (the ticket key), so a late write of an ex-leader still loses.
-- Same value: when the token equals the one in meta (kept after the token
-- key expired) and the rule is not 0, expires_at is the stored one (rule
-- 2) or the later of the stored and the written one (rule 1); fetched_at
-- stays the first-seen one unless an answer extended the life (rule 1),
-- which renews it from this fetch (so the next due time is planned from
-- the renewed life, not from a lifetime that grows with every repeat).
-- A garbage version becomes the ticket (larger than any counter), so every
-- reader moves forward. Everything is checked before the first write, and
-- token key and meta are written together or not at all.
local ticket, token, rule = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[11])
local now = now_ms()
local expires_at, fetched_at = tonumber(ARGV[3]) + tonumber(ARGV[4]), tonumber(ARGV[3])

local stored = read(KEYS[1], true, 'GET', KEYS[1])
local meta = read_meta(KEYS[2], true)
if meta.ticket == nil then
  local newest = int_key(KEYS[3], false)
  if newest and ticket < newest then return {-1, newest, 0, 0, 0, 0, report(false)} end
elseif ticket < meta.ticket or (ticket == meta.ticket and meta.token ~= token) then
  return {-1, meta.ticket, 0, 0, 0, 0, report(false)}
end
local same = meta.token == token
local kept = same and rule > 0 and meta.expires_at ~= nil and meta.expires_at > 0
if kept and (rule == 2 or meta.expires_at >= expires_at) then
  -- The stored expiry stands, and so does its first-seen fetched_at. An
  -- answer that extends the life (rule 1) renews it from this fetch.
  expires_at = meta.expires_at
  if meta.fetched_at and meta.fetched_at > 0 then fetched_at = meta.fetched_at end
end
local changed = 1
if same then changed = 0 end
local px = expires_at - tonumber(ARGV[5]) - now
if px <= 0 then
  if kept then return {-3, 0, 0, expires_at, fetched_at, 0, report(false)} end
  return {-2, 0, 0, expires_at, fetched_at, changed, report(false)}
end
-- Nothing a reader sees changes: the value, its expiry and the token key
-- stay; only the fence (and the writer) move, with no new version.
local quiet = same and #corrupt == 0 and stored == token and meta.has_version
  and expires_at == meta.expires_at and fetched_at == meta.fetched_at
if quiet then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl > 0 then
    local code = 1
    if ticket == meta.ticket then code = 2 end -- a retry of an applied write
    if code == 1 then
      redis.call('HSET', KEYS[2], 'ticket', ARGV[1], 'epoch', ARGV[6], 'leader', ARGV[7])
    end
    return {code, meta.version, pttl, expires_at, fetched_at, 0, report(false)}
  end
end

-- Decided; write. (A stored token key of the wrong type is replaced by SET.)
local version = ticket
if meta.version then version = meta.version + 1 end
if meta.wrongtype then redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[1], token, 'PX', px)
redis.call('HSET', KEYS[2], 'token', token, 'expires_at', fmt(expires_at), 'fetched_at', fmt(fetched_at),
  'ticket', ARGV[1], 'version', fmt(version), 'epoch', ARGV[6], 'leader', ARGV[7])
redis.call('PUBLISH', ARGV[8], ARGV[9] .. fmt(version) .. ARGV[10])
return {1, version, px, expires_at, fetched_at, changed, report(true)}
