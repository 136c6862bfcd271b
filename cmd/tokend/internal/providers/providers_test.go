package providers

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// TestNames: the message list and the table name the same providers.
func TestNames(t *testing.T) {
	names := strings.Split(strings.NewReplacer(" or ", ", ").Replace(Names), ", ")
	if len(names) != len(specs) {
		t.Errorf("Names lists %d providers, the table has %d", len(names), len(specs))
	}
	for _, n := range names {
		if s, ok := Lookup(n); !ok || s.BaseURL == "" || s.Family == "" || s.DupReason == "" {
			t.Errorf("%s: %+v %v", n, s, ok)
		}
	}
	if _, err := Build(App{ID: "x", Provider: "weixin"}, nil, time.Minute); err == nil {
		t.Error("Build of an unknown provider: no error")
	}
}

// TestBuildApp: an app becomes its token credential and one ticket
// credential per kind, with parent, kind, repeat, probe and budgets.
func TestBuild(t *testing.T) {
	apps := []App{
		{ID: "mp", Provider: "wechat", AppID: "wx1", BaseURL: "http://127.0.0.1:1", Tickets: []string{"jsapi", "wx_card"}, Probe: 10 * time.Minute},
		{ID: "st", Provider: "wechat_stable", AppID: "wx1", BaseURL: "http://127.0.0.1:1"},
		{ID: "hr", Provider: "wecom", AppID: "ww1", BaseURL: "http://127.0.0.1:1", Tickets: []string{"jsapi", "agent_config"}},
	}
	secret := func() string { return "unused" }
	mp, err := Build(apps[0], secret, time.Minute)
	if err != nil || len(mp) != 3 {
		t.Fatalf("mp: %v %+v", err, mp)
	}
	if a := mp[0]; a.ID != "mp" || a.Kind != "wechat" || a.Parent != "" || a.Repeat != upstream.RepeatNew ||
		a.Prober == nil || a.ProbeEvery != 10*time.Minute || a.Budgets != nil {
		t.Errorf("mp token %+v", a)
	}
	for i, kind := range []string{"jsapi", "wx_card"} {
		if a := mp[i+1]; a.ID != "mp:"+kind || a.Kind != kind || a.Parent != "mp" || a.Repeat != upstream.RepeatSameFirstSeen ||
			a.Prober != nil || a.ProbeEvery != 0 || a.Budgets != nil || a.Provider == nil {
			t.Errorf("mp ticket %d %+v", i, a)
		}
	}
	st, err := Build(apps[1], secret, time.Minute)
	if err != nil || len(st) != 1 || st[0].Repeat != upstream.RepeatSameTrusted || st[0].Prober != nil {
		t.Fatalf("stable: %v %+v", err, st)
	}
	hr, err := Build(apps[2], secret, time.Minute)
	if err != nil || len(hr) != 3 {
		t.Fatalf("hr: %v %+v", err, hr)
	}
	if hr[0].Budgets != nil || hr[0].Repeat != upstream.RepeatSameTrusted {
		t.Errorf("hr token %+v", hr[0])
	}
	for _, a := range hr[1:] {
		want := []store.Budget{{Key: a.ID, Limit: 100, Window: time.Hour}, {Key: "wecom-corp.ww1", Limit: 400, Window: time.Hour}}
		if len(a.Budgets) != 2 || a.Budgets[0] != want[0] || a.Budgets[1] != want[1] || a.Parent != "hr" {
			t.Errorf("%s: budgets %+v", a.ID, a.Budgets)
		}
	}
	// The ids are unique and valid credential ids.
	var all []refresher.App
	for _, set := range [][]refresher.App{mp, st, hr} {
		all = append(all, set...)
	}
	seen := map[string]bool{}
	for _, a := range all {
		if seen[a.ID] || !store.ValidCredential(a.ID) {
			t.Errorf("credential id %q repeated or invalid", a.ID)
		}
		seen[a.ID] = true
	}
}
