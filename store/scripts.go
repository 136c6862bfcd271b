package store

import "github.com/redis/go-redis/v9"

// Scripts run with EVALSHA; go-redis falls back to EVAL (which loads the
// script again) on NOSCRIPT, so they survive a Redis restart or failover.
// Every script touches only keys under one hash tag.

// nowMs is shared Lua: Redis TIME in unix milliseconds.
const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// takeTicket: KEYS lease, ticket, budget; ARGV lease value, daily budget,
// budget day offset in seconds.
// Returns {ticket, budget used, now ms}; ticket -1 = lease not held,
// -2 = budget exhausted.
var takeTicketScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0, 0} end
` + luaNow + `
local limit = tonumber(ARGV[2])
local day = tostring(math.floor((tonumber(t[1]) + tonumber(ARGV[3])) / 86400))
local used = 0
if redis.call('HGET', KEYS[3], 'day') == day then
  used = tonumber(redis.call('HGET', KEYS[3], 'used') or '0')
end
if limit > 0 and used >= limit then return {-2, used, now} end
used = used + 1
redis.call('HSET', KEYS[3], 'day', day, 'used', used)
redis.call('PEXPIRE', KEYS[3], 172800000)
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local ticket = last + 1
if now > ticket then ticket = now end
redis.call('SET', KEYS[2], string.format('%d', ticket))
return {ticket, used, now}
`)

// writeToken: KEYS token, meta; ARGV ticket, token, sent_at ms,
// expires_in ms, safety margin ms, epoch, leader, events channel, app.
// Returns {version, px}; version -1 = stale ticket (px holds the stored
// ticket), -2 = the token would already be expired.
var writeTokenScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[2], 'ticket') or '0')
local ticket = tonumber(ARGV[1])
if ticket <= cur then return {-1, cur} end
` + luaNow + `
local expires_at = tonumber(ARGV[3]) + tonumber(ARGV[4])
local px = expires_at - tonumber(ARGV[5]) - now
if px <= 0 then return {-2, 0} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', px)
local v = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('HSET', KEYS[2], 'token', ARGV[2], 'expires_at', string.format('%d', expires_at),
  'fetched_at', ARGV[3], 'ticket', ARGV[1], 'epoch', ARGV[6], 'leader', ARGV[7])
redis.call('PUBLISH', ARGV[8], '{"type":"token","app":"' .. ARGV[9] .. '","version":' .. v .. '}')
return {v, px}
`)

// readRecord: KEYS token, meta. Returns {token|false, pttl, expires_at,
// fetched_at, ticket, version, epoch, leader, now ms}.
var readRecordScript = redis.NewScript(`
` + luaNow + `
local m = redis.call('HMGET', KEYS[2], 'expires_at', 'fetched_at', 'ticket', 'version', 'epoch', 'leader')
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), m[1], m[2], m[3], m[4], m[5], m[6], string.format('%d', now)}
`)

// clearReport: KEYS reports; ARGV app, token. Deletes the app's pending
// report only if it still names token, so a newer report is never lost.
var clearReportScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`)

// readLeader: KEYS lease, epoch hash. Returns {lease pttl, epoch, leader}.
var readLeaderScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[2], 'epoch', 'leader')
return {redis.call('PTTL', KEYS[1]), m[1], m[2]}
`)
