// Package event owns the messages on tokend's events channel
// ({prefix}:events): their one Go type, their JSON wire shapes (a
// CONTRACT: see the README), and Hub, the one subscription per process
// whose messages are fanned out to every part that listens.
//
// Wire shapes, one JSON object per message:
//
//	{"type":"token","app":"<id>","version":N}      a token was written
//	{"type":"report","app":"<id>"}                 a token was reported bad
//	{"type":"released"}                            a leader let go of the lease
//	{"type":"acquired","epoch":N,"leader":"<id>"}  a replica obtained the lease
//	{"type":"input","app":"<id>"}                  a pushed input (a component's verify ticket) was stored
//
// Readers ignore types they do not know. What the package does NOT
// promise: delivery. Pub/sub drops messages while a subscriber is
// disconnected; Hub says when it (re)subscribed, so that a subscriber can
// re-read what it may have missed.
//
// The package is a leaf: it imports nothing from tokend, so that store,
// lock and refresher can all use it (store and lock never import each other).
package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Event types.
const (
	Token    = "token"    // a token was written: App, Version
	Report   = "report"   // a bad token was reported for App
	Released = "released" // the leader released the lease
	// Acquired: a replica obtained the lease and starts term Epoch as
	// Leader. Sent before it starts leading, so that a replica that still
	// believes it leads checks its lease at once.
	Acquired = "acquired"
	// Input: a pushed input of App was stored (an Open Platform
	// component's newest component_verify_ticket); the leader checks App
	// at once if it waits for one.
	Input = "input"
)

// Event is one message on the events channel. Fields a type does not use
// are zero and left out of the JSON.
type Event struct {
	Type    string `json:"type"`
	App     string `json:"app,omitempty"`
	Version int64  `json:"version,omitempty"`
	Epoch   int64  `json:"epoch,omitempty"`
	Leader  string `json:"leader,omitempty"`
}

// Encode is ev's wire form.
func Encode(ev Event) string {
	b, _ := json.Marshal(ev) // strings and integers only: cannot fail
	return string(b)
}

// Parse decodes a message from the channel. A message is input: bad JSON
// or a missing type is an error; unknown types and fields are not (the
// caller ignores what it does not know).
func Parse(payload string) (Event, error) {
	var ev Event
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return Event{}, fmt.Errorf("event: bad message: %w", err)
	}
	if ev.Type == "" {
		return Event{}, errors.New("event: bad message: no type")
	}
	return ev, nil
}

// TokenTemplate splits the token event of app around its version, for a
// Redis script that learns the version only as it writes: the message is
// prefix + version + suffix, exactly Encode(Event{Type: Token, App: app,
// Version: version}) for any version > 0. The shape is defined once, by
// Encode; the script only concatenates.
func TokenTemplate(app string) (prefix, suffix string) {
	const mark = int64(1<<53 - 1) // encoded after app, so the last match is the version
	s := Encode(Event{Type: Token, App: app, Version: mark})
	m := strconv.FormatInt(mark, 10)
	i := strings.LastIndex(s, m)
	return s[:i], s[i+len(m):]
}
