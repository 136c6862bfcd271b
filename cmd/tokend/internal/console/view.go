package console

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
)

// The console's first state is rendered here, on the server, so that the
// page is complete before (and without) its script: the script then
// updates the same elements every poll (ui/console.js renders rows of the
// same shape: keep the two in step; the browser test compares them).

// consoleLabel is a state shown as text, Class its CSS classes ("label
// ok": a bordered label coloured ok, warn or bad; "muted"): the text
// alone says the state.
type consoleLabel struct{ Text, Class string }

// consoleError is an error cell: the code (linked to its guide entry),
// its meaning and the raw message.
type consoleError struct {
	Code    int
	Help    string
	Meaning string
	Message string
}

type consoleReplica struct {
	ID, Seen, Version, Listen string
	Leader, Stale             bool
	Role, State               consoleLabel
}

type consoleCred struct {
	ID, Kind, NextRefresh, Waiting, Fingerprint string
	State                                       consoleLabel
	Valid                                       bool
	ExpMS, LifeMS, LeftMS, LowMS                int64
	Remaining                                   string
	Version                                     int64
	BudgetUsed                                  int
	Error                                       *consoleError
}

type consoleEvent struct {
	Time                                          *time.Time
	ID, Replica, App, Action, Fingerprint, Detail string
	Outcome                                       consoleLabel
	Error                                         *consoleError
}

// Status is what the page shows of GET /v1/status.
type Status struct {
	LeaderID      string
	Replicas      []Replica
	ReplicasError string // why the registry could not be read
	Creds         []Cred // status order: each app's token, then its tickets
}

// Replica is one entry of the replica registry.
type Replica struct {
	ID, Version, Listen string
	Seen                *time.Time
	Stale, Corrupt      bool
}

// Cred is one credential's status: never a value, only its fingerprint.
type Cred struct {
	ID, Provider, Kind, Parent string
	Valid                      bool
	Fingerprint                string
	ExpiresAt, FetchedAt       *time.Time
	Version                    int64
	NextRefresh                *time.Time
	LastError                  string
	LastErrorCode, BudgetUsed  int
	Waiting, WaitingFor        string
	WaitUntil                  *time.Time
}

// Event is one audit entry; Provider is its app's ("" when none).
type Event struct {
	ID                             string
	Time                           *time.Time
	Replica, App, Provider, Action string
	Outcome, Fingerprint, Detail   string
	Errcode                        int
}

// consoleData is the page's first state; Ready false renders the empty
// tables the script fills (no key was sent, or Redis did not answer).
type consoleData struct {
	Ready     bool
	Updated   string
	LeaderID  string
	Replicas  []consoleReplica
	NoReplica string
	Creds     []consoleCred
	Events    []consoleEvent
	AuditNote string
}

// consoleState reads status and the recent audit entries for the page; a
// failed status read renders the empty page (the script retries).
func (a *Handler) consoleState(ctx context.Context, now time.Time) consoleData {
	st, err := a.src.Status(ctx)
	if err != nil {
		return consoleData{}
	}
	d := consoleData{Ready: true, Updated: "Rendered at " + now.UTC().Format("15:04:05") + " UTC",
		LeaderID: st.LeaderID, NoReplica: st.ReplicasError}
	if d.LeaderID == "" {
		d.LeaderID = "none (an election is under way)"
	}
	if d.NoReplica == "" {
		d.NoReplica = "No replica has registered yet."
	}
	for _, r := range st.Replicas {
		d.Replicas = append(d.Replicas, consoleReplicaOf(r, st.LeaderID, now))
	}
	for _, c := range st.Creds {
		d.Creds = append(d.Creds, consoleCredOf(c, now))
	}
	events, note, err := a.src.Audit(ctx, 50)
	if err != nil {
		note = "Recent events unavailable: audit stream unreadable"
	}
	d.AuditNote = note
	for _, e := range events {
		ev := consoleEvent{ID: e.ID, Time: e.Time, Replica: e.Replica, App: e.App, Action: e.Action, Fingerprint: e.Fingerprint,
			Detail: e.Detail, Outcome: consoleLabel{e.Outcome, "label warn"}, Error: consoleErrorOf(e.Provider, e.Errcode, "")}
		if e.Outcome == "ok" || e.Outcome == "acquired" || e.Outcome == "refreshed" {
			ev.Outcome.Class = "label ok"
		}
		d.Events = append(d.Events, ev)
	}
	return d
}

