package errcodes_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
	"github.com/tokend/tokend/refresher/dingtalk"
	"github.com/tokend/tokend/refresher/feishu"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wecom"
)

// TestTable_wellFormed: known platforms in guide order, codes ascending,
// one anchor per entry, every entry explained.
func TestTable_wellFormed(t *testing.T) {
	order := map[string]int{}
	for i, p := range errcodes.Platforms {
		order[p.ID] = i
	}
	anchors := map[string]bool{}
	var prev errcodes.Entry
	for i, e := range errcodes.All() {
		if _, ok := order[e.Platform]; !ok {
			t.Errorf("%s: unknown platform", e.Anchor())
		}
		if anchors[e.Anchor()] {
			t.Errorf("%s listed twice", e.Anchor())
		}
		anchors[e.Anchor()] = true
		if e.Meaning == "" || e.Tokend == "" {
			t.Errorf("%s: meaning or what tokend does is empty", e.Anchor())
		}
		if e.Last != 0 && e.Last <= e.Code {
			t.Errorf("%s: family %d-%d", e.Anchor(), e.Code, e.Last)
		}
		if i > 0 && e.Platform == prev.Platform && e.Code < prev.Code && prev.Last == 0 && e.Last == 0 {
			t.Errorf("%s after %s: codes not ascending", e.Anchor(), prev.Anchor())
		}
		if i > 0 && order[e.Platform] < order[prev.Platform] {
			t.Errorf("%s after %s: platforms out of order", e.Anchor(), prev.Anchor())
		}
		prev = e
	}
}

// TestTable_covers: the codes issue 19 names are all explained.
func TestTable_covers(t *testing.T) {
	want := map[string][]int{
		errcodes.WeChat: {-1, 40001, 40013, 40014, 40125, 40164, 40243, 41001, 41002, 41004, 42001, 45009, 45011,
			48006, 61004, 61005, 61006, 61009, 61010, 61023, 89501, 89502, 89503, 89506, 89507, 89599},
		errcodes.WeCom:    {40001, 40013, 42001, 45009, 48002, 60020},
		errcodes.Feishu:   {10003, 10014, 99991663, 99991664},
		errcodes.DingTalk: {40014, 40089, 88},
	}
	for p, codes := range want {
		for _, c := range codes {
			if _, ok := errcodes.Lookup(p, c); !ok {
				t.Errorf("%s %d not in the table", p, c)
			}
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		provider string
		code     int
		want     string
	}{
		{"wechat", 40164, "/ui/errcodes#wechat-40164"},
		{"wechat_stable", 40164, "/ui/errcodes#wechat-40164"},
		{"component", 61023, "/ui/errcodes#wechat-61023"},
		{"wechat", 89503, "/ui/errcodes#wechat-89503"},
		{"wechat", 89502, "/ui/errcodes#wechat-895xx"}, // in the family only
		{"wechat", 89499, ""},
		{"wechat", 89600, ""},
		{"wecom", 60020, "/ui/errcodes#wecom-60020"},
		{"wecom", 40164, ""}, // WeChat's, not WeCom's
		{"feishu", 99991663, "/ui/errcodes#feishu-99991663"},
		{"dingtalk", -1, "/ui/errcodes#dingtalk--1"},
		{"wechat", 0, ""},
		{"nosuch", 40164, ""},
	} {
		if got := errcodes.Help(tc.provider, tc.code); got != tc.want {
			t.Errorf("Help(%q, %d) = %q, want %q", tc.provider, tc.code, got, tc.want)
		}
	}
}

// TestTable_matchesClassifiers: the class each entry states is the one the
// provider's classifier gives, on the token endpoint and on calls made
// with a token, so the guide's "what tokend does" follows the code.
func TestTable_matchesClassifiers(t *testing.T) {
	classify := map[string][2]func(int) upstream.Class{
		errcodes.WeChat:   {wechat.Classify, wechat.ClassifyWithToken},
		errcodes.WeCom:    {wecom.Classify, wecom.ClassifyWithToken},
		errcodes.Feishu:   {feishu.Classify, nil},
		errcodes.DingTalk: {dingtalk.Classify, dingtalk.ClassifyWithToken},
	}
	for _, e := range errcodes.All() {
		fs := classify[e.Platform]
		codes := []int{e.Code}
		if e.Last > 0 {
			codes = append(codes, (e.Code+e.Last)/2, e.Last)
		}
		for _, c := range codes {
			if e.Class != "" {
				if got := fs[0](c).String(); got != e.Class {
					t.Errorf("%s (%d): table says class %s on the token endpoint, the classifier %s", e.Anchor(), c, e.Class, got)
				}
			}
			if e.TokenCall != "" && fs[1] != nil {
				if got := fs[1](c).String(); got != e.TokenCall {
					t.Errorf("%s (%d): table says %s on calls with a token, the classifier %s", e.Anchor(), c, e.TokenCall, got)
				}
			}
		}
	}
	// Every code a classifier singles out is in the table.
	for p, fs := range classify {
		for c := -1; c < 100000; c++ {
			special := fs[0](c) != upstream.ClassRetry || (fs[1] != nil && fs[1](c) != upstream.ClassRetry)
			if _, ok := errcodes.Lookup(p, c); special && !ok {
				t.Errorf("%s %d: classified %s but not in the table", p, c, fs[0](c))
			}
		}
	}
}

// TestReadme: README.md's table under errcodes.ReadmeHeading is
// errcodes.Markdown(), row for row. Skips only while README has no such
// heading.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, found := readmeTable(string(b))
	if !found {
		t.Skipf("README.md has no %q heading yet: paste the section from `go test -run TestReadme -v` output there", errcodes.ReadmeHeading)
	}
	want := strings.Split(strings.TrimSuffix(errcodes.Markdown(), "\n"), "\n")
	if !slices.Equal(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("README.md %q table row %d:\n got: %s\nwant: %s", errcodes.ReadmeHeading, i, g, w)
				break
			}
		}
		t.Errorf("README.md's errcode table (%d rows) differs from the Go table (%d rows); the table to paste:\n%s",
			len(got), len(want), errcodes.Markdown())
	}
}

// readmeTable returns the lines of the first table under the heading.
func readmeTable(readme string) ([]string, bool) {
	lines := strings.Split(readme, "\n")
	start := slices.Index(lines, errcodes.ReadmeHeading)
	if start < 0 {
		return nil, false
	}
	var out []string
	for _, l := range lines[start+1:] {
		if strings.HasPrefix(l, "#") {
			break
		}
		if strings.HasPrefix(l, "|") {
			out = append(out, l)
		} else if len(out) > 0 {
			break
		}
	}
	return out, true
}
