-- repair_record.lua: rebuild an app's meta hash from what is known, with
-- no upstream call, when it holds garbage and the token key a live token.
-- KEYS[1] lease, KEYS[2] token, KEYS[3] meta, KEYS[4] ticket
-- ARGV[1] lease value, ARGV[2] events channel, ARGV[3] and ARGV[4] the
--   token event before and after its version (event.TokenTemplate)
-- Reply {code, version, corrupt}: code 1 repaired (version = the new one,
--   a token event is published); 0 nothing to repair; -1 lease not held;
--   -2 no live token to rebuild from (nothing written: fetch, and the write
--   replaces the record).
-- Rebuilt fields (valid fields are kept): token = the token key's value;
-- expires_at = now + PTTL (earlier than the truth by the safety margin:
-- conservative); fetched_at = now; ticket = newest ticket taken - 1, so the
-- write of that newest fetch still wins and any older one loses, as the
-- write script's own fallback fence; version + 1, or Redis TIME ms when
-- garbage (larger than any counter), with a token event: every reader
-- reloads; epoch 0 and leader '' when unknown.
if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0, {}} end
local now = now_ms()
local tok = read(KEYS[2], false, 'GET', KEYS[2])
local meta = read_meta(KEYS[3], true)
if meta.ok and (tok == false or tok == meta.token) and #corrupt == 0 then return {0, 0, {}} end
local pttl = -2
if tok then pttl = redis.call('PTTL', KEYS[2]) end
if not tok or pttl <= 0 then return {-2, 0, report(false)} end
if not meta.exists then
  bad(KEYS[3], '', 'missing while the token key is live', true)
elseif meta.token ~= tok and meta.ok then
  bad(KEYS[3], 'token', 'differs from the token key', true)
end
local newest = int_key(KEYS[4], false) or 0

local function keep(v, default)
  if v == nil or v == 0 then return default end
  return v
end
local ticket = meta.ticket
if ticket == nil then ticket = math.max(newest - 1, 0) end
local version = now
if meta.version then version = meta.version + 1 end
-- Decided; write.
if meta.wrongtype then redis.call('DEL', KEYS[3]) end
redis.call('HSET', KEYS[3], 'token', tok, 'expires_at', fmt(keep(meta.expires_at, now + pttl)),
  'fetched_at', fmt(keep(meta.fetched_at, now)), 'ticket', fmt(ticket), 'version', fmt(version),
  'epoch', fmt(meta.epoch or 0), 'leader', meta.leader or '')
redis.call('PUBLISH', ARGV[2], ARGV[3] .. fmt(version) .. ARGV[4])
return {1, version, report(true)}
