package ledger

import "time"

// Ticket is one JS-SDK ticket.
type Ticket struct {
	Value     string
	Platform  string
	Owner     string // app key, or the corp key for a WeCom jsapi ticket
	Kind      string
	ExpiresAt time.Time
	killedAt  time.Time // rotated out of band: dead from then on; zero if not
}

// TicketState is the state of t at now: CodeOK, CodeExpired or
// CodeNotLatest (rotated out of band).
func TicketState(now time.Time, t *Ticket) int {
	switch {
	case !now.Before(t.ExpiresAt):
		return CodeExpired
	case !t.killedAt.IsZero() && !now.Before(t.killedAt):
		return CodeNotLatest
	}
	return CodeOK
}

// LiveTicket returns the live ticket of owner for kind, issuing one if
// there is none, and the expires_in to answer.
func (l *Ledger) LiveTicket(now time.Time, platform, owner, kind string) (string, int) {
	t := l.tickets[owner+"/"+kind]
	if t == nil || TicketState(now, t) != CodeOK {
		t = l.issueTicket(now, platform, owner, kind)
	}
	left := l.cfg.TicketLifetime
	if l.cfg.TicketRemainingExpiresIn {
		left = t.ExpiresAt.Sub(now)
	}
	return t.Value, Seconds(left)
}

func (l *Ledger) issueTicket(now time.Time, platform, owner, kind string) *Ticket {
	l.countIssue(now)
	t := &Ticket{
		Value:     RandomString(64), // 86 characters, like real tickets
		Platform:  platform,
		Owner:     owner,
		Kind:      kind,
		ExpiresAt: now.Add(l.cfg.TicketLifetime),
	}
	l.tickets[owner+"/"+kind] = t
	l.byValue[t.Value] = t
	l.audit.TicketsIssued[owner+"/"+kind]++
	return t
}

// TicketByValue returns the ticket v, if it was issued and is not pruned.
func (l *Ledger) TicketByValue(v string) (*Ticket, bool) {
	t, ok := l.byValue[v]
	return t, ok
}

// RotateTicket kills the live ticket of owner for kind at now, if any, and
// issues a new one.
func (l *Ledger) RotateTicket(now time.Time, platform, owner, kind string) string {
	if t := l.tickets[owner+"/"+kind]; t != nil && t.killedAt.IsZero() {
		t.killedAt = now
	}
	return l.issueTicket(now, platform, owner, kind).Value
}
