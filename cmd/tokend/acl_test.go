package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/reader"
)

const aclConfig = `
redis: {url: "redis://127.0.0.1:1/0"}
apps:
  - {id: mp-main, provider: wechat, appid: wx1, secret_env: NOT_NEEDED, tickets: [jsapi]}
  - {id: other, provider: wechat, appid: wx2, secret_env: NOT_NEEDED, tickets: [jsapi]}
`

// aclLine runs `tokend acl` and returns what it printed.
func aclLine(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokend.yaml")
	if err := os.WriteFile(path, []byte(aclConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"APP_PW": "reader-password"}[k] }
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"acl", "-config", path}, args...), getenv, os.ReadFile, &out, &errOut); code != exitOK {
		t.Fatalf("tokend acl: exit %d: %s", code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// TestACL_realRedis loads the rule `tokend acl` prints into a real
// redis-server: the reader of mp-main can GET its token and ticket (raw
// and through the Go reader library) and report them; it cannot read the
// other app's keys or meta, nor the lease, nor write anything but a
// report.
func TestACL_realRedis(t *testing.T) {
	ctx := context.Background()
	adm, app, st := aclRedis(t, aclLine(t, "-app", "mp-main", "-password-env", "APP_PW", "-library"))
	k := st.Keys()
	for _, id := range []string{"mp-main", "mp-main:jsapi"} {
		if v, err := app.Get(ctx, k.Token(id)).Result(); err != nil || v != "value-of-"+id {
			t.Errorf("GET %s: %q, %v", k.Token(id), v, err)
		}
	}
	r, err := reader.New(app, reader.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, id := range []string{"mp-main", "mp-main:jsapi"} {
		if tok, err := r.Token(ctx, id); err != nil || tok.Value != "value-of-"+id {
			t.Errorf("reader.Token(%s): %q, %v", id, tok.Value, err)
		}
	}
	if _, err := r.Token(ctx, "other"); err == nil {
		t.Error("reader.Token(other) as mp-main's reader: no error")
	}
	if err := r.ReportInvalid(ctx, "mp-main", "value-of-mp-main"); err != nil {
		t.Errorf("report for mp-main: %v", err)
	}
	if got, _ := st.PendingReport(ctx, "mp-main"); got != "value-of-mp-main" {
		t.Errorf("pending report = %q", got)
	}
	denied := map[string]*redis.Cmd{}
	for name, cmd := range map[string][]any{
		"GET other token":      {"GET", k.Token("other")},
		"GET other ticket":     {"GET", k.Token("other:jsapi")},
		"HMGET other meta":     {"HMGET", k.Meta("other"), "token"},
		"HGETALL own meta":     {"HGETALL", k.Meta("mp-main")},
		"GET lease":            {"GET", k.Lease()},
		"HMGET reports":        {"HMGET", k.Reports(), "other"},
		"SET own token":        {"SET", k.Token("mp-main"), "x"},
		"DEL own token":        {"DEL", k.Token("mp-main")},
		"HSET own meta":        {"HSET", k.Meta("mp-main"), "version", "9"},
		"SET lease":            {"SET", k.Lease(), "x"},
		"HSET status":          {"HSET", k.Status("mp-main"), "x", "y"},
		"HDEL reports":         {"HDEL", k.Reports(), "mp-main"},
		"KEYS":                 {"KEYS", "*"},
		"SCAN":                 {"SCAN", "0"},
		"FLUSHALL":             {"FLUSHALL"},
		"PUBLISH elsewhere":    {"PUBLISH", "elsewhere", "x"},
		"EVAL write own":       {"EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", k.Token("mp-main")},
		"EVAL hset own meta":   {"EVAL", "return redis.call('HSET', KEYS[1], 'version', '9')", "1", k.Meta("mp-main")},
		"EVAL read other":      {"EVAL", "return redis.call('GET', KEYS[1])", "1", k.Token("other")},
		"EVAL undeclared read": {"EVAL", "return redis.call('GET', '" + k.Token("other") + "')", "0"},
	} {
		denied[name] = app.Do(ctx, cmd...)
	}
	for name, c := range denied {
		if err := c.Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") && !strings.Contains(err.Error(), "user executing the script can't") {
			t.Errorf("%s as mp-main's reader: %v, want a permission error", name, err)
		}
	}
	if v, _ := adm.Get(ctx, k.Token("mp-main")).Result(); v != "value-of-mp-main" {
		t.Errorf("own token after the denied writes: %q", v)
	}
}

// aclRedis starts a real redis-server with an admin and the users.acl
// line, writes a token and a ticket of mp-main and of other, and returns
// the admin's client, the reader's (tokend-app-mp-main, reader-password)
// and the admin's store.
func aclRedis(t *testing.T, line string) (adm, app *redis.Client, st *store.Store) {
	t.Helper()
	acl := filepath.Join(t.TempDir(), "users.acl")
	admin := "user admin on >admin-password ~* &* +@all"
	if err := os.WriteFile(acl, []byte(admin+"\n"+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := redisserver.StartACL(t, acl)
	ctx := context.Background()
	adm = srv.User("admin", "admin-password")
	st, err := store.New(store.Config{Client: adm})
	if err != nil {
		t.Fatal(err)
	}
	adm.Set(ctx, st.Keys().Lease(), "L", time.Minute)
	for _, id := range []string{"mp-main", "mp-main:jsapi", "other", "other:jsapi"} {
		tk, err := st.TakeTicket(ctx, id, "L", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.WriteToken(ctx, store.Write{App: id, Ticket: tk, Token: "value-of-" + id, ExpiresIn: time.Hour, SafetyMargin: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	return adm, srv.User("tokend-app-mp-main", "reader-password"), st
}

// TestACL_rawReader: without -library the reader may GET its token and
// ticket and report (HSET + PUBLISH in MULTI/EXEC, as README shows), and
// may not run a script (EVAL could block Redis) or read the meta hash.
func TestACL_rawReader(t *testing.T) {
	ctx := context.Background()
	_, app, st := aclRedis(t, aclLine(t, "-app", "mp-main", "-password-env", "APP_PW"))
	k := st.Keys()
	for _, id := range []string{"mp-main", "mp-main:jsapi"} {
		if v, err := app.Get(ctx, k.Token(id)).Result(); err != nil || v != "value-of-"+id {
			t.Errorf("GET %s: %q, %v", k.Token(id), v, err)
		}
	}
	if _, err := app.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k.Reports(), "mp-main", "value-of-mp-main")
		p.Publish(ctx, k.Events(), `{"type":"report","app":"mp-main"}`)
		return nil
	}); err != nil {
		t.Errorf("raw report: %v", err)
	}
	if got, _ := st.PendingReport(ctx, "mp-main"); got != "value-of-mp-main" {
		t.Errorf("pending report = %q", got)
	}
	for name, cmd := range map[string][]any{
		"EVAL busy loop":   {"EVAL", "return 1", "0"},
		"EVALSHA":          {"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"},
		"HMGET own meta":   {"HMGET", k.Meta("mp-main"), "token"},
		"SET own token":    {"SET", k.Token("mp-main"), "x"},
		"GET other token":  {"GET", k.Token("other")},
		"GET other ticket": {"GET", k.Token("other:jsapi")},
	} {
		if err := app.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s as mp-main's raw reader: %v, want NOPERM", name, err)
		}
	}
}

// TestACL_setuser: -setuser prints the same rule as an ACL SETUSER
// command, starting from reset; without -password-env no password.
func TestACL_setuser(t *testing.T) {
	line := aclLine(t, "-app", "other", "-setuser", "-user", "billing")
	if !strings.HasPrefix(line, "ACL SETUSER billing reset on resetkeys %R~{tokend}:token:other ") || strings.Contains(line, "#") {
		t.Fatalf("setuser line: %s", line)
	}
	if strings.Contains(line, "mp-main") {
		t.Fatalf("other's rule names mp-main: %s", line)
	}
}

// TestACL_badArgs: a missing -app, an app not configured, a bad user
// name, an unset password variable and a bad ticket kind exit 2.
func TestACL_badArgs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokend.yaml")
	if err := os.WriteFile(path, []byte(aclConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// A ticket kind the daemon would refuse must not widen the rule
	// ("~*" would grant every key).
	injected := filepath.Join(t.TempDir(), "injected.yaml")
	if err := os.WriteFile(injected, []byte(strings.Replace(aclConfig, "tickets: [jsapi]}", `tickets: ["jsapi ~* +@all"]}`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"acl", "-config", path},
		{"acl", "-config", path, "-app", "nope"},
		{"acl", "-config", path, "-app", "mp-main", "-user", "a b"},
		{"acl", "-config", path, "-app", "mp-main", "-password-env", "UNSET"},
		{"acl", "-config", injected, "-app", "mp-main"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, func(string) string { return "" }, os.ReadFile, &out, &errOut); code != exitConfig || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, want 2 and nothing", args, code, out.String())
		}
	}
}
