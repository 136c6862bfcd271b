package keeper

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// keeperWorkers bounds the concurrent refreshes of one tick.
const keeperWorkers = 8

// callTimeout bounds one refresh (read, call, write).
const callTimeout = 10 * time.Second

// sync reads the whole hash (rebuilding it from the upstream's list when
// it is empty while the component has a token) and replaces the entries:
// known ones keep their schedule, new ones are planned from their stored
// record.
func (k *Keeper) sync(ctx context.Context, term lock.Term, now time.Time) error {
	found, err := k.scan(ctx)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		rebuilt, err := k.rebuild(ctx)
		if err != nil {
			return err
		}
		if rebuilt > 0 {
			if found, err = k.scan(ctx); err != nil {
				return err
			}
		}
	}
	k.mu.Lock()
	old, sameTerm := k.entries, k.epoch == term.Epoch
	k.mu.Unlock()
	next := make(map[string]*kept, len(found))
	for appid, rt := range found {
		if e := old[appid]; sameTerm && e != nil {
			if e.refused != "" && e.refused != rt {
				e.refused, e.due = "", now // a new authorization
			}
			next[appid] = e
			continue
		}
		next[appid] = k.planned(ctx, appid, now)
	}
	k.mu.Lock()
	k.entries, k.epoch, k.resync = next, term.Epoch, now.Add(k.cfg.Resync)
	k.mu.Unlock()
	return nil
}

// changed counts the hash: true when its size is not the one the last
// full read (and the events since) left.
func (k *Keeper) changed(ctx context.Context, now time.Time) bool {
	n, err := k.cfg.Store.CountAuthorizers(ctx, k.cfg.ComponentID)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counted = now
	return err == nil && n != k.stored
}

// scan returns every stored authorizer's refresh token by appid.
func (k *Keeper) scan(ctx context.Context) (map[string]string, error) {
	found := map[string]string{}
	_, skipped, err := k.cfg.Store.ScanAuthorizers(ctx, k.cfg.ComponentID, 0, func(page []platform.Authorizer) error {
		for _, a := range page {
			found[a.AppID] = a.RefreshToken
		}
		return nil
	})
	k.mu.Lock()
	k.stored = len(found) + skipped
	k.mu.Unlock()
	return found, err
}

// rebuild refills an empty hash from api_get_authorizer_list when the
// component has a valid token; it returns how many it stored.
func (k *Keeper) rebuild(ctx context.Context) (int, error) {
	rec, err := k.cfg.Store.Record(ctx, k.cfg.ComponentID)
	if err != nil || !rec.Valid() {
		// No component token: nothing to rebuild with yet. The next count
		// (HLEN, about a second) differs and tries again, so a flush
		// noticed before the component token is back is not left to Resync.
		k.mu.Lock()
		k.stored = -1
		k.mu.Unlock()
		return 0, nil
	}
	stored, dropped := 0, 0
	for offset := 0; ; offset += openplatform.MaxListPage {
		total, list, d, err := k.cfg.Component.AuthorizerList(ctx, rec.Token, offset, openplatform.MaxListPage)
		if err != nil {
			return stored, err
		}
		dropped += d
		if err := k.cfg.Store.PutAuthorizers(ctx, k.cfg.ComponentID, list...); err != nil {
			return stored, err
		}
		stored += len(list)
		if len(list)+d == 0 || offset+openplatform.MaxListPage >= total {
			break
		}
	}
	k.cfg.Logger.Warn("openplatform: authorizer list was empty; rebuilt from api_get_authorizer_list",
		"component", k.cfg.ComponentID, "authorizers", stored, "dropped", dropped)
	k.audit(fleet.AuditEntry{App: k.cfg.ComponentID, Action: "authorizers_rebuilt", Outcome: "ok", Detail: strconv.Itoa(stored) + " authorizers"})
	return stored, nil
}

