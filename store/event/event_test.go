package event

import (
	"strconv"
	"testing"
)

// TestEncode_wireShapes pins the CONTRACT shapes of every event type.
func TestEncode_wireShapes(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"token", Event{Type: Token, App: "mp-main", Version: 7}, `{"type":"token","app":"mp-main","version":7}`},
		{"token of a ticket credential", Event{Type: Token, App: "mp-main:jsapi", Version: 1}, `{"type":"token","app":"mp-main:jsapi","version":1}`},
		{"report", Event{Type: Report, App: "mp-main"}, `{"type":"report","app":"mp-main"}`},
		{"released", Event{Type: Released}, `{"type":"released"}`},
		{"acquired", Event{Type: Acquired, Epoch: 42, Leader: "a"}, `{"type":"acquired","epoch":42,"leader":"a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.ev); got != tt.want {
				t.Fatalf("Encode = %s, want %s", got, tt.want)
			}
			if back, err := Parse(tt.want); err != nil || back != tt.ev {
				t.Fatalf("Parse = %+v, %v; want %+v", back, err, tt.ev)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, p := range []string{"", "{", `{"app":"x"}`, "[1]", `{"type":""}`, `{"type":"acquired","epoch":"x"}`} {
		if _, err := Parse(p); err == nil {
			t.Errorf("Parse(%q) accepted", p)
		}
	}
	ev, err := Parse(`{"type":"future","extra":[1,2]}`)
	if err != nil || ev.Type != "future" {
		t.Fatalf("unknown type and field: %+v, %v; want the type, no error", ev, err)
	}
}

// TestTokenTemplate: what a script builds from the template is exactly
// Encode's token event, at the version edges and for app ids made of
// digits (the template's marker must not match inside the id).
func TestTokenTemplate(t *testing.T) {
	for _, app := range []string{"a", "mp-main", "9007199254740991", "x_9007199254740991.9007199254740991"} {
		pre, suf := TokenTemplate(app)
		for _, v := range []int64{1, 2, 10, 1<<53 - 1, 1796165663000} {
			got := pre + strconv.FormatInt(v, 10) + suf
			if want := Encode(Event{Type: Token, App: app, Version: v}); got != want {
				t.Fatalf("template(%q) with %d = %s, want %s", app, v, got, want)
			}
		}
	}
}
