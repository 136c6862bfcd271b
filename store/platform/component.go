package platform

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
)

// The component verify ticket. The component's own token is an ordinary
// credential (id = the component id); what is particular to a component
// is kept here, beside the authorizer list.

var (
	//go:embed lua/verify_ticket_write.lua
	luaVerifyTicketWrite string
	//go:embed lua/verify_ticket_read.lua
	luaVerifyTicketRead string

	verifyTicketWriteScript = store.NewScript(luaVerifyTicketWrite)
	verifyTicketReadScript  = store.NewScript(luaVerifyTicketRead)
)

// VerifyTicket is the hash key holding a component's newest
// component_verify_ticket: fields ticket, create_time (the push's
// CreateTime, unix seconds) and received_at (Redis TIME when stored, unix
// ms).
func VerifyTicketKey(k store.Keys, component string) string { return k.Tag() + ":cvt:" + component }

// StoredVerifyTicket is a component's verify ticket as stored. Its String
// never shows the ticket.
type StoredVerifyTicket struct {
	Ticket string
	// CreateTime is the push's CreateTime (WeChat's clock, seconds).
	CreateTime time.Time
	// ReceivedAt is Redis TIME when it was stored; Now Redis TIME at the
	// read: compare the two, never with a local clock.
	ReceivedAt, Now time.Time
}

func (t StoredVerifyTicket) String() string {
	return fmt.Sprintf("verify_ticket(%s, create_time=%d)", store.Fingerprint(t.Ticket), t.CreateTime.Unix())
}

// Age is how long ago (Redis's clock) the ticket was stored.
func (t StoredVerifyTicket) Age() time.Duration { return t.Now.Sub(t.ReceivedAt) }

// ErrBadVerifyTicket: StoreVerifyTicket was given an empty ticket or a
// CreateTime before 1970 or past 2^53 seconds; nothing was written.
var ErrBadVerifyTicket = errors.New("platform: bad verify ticket")

// StoreVerifyTicket stores ticket as component's verify ticket unless the
// stored one has the same or a later CreateTime: a push received twice, or
// an older push arriving late, changes nothing (stored false). A stored
// ticket publishes an event.Input for component, which wakes a leader
// waiting for it. Garbage in
// the key is replaced and handed to Config.OnCorrupt as repaired.
func (s *Store) StoreVerifyTicket(ctx context.Context, component, ticket string, createTime time.Time) (stored bool, err error) {
	if !store.ValidApp(component) {
		return false, store.ErrInvalidApp
	}
	sec := createTime.Unix()
	if ticket == "" || sec < 0 || sec > store.MaxSafeInt {
		return false, ErrBadVerifyTicket
	}
	ev := event.Encode(event.Event{Type: event.Input, App: component})
	cmd, _, err := s.Store.RunScript(ctx, verifyTicketWriteScript, []string{VerifyTicketKey(s.keys, component)}, ticket, sec, s.keys.Events(), ev)
	if err != nil {
		return false, fmt.Errorf("platform: store verify ticket: %w", err)
	}
	res, err := cmd.Slice()
	if err != nil || len(res) != 3 {
		return false, fmt.Errorf("platform: store verify ticket: unexpected reply")
	}
	s.Store.NoteCorrupt(store.ParseCorrupt(res[2], component)...)
	return store.ReplyInt(res[0]) == 1, nil
}

// ReadVerifyTicket reads component's verify ticket. store.ErrNotFound when none
// is stored; a *CorruptError (ErrCorrupt) when the key holds garbage:
// never a reason for an upstream call.
func (s *Store) ReadVerifyTicket(ctx context.Context, component string) (StoredVerifyTicket, error) {
	if !store.ValidApp(component) {
		return StoredVerifyTicket{}, store.ErrInvalidApp
	}
	res, err := verifyTicketReadScript.Run(ctx, s.rdb(), []string{VerifyTicketKey(s.keys, component)}).Slice()
	if err != nil {
		return StoredVerifyTicket{}, fmt.Errorf("platform: read verify ticket: %w", err)
	}
	if len(res) != 5 {
		return StoredVerifyTicket{}, fmt.Errorf("platform: read verify ticket: unexpected reply of %d values", len(res))
	}
	corrupt := store.ParseCorrupt(res[4], component)
	s.Store.NoteCorrupt(corrupt...)
	if c := store.FirstUnrepaired(corrupt); c != nil {
		return StoredVerifyTicket{}, c
	}
	tk, _ := res[0].(string)
	t := StoredVerifyTicket{
		Ticket: tk, CreateTime: time.Unix(store.ReplyInt(res[1]), 0),
		ReceivedAt: time.UnixMilli(store.ReplyInt(res[2])), Now: time.UnixMilli(store.ReplyInt(res[3])),
	}
	if tk == "" {
		return StoredVerifyTicket{Now: t.Now}, store.ErrNotFound
	}
	return t, nil
}