// planned is a new entry for appid, due from its stored record (now when
// it has no valid token).
func (k *Keeper) planned(ctx context.Context, appid string, now time.Time) *kept {
	e := &kept{due: now, tickets: k.newTickets(ctx, appid, now)}
	rec, err := k.cfg.Store.Record(ctx, platform.AuthorizerID(k.cfg.ComponentID, appid))
	if err == nil && rec.Valid() {
		e.expires = now.Add(rec.ExpiresAt.Sub(rec.Now))
		e.due = k.dueFor(now, e.expires)
	}
	return e
}

// dueFor plans the refresh of a token expiring at expires: BeforeExpiry
// ahead, never before half the remaining life, spread over a further
// quarter of that lead (later), so that authorizers fetched together drift
// apart.
func (k *Keeper) dueFor(now, expires time.Time) time.Time {
	lead := min(k.cfg.BeforeExpiry, expires.Sub(now)/2)
	if lead <= 0 {
		return now
	}
	return expires.Add(-lead + rand.N(lead/4+1))
}

// reread reads one authorizer again after its event: gone -> dropped;
// new or with a new refresh token -> due now.
func (k *Keeper) reread(ctx context.Context, appid string, now time.Time) {
	a, err := k.cfg.Store.Authorizer(ctx, k.cfg.ComponentID, appid)
	var tickets map[string]*keptTicket
	if err == nil {
		tickets = k.newTickets(ctx, appid, now)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrNotFound):
		if k.entries[appid] != nil {
			k.stored--
		}
		delete(k.entries, appid)
	case err != nil:
		k.wake[""] = true // read everything at the next tick
	default:
		e := k.entries[appid]
		if e == nil {
			e = &kept{tickets: tickets}
			k.entries[appid] = e
			k.stored++
		}
		if e.refused != a.RefreshToken {
			e.refused, e.due = "", now
		}
	}
}

// job is one due credential of an authorizer: its token (kind "") or a
// ticket.
type job struct {
	appid, kind string
	at          time.Time
}

// dueJobs lists the due credentials: an authorizer's token before its
// tickets (a due token's tickets wait for the new token).
func (k *Keeper) dueJobs(now time.Time) []job {
	k.mu.Lock()
	defer k.mu.Unlock()
	var list []job
	for appid, e := range k.entries {
		if e.refused != "" {
			continue
		}
		if !e.due.After(now) {
			list = append(list, job{appid, "", e.due})
			continue
		}
		for kind, t := range e.tickets {
			if !t.due.After(now) {
				list = append(list, job{appid, kind, t.due})
			}
		}
	}
	return list
}

// refreshDue refreshes up to calls due credentials, earliest first.
func (k *Keeper) refreshDue(ctx context.Context, term lock.Term, now time.Time, calls int) int {
	if calls <= 0 {
		return 0
	}
	list := k.dueJobs(now)
	if len(list) == 0 {
		return 0
	}
	// One read of the component token for the whole tick; without one no
	// token is fetched (the authorizers wait), tickets still are.
	comp, err := k.cfg.Store.Record(ctx, k.cfg.ComponentID)
	if err != nil || !comp.Valid() {
		k.cfg.Logger.Debug("openplatform: authorizers wait for a component token", "component", k.cfg.ComponentID, "due", len(list))
		list = slices.DeleteFunc(list, func(j job) bool { return j.kind == "" })
	}
	slices.SortFunc(list, func(a, b job) int { return a.at.Compare(b.at) })
	list = list[:min(len(list), calls)]
	var wg sync.WaitGroup
	sem := make(chan struct{}, keeperWorkers)
	made := 0
	var mu sync.Mutex
	for _, j := range list {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var called bool
			if j.kind == "" {
				called = k.refresh(ctx, term, comp.Token, j.appid, now)
			} else {
				called = k.refreshTicket(ctx, term, j.appid, j.kind, now)
			}
			if called {
				mu.Lock()
				made++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return made
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
