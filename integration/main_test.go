// Package integration is tokend's integration and chaos suite: real
// redis-server processes on free loopback ports (integration/redisserver),
// the tokend binary as separate OS processes (integration/harness), the
// fake WeChat upstream in the test process (wechattest), and an invariant
// checker whose readers keep reading the token and using it upstream.
//
// Every scenario asserts the two invariants of README "Integration and chaos suite":
// one upstream fetch per refresh cycle whatever the number of replicas
// (fetches = token writes, +1 for a fetch in flight or lost to a kill), and
// no reader handed a token the upstream already invalidated, except where
// the scenario kills the token itself, and then it is healed within a
// stated bound. Each prints its figures with t.Logf.
//
// Without redis-server on PATH the tests skip, or fail when CI is set.
package integration

import (
	"os"
	"testing"

	"github.com/tokend/tokend/integration/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}
