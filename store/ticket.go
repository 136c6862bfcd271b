package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Ticket is a fetch ticket: the fencing number of one upstream fetch.
type Ticket struct {
	N int64
	// IssuedAt is Redis TIME when the ticket was taken: the fetch's send
	// time on Redis's clock, from which expires_at is counted. A refused
	// ticket (ErrBudgetExhausted) carries it too, with N zero.
	IssuedAt time.Time
	// BudgetUsed counts the credential's fetches today, this one included.
	BudgetUsed int
	// Acked: Config.MinReplicasAck replicas acknowledged the ticket within
	// Config.WaitTimeout (always true without MinReplicasAck). When false
	// the ticket is taken on the master only; tickets still grow after a
	// failover (they follow Redis TIME), so it may be used.
	Acked bool
}

// Budget is a cap on fetches of a credential besides the daily budget: at
// most Limit fetch tickets per Window, windows cut on Redis TIME (aligned
// on the Unix epoch: a 1h window starts on the hour, UTC), counted under
// Key: the credential id for a cap of its own, or a shared name for a cap
// several credentials share (WeCom's 400 ticket calls an hour per corp:
// "wecom-corp.<corpid>"). Key matches [A-Za-z0-9_.:/-]{1,128} and never
// holds a secret; Window is whole seconds, at least one. Its count lives
// in Keys.Window(b) and expires when the window ends.
type Budget struct {
	Key    string
	Limit  int
	Window time.Duration
}

var budgetKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,128}$`)

// CheckBudget says what is wrong with b, or nil: the one rule for a
// Budget, used by TakeTicketBudgets and by configurations that build one.
func CheckBudget(b Budget) error {
	switch {
	case !budgetKeyPattern.MatchString(b.Key):
		return fmt.Errorf("store: budget key %q must match [A-Za-z0-9_.:/-]{1,128}", b.Key)
	case b.Limit < 1 || b.Limit > maxSafeInt:
		return fmt.Errorf("store: budget %s: limit must be at least 1, got %d", b.Key, b.Limit)
	case b.Window < time.Second || b.Window%time.Second != 0 || b.Window.Milliseconds() > maxSafeInt/2:
		return fmt.Errorf("store: budget %s: window must be whole seconds, at least 1s, got %s", b.Key, b.Window)
	}
	return nil
}

// CheckBudgets checks each budget (CheckBudget) and that no two count
// under one key (same Key and Window): one fetch would count twice.
func CheckBudgets(budgets []Budget) error {
	seen := map[string]bool{}
	for i, b := range budgets {
		if err := CheckBudget(b); err != nil {
			return fmt.Errorf("%w (budget %d)", err, i)
		}
		k := (Keys{}).Window(b)
		if seen[k] {
			return fmt.Errorf("store: budget %s per %s given twice (budget %d)", b.Key, b.Window, i)
		}
		seen[k] = true
	}
	return nil
}

// BudgetError is a ticket a budget refused; nothing was counted anywhere.
// errors.Is(err, ErrBudgetExhausted) holds.
type BudgetError struct {
	// Key is the windowed Budget's Key; "" for the daily budget.
	Key    string
	Limit  int
	Window time.Duration // 0 for the daily budget
	Used   int
	// Until is when the window ends on Redis's clock; zero for the daily
	// budget (it ends at the next quota day, midnight UTC+8).
	Until time.Time
}

func (e *BudgetError) Error() string {
	if e.Window == 0 {
		return fmt.Sprintf("store: daily fetch budget exhausted (%d of %d used)", e.Used, e.Limit)
	}
	return fmt.Sprintf("store: fetch budget %s exhausted (%d per %s) until %s", e.Key, e.Limit, e.Window,
		e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBudgetExhausted) hold.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExhausted }

// TakeTicket takes a fetch ticket for app with the daily budget only:
// TakeTicketBudgets with no windowed budgets.
func (s *Store) TakeTicket(ctx context.Context, app, leaseValue string, dailyBudget int) (Ticket, error) {
	return s.TakeTicketBudgets(ctx, app, leaseValue, dailyBudget, nil)
}

// TakeTicketBudgets takes a fetch ticket for app (a credential id), in one
// script: refused with ErrNotLeader unless the lease key holds leaseValue;
// refused with a *BudgetError (errors.Is ErrBudgetExhausted) when
// dailyBudget (> 0) fetches were already taken today or a budget's window
// is used up; otherwise every budget counts the fetch and ticket =
// max(last ticket + 1, Redis TIME in ms). All or nothing: a refusal
// counts nothing in any budget. With Config.MinReplicasAck, Ticket.Acked
// says whether enough replicas acknowledged it.
//
// Redis content is input: before counting the fetch, the script checks
// every key of app the write depends on, and every budget. A garbage
// ticket key is repaired (max(meta ticket + 1, Redis TIME)), a garbage
// daily budget hash is reset (no worse than the DEL anyone with write
// access could send), and garbage in the meta hash or a wrong-typed token
// key is left to the write, which replaces it and cannot fail on it. A
// garbage windowed budget refuses the ticket with a *CorruptError
// (Repaired): its count is unknown and it may guard an upstream limit
// others share, so it is set to exhausted until its window ends. Each is
// handed to Config.OnCorrupt.
func (s *Store) TakeTicketBudgets(ctx context.Context, app, leaseValue string, dailyBudget int, budgets []Budget) (Ticket, error) {
	if err := checkApp(app); err != nil {
		return Ticket{}, err
	}
	if leaseValue == "" {
		return Ticket{}, ErrNotLeader
	}
	if dailyBudget > maxSafeInt {
		return Ticket{}, errors.New("store: take ticket: daily budget out of range")
	}
	dailyBudget = max(dailyBudget, 0) // <= 0: no cap
	keys := []string{s.keys.Lease(), s.keys.Ticket(app), s.keys.Budget(app), s.keys.Meta(app), s.keys.Token(app)}
	args := []any{leaseValue, dailyBudget, int64(BudgetDayOffset / time.Second)}
	if err := CheckBudgets(budgets); err != nil {
		return Ticket{}, err
	}
	for _, b := range budgets {
		keys = append(keys, s.keys.Window(b))
		args = append(args, b.Limit, b.Window.Milliseconds())
	}
	cmd, acked, err := s.runScript(ctx, takeTicketScript, keys, args...)
	if err != nil {
		return Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	n, corrupt, err := s.scriptReply(cmd, app, 5)
	if err != nil {
		return Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	s.recs.noteCorrupt(corrupt)
	tk := Ticket{N: n[0], IssuedAt: time.UnixMilli(n[2]), BudgetUsed: int(n[1]), Acked: acked}
	switch {
	case n[0] == -1:
		return Ticket{}, ErrNotLeader
	case n[0] == -2:
		return Ticket{IssuedAt: tk.IssuedAt, BudgetUsed: tk.BudgetUsed},
			&BudgetError{Limit: dailyBudget, Used: tk.BudgetUsed}
	case n[0] < 0 && (n[3] < 1 || int(n[3]) > len(budgets)):
		return Ticket{}, fmt.Errorf("store: take ticket: unexpected budget %d", n[3])
	case n[0] == -3:
		b := budgets[n[3]-1]
		return Ticket{IssuedAt: tk.IssuedAt},
			&BudgetError{Key: b.Key, Limit: b.Limit, Window: b.Window, Used: tk.BudgetUsed, Until: time.UnixMilli(n[4])}
	case n[0] < 0:
		key := s.keys.Window(budgets[n[3]-1])
		for _, c := range corrupt {
			if c.Key == key {
				return Ticket{IssuedAt: tk.IssuedAt}, c
			}
		}
		return Ticket{IssuedAt: tk.IssuedAt}, &CorruptError{App: app, Key: key, Detail: "garbage", Repaired: true}
	}
	return tk, nil
}