func consoleReplicaOf(r Replica, leaderID string, now time.Time) consoleReplica {
	out := consoleReplica{ID: r.ID, Version: r.Version, Listen: r.Listen, Leader: r.ID == leaderID, Stale: r.Stale,
		Role: consoleLabel{"follower", "muted"}, State: consoleLabel{"live", "label ok"}}
	if out.Leader {
		out.Role = consoleLabel{"\u2605 leader", "label ok"}
	}
	switch {
	case r.Corrupt:
		out.State = consoleLabel{"unreadable entry", "label bad"}
	case r.Stale:
		out.State = consoleLabel{"stale", "label warn"}
	}
	if r.Seen != nil {
		out.Seen = consoleDur(r.Seen.Sub(now))
	}
	return out
}

func consoleCredOf(c Cred, now time.Time) consoleCred {
	out := consoleCred{ID: c.ID, Kind: c.Kind, Version: c.Version, BudgetUsed: c.BudgetUsed, Fingerprint: c.Fingerprint,
		Error: consoleErrorOf(c.Provider, c.LastErrorCode, c.LastError)}
	if c.Parent != "" {
		out.Kind += " of " + c.Parent
	}
	switch {
	case c.LastError != "" && !c.Valid:
		out.State = consoleLabel{"failing", "label bad"}
	case !c.Valid:
		out.State = consoleLabel{"no token", "label bad"}
	case c.LastError != "":
		out.State = consoleLabel{"valid, last refresh failed", "label warn"}
	default:
		out.State = consoleLabel{"valid", "label ok"}
	}
	if c.Valid && c.ExpiresAt != nil {
		fetched := *c.ExpiresAt
		if c.FetchedAt != nil {
			fetched = *c.FetchedAt
		}
		out.Valid, out.ExpMS = true, c.ExpiresAt.UnixMilli()
		out.LifeMS = max(c.ExpiresAt.Sub(fetched).Milliseconds(), 1)
		out.LeftMS = max(c.ExpiresAt.Sub(now).Milliseconds(), 0)
		out.LowMS = out.LifeMS / 10
		out.Remaining = "expired"
		if out.LeftMS > 0 {
			out.Remaining = fmt.Sprintf("%s left (%d%%)", consoleDur(time.Duration(out.LeftMS)*time.Millisecond), (100*out.LeftMS+out.LifeMS/2)/out.LifeMS)
		}
	}
	if c.NextRefresh != nil {
		if d := c.NextRefresh.Sub(now); d >= 0 {
			out.NextRefresh = "in " + consoleDur(d)
		} else {
			out.NextRefresh = consoleDur(d)
		}
	}
	if c.Waiting != "" {
		out.Waiting = c.Waiting
		if c.WaitingFor != "" {
			out.Waiting += " (" + c.WaitingFor + ")"
		}
		if c.WaitUntil != nil {
			out.Waiting += " until " + c.WaitUntil.UTC().Format("15:04:05") + " UTC"
		}
	}
	return out
}

// consoleErrorOf is an error cell, nil when there is no error; the code's
// meaning and link come from the errcode guide.
func consoleErrorOf(provider string, code int, msg string) *consoleError {
	if code == 0 && msg == "" {
		return nil
	}
	e := &consoleError{Code: code, Message: msg}
	if entry, ok := errcodes.Lookup(errcodes.PlatformOf(provider), code); ok && code != 0 {
		e.Help, e.Meaning = entry.Help(), entry.Meaning
	}
	return e
}

// consoleDur is d as the script's dur() prints it: "1h 05m", "3m 07s",
// "12s"; a negative d ends in " ago".
func consoleDur(d time.Duration) string {
	s := int64(d / time.Second)
	neg := d < 0
	if neg {
		s = int64(-d / time.Second)
	}
	h, m := s/3600, s%3600/60
	s %= 60
	var t string
	switch {
	case h > 0:
		t = strconv.FormatInt(h, 10) + "h " + fmt.Sprintf("%02dm", m)
	case m > 0:
		t = strconv.FormatInt(m, 10) + "m " + fmt.Sprintf("%02ds", s)
	default:
		t = strconv.FormatInt(s, 10) + "s"
	}
	if neg {
		return t + " ago"
	}
	return t
}
