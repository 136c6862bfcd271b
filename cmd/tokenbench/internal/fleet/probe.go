package fleet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Machine describes where the bench ran.
type Machine struct {
	CPU, GoVersion, Redis, OS, Date string
	Load                            string // load averages at the start
	Cores                           int
}

func DescribeMachine(ctx context.Context, rdb *redis.Client) Machine {
	m := Machine{
		CPU: "unknown CPU", Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().Format("2006-01-02 15:04 MST"),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.Redis = "redis " + InfoField(ctx, rdb, "server", "redis_version")
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// InfoField returns one field of INFO section, "" when unavailable.
func InfoField(ctx context.Context, rdb *redis.Client, section, field string) string {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// CommandsProcessed is Redis's total_commands_processed.
func CommandsProcessed(ctx context.Context, rdb *redis.Client) int64 {
	n, _ := strconv.ParseInt(InfoField(ctx, rdb, "stats", "total_commands_processed"), 10, 64)
	return n
}

// ProcStat reads VmRSS (bytes) and utime+stime (clock ticks) of pid.
func ProcStat(pid int) (rss int64, ticks int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces: count fields after ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return rss, ut + st, nil
}

// ClockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const ClockTicks = 100

// Commands is a snapshot of INFO commandstats: calls by command name
// (lower case, commands inside scripts included).
type Commands map[string]int64

// CommandStats reads INFO commandstats.
func CommandStats(ctx context.Context, rdb *redis.Client) (Commands, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	c := Commands{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		calls, _ := strconv.ParseInt(v, 10, 64)
		c[strings.TrimPrefix(name, "cmdstat_")] = calls
	}
	return c, nil
}

// Bench is the bench's own calls in c (INFO and MONITOR).
func (c Commands) Bench() int64 { return c["info"] + c["monitor"] }

// Total is every call in c but the bench's own.
func (c Commands) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n - c.Bench()
}

// Sub is c minus an earlier snapshot, the bench's own calls left out.
func (c Commands) Sub(earlier Commands) Commands {
	out := Commands{}
	for k, v := range c {
		if k != "info" && k != "monitor" && v != earlier[k] {
			out[k] = v - earlier[k]
		}
	}
	return out
}
