package lock

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

func TestEvents_wireFormat(t *testing.T) {
	if releasedMessage != `{"type":"released"}` {
		t.Fatalf("releasedMessage = %s", releasedMessage)
	}
	got := acquiredMessage(Term{Value: "secret-token:a", Epoch: 42, ID: "a"})
	if want := `{"type":"acquired","epoch":42,"leader":"a"}`; got != want {
		t.Fatalf("acquired = %s, want %s (and never the lease value)", got, want)
	}
	ev, err := event.Parse(got)
	if err != nil || ev != (event.Event{Type: event.Acquired, Epoch: 42, Leader: "a"}) {
		t.Fatalf("Parse = %+v, %v", ev, err)
	}
}

func TestReact(t *testing.T) {
	mine := Term{Value: "tok:a", Epoch: 10, ID: "a"}
	tests := []struct {
		name    string
		payload string
		leading bool
		want    reaction
	}{
		{"release wakes", releasedMessage, false, reaction{wake: true}},
		{"release while leading wakes (a no-op then)", releasedMessage, true, reaction{wake: true}},
		{"own acquisition", `{"type":"acquired","epoch":10,"leader":"a"}`, true, reaction{}},
		{"another's acquisition: leader verifies", `{"type":"acquired","epoch":11,"leader":"b"}`, true, reaction{verify: true}},
		{"same id, other term: verify", `{"type":"acquired","epoch":9,"leader":"a"}`, true, reaction{verify: true}},
		{"no fields: verify", `{"type":"acquired"}`, true, reaction{verify: true}},
		{"standby rereads the leader", `{"type":"acquired","epoch":11,"leader":"b"}`, false, reaction{reread: true}},
		{"token event ignored", `{"type":"token","app":"x","version":3}`, true, reaction{}},
		{"garbage ignored", `not json`, true, reaction{}},
		{"no type ignored", `{"epoch":3}`, true, reaction{}},
		{"wrong field type ignored", `{"type":"acquired","epoch":"x"}`, true, reaction{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := event.Parse(tt.payload)
			var got reaction
			if err == nil {
				got = react(ev, mine, tt.leading)
			}
			if got != tt.want {
				t.Fatalf("react = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNew_clientTimeout(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if got := MaxClientTimeout(15*time.Second, 10*time.Second); got != 5*time.Second {
		t.Fatalf("MaxClientTimeout = %s, want 5s", got)
	}
	tests := []struct {
		name    string
		timeout time.Duration
		ok      bool
	}{
		{"unset", 0, true},
		{"just below", 5*time.Second - 1, true},
		{"equal to lease_ttl - renew_deadline", 5 * time.Second, false},
		{"above", 6 * time.Second, false},
		{"negative", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Client: rdb, Key: "k", EpochKey: "e", ID: "a", ClientTimeout: tt.timeout})
			if (err == nil) != tt.ok {
				t.Fatalf("New with ClientTimeout %s: err = %v, want ok=%v", tt.timeout, err, tt.ok)
			}
		})
	}
}
