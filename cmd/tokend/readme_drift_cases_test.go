package main

import (
	"os"
	"strings"
	"testing"
)

// readEN returns README.md, which is always in the repo.
func readEN(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(readmeEN)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// driftProblems compares README.md with an edited copy of itself.
func driftProblems(en, zh string) []string {
	return compareReadmes(parseReadme(en), parseReadme(zh))
}

func wantProblem(t *testing.T, probs []string, parts ...string) {
	t.Helper()
	for _, p := range probs {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(p, part)
		}
		if all {
			return
		}
	}
	t.Errorf("no problem mentions %q; got %d problems:\n%s", parts, len(probs), strings.Join(probs, "\n"))
}

// edit replaces old in en by new (every occurrence with all), failing when
// README.md no longer has old, so that a test never compares an unedited copy.
func edit(t *testing.T, en, old, new string, all bool) string {
	t.Helper()
	if !strings.Contains(en, old) {
		t.Fatalf("README.md no longer has %q; pick another place to edit", old)
	}
	if all {
		return strings.ReplaceAll(en, old, new)
	}
	return strings.Replace(en, old, new, 1)
}

// TestREADME_driftDetects: the comparison fails on a renamed config key, a
// changed command line or a reshaped table in one README only, and says
// what differs.
func TestREADME_driftDetects(t *testing.T) {
	en := readEN(t)
	if probs := driftProblems(en, en); len(probs) != 0 {
		t.Fatalf("README.md against itself: %q", probs)
	}
	if n := len(parseReadme(en).blocks); n < 20 {
		t.Fatalf("README.md: %d code blocks found; the parser misses some", n)
	}
	for _, tt := range []struct {
		name, old, new string
		all            bool
		want           [][]string // each: parts one problem must all contain
	}{
		{"config key renamed everywhere", "refresh.cooldown", "refresh.cool_down", true, [][]string{
			{"span `refresh.cooldown`", "missing"},
			{"span `refresh.cool_down`", "extra"},
			{"table", `span "refresh.cooldown" missing`},
		}},
		{"config key renamed in one list item", "`refresh.cooldown` and the daily budget",
			"`refresh.cool_down` and the daily budget", false, [][]string{
				{"span `refresh.cooldown`", "in README.zh-CN.md (missing)"},
			}},
		{"config key in a code block", "  cooldown: 30s ", "  cool_down: 30s", false, [][]string{
			{"code block", "differs at its line", "cooldown: 30s"},
		}},
		{"command line", "\ngo test -race ./...\n", "\ngo test ./...\n", false, [][]string{
			{"code block", "differs at its line", `"go test ./..."`},
		}},
		{"code block dropped", "```sh\ngo run ./cmd/tokend\n```\n", "", false, [][]string{
			{"missing from README.zh-CN.md"},
		}},
		{"table row dropped", "| `refresh.min_expires_in` | 60s | 1s - 24h | |\n", "", false, [][]string{
			{"columns x", "rows"},
		}},
		{"number in a table", "| `refresh.daily_budget` | 1000 |", "| `refresh.daily_budget` | 1500 |", false, [][]string{
			{`number "1000" missing`},
			{`number "1500" extra`},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probs := driftProblems(en, edit(t, en, tt.old, tt.new, tt.all))
			for _, parts := range tt.want {
				wantProblem(t, probs, parts...)
			}
		})
	}
}

// TestREADME_driftIgnoresProse: translated and rewrapped prose around the
// same code spans compares equal, in paragraphs, list items and tables.
func TestREADME_driftIgnoresProse(t *testing.T) {
	en := readEN(t)
	for _, r := range []struct{ old, new string }{
		{"A central token server (中控服务器) for WeChat-style access tokens.", "微信系 access_token 的中控服务器。"},
		// A list item, rewrapped: the span across a line break stays one span.
		{"- **One YAML document, no duplicate keys.** A second document is an error (it\n  used to be ignored); a key written twice is named as such: `config:\n  redis.url: duplicate key (lines 4 and 5)`.",
			"- **只能有一个 YAML 文档，不许重复键。** 第二个文档报错；重复的键会被点名：`config: redis.url: duplicate key (lines 4 and 5)`。"},
		// A table cell.
		{"| `refresh.cooldown` | 30s | 100ms - 1h | |", "| `refresh.cooldown` | 30s | 100ms - 1h（冷却期） | |"},
	} {
		if probs := driftProblems(en, edit(t, en, r.old, r.new, false)); len(probs) != 0 {
			t.Errorf("prose change %q reported: %q", r.new, probs)
		}
	}
}

// TestCodeSpans: CommonMark backtick runs; an unclosed run is literal.
func TestCodeSpans(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"a `x` b ``y ` z`` c", []string{"x", "y ` z"}},
		{"unclosed ` tick `ok`", []string{" tick "}},
		{"``` never closed", nil},
		{"`a\n  b` and `jsapi\\|wx_card`", []string{"a b", "jsapi\\|wx_card"}},
	} {
		got, _ := codeSpans(tt.in)
		if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
			t.Errorf("codeSpans(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
