package store

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// Scripts run with EVALSHA; go-redis falls back to EVAL (which loads the
// script again) on NOSCRIPT, so they survive a Redis restart or failover.
// Every script touches only keys under one hash tag. Each lives in its own
// file under lua/, whose header gives its KEYS, ARGV and reply; the shared
// helpers (Redis TIME, the strict integer rule, the corruption report)
// are defined once, in lua/prelude.lua, and put in front of each script.

//go:embed lua/prelude.lua
var luaPrelude string

var (
	//go:embed lua/take_ticket.lua
	luaTakeTicket string
	//go:embed lua/write_token.lua
	luaWriteToken string
	//go:embed lua/read_record.lua
	luaReadRecord string
	//go:embed lua/reports_read.lua
	luaReportsRead string
	//go:embed lua/clear_report.lua
	luaClearReport string
	//go:embed lua/repair_record.lua
	luaRepairRecord string
)

// newScript is a script made of the prelude and body.
func newScript(body string) *redis.Script { return redis.NewScript(luaPrelude + body) }

var (
	takeTicketScript   = newScript(luaTakeTicket)
	writeTokenScript   = newScript(luaWriteToken)
	readRecordScript   = newScript(luaReadRecord)
	reportsReadScript  = newScript(luaReportsRead)
	clearReportScript  = newScript(luaClearReport)
	repairRecordScript = newScript(luaRepairRecord)
)
