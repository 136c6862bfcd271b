package store

import "testing"

func TestValidCredential(t *testing.T) {
	for id, want := range map[string]bool{
		"mp-main": true, "mp-main:jsapi": true, "mp-main:agent_config": true,
		"comp/wx0123": true, "comp/wx0123:jsapi": true,
		"": false, "mp main": false, "mp-main:": false, ":jsapi": false, "mp-main:JSAPI": false,
		"a/b/c": false, "a:b:c": false, "/wx": false, "comp/": false, "mp-main:jsapi/x": false,
		"{tokend}": false, "mp-main\n": false,
	} {
		if got := ValidCredential(id); got != want {
			t.Errorf("ValidCredential(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestParent(t *testing.T) {
	for _, c := range []struct{ id, parent, kind string }{
		{"mp-main", "mp-main", ""},
		{"mp-main:jsapi", "mp-main", "jsapi"},
		{"comp/wx1:wx_card", "comp/wx1", "wx_card"},
	} {
		if p, k := Parent(c.id); p != c.parent || k != c.kind {
			t.Errorf("Parent(%q) = %q, %q; want %q, %q", c.id, p, k, c.parent, c.kind)
		}
	}
}
