package platform

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
)

// Open Platform authorizers: the accounts that authorized a component.
// {prefix}:authorizers:<component> is a hash, authorizer appid -> JSON
// {"refresh_token","auth_time","func_info"}. The refresh token lives only
// there (Redis persistence matters: see README); it is a secret, never in
// a log, an error, a key name or a String. Each authorizer's token is the
// credential "<component>/<appid>" (AuthorizerID), written with
// WriteAuthorizerToken, which stores the refresh token the upstream
// returned in the same script.
//
// What it does NOT do: decide anything about WeChat (who calls
// api_query_auth or api_authorizer_token), or keep a history of refresh
// tokens: the newest written wins.

//go:embed lua/authorizer_write.lua
var luaAuthorizerWrite string

// authorizerWriteScript is write_token.lua as a local function, called by
// authorizer_write.lua.
var authorizerWriteScript = store.NewWriteScript(luaAuthorizerWrite)

// ErrAuthorizerGone: the authorizer is not (or no longer) in its
// component's hash, so its token was not written: it was unauthorized,
// or the hash was lost and must be rebuilt first.
var ErrAuthorizerGone = errors.New("platform: authorizer not stored; nothing written")

// ErrBadAuthorizer: an authorizer without an appid ([A-Za-z0-9_.-]{1,64})
// or refresh token; nothing was written.
var ErrBadAuthorizer = errors.New("platform: authorizer needs a valid appid and a refresh token")

// AuthorizersKey is the hash key of component's authorizers.
func AuthorizersKey(k store.Keys, component string) string {
	return k.Tag() + ":authorizers:" + component
}

// AuthorizerID is the credential id of an authorizer's token.
func AuthorizerID(component, appid string) string { return component + "/" + appid }

// SplitAuthorizer splits an authorizer credential id "<component>/<appid>"
// (ticket kinds are not accepted); ok false for any other id.
func SplitAuthorizer(id string) (component, appid string, ok bool) {
	component, appid, ok = strings.Cut(id, "/")
	if !ok || !store.ValidApp(component) || !store.ValidApp(appid) {
		return "", "", false
	}
	return component, appid, true
}

// Authorizer is one stored authorizer. String never shows RefreshToken.
type Authorizer struct {
	AppID string
	// RefreshToken is the authorizer_refresh_token: a secret.
	RefreshToken string
	// AuthTime is when it authorized (zero when unknown).
	AuthTime time.Time
	// FuncInfo is WeChat's func_info as received (JSON), or nil.
	FuncInfo json.RawMessage
}

func (a Authorizer) String() string {
	return fmt.Sprintf("authorizer(%s, refresh_token=%s)", a.AppID, store.Fingerprint(a.RefreshToken))
}

// GoString is String, so that %#v never shows the refresh token.
func (a Authorizer) GoString() string { return a.String() }

// authorizerEntry is the JSON of one hash field.
type authorizerEntry struct {
	RefreshToken string          `json:"refresh_token"`
	AuthTime     int64           `json:"auth_time,omitempty"`
	FuncInfo     json.RawMessage `json:"func_info,omitempty"`
}

func (a Authorizer) entry() (string, error) {
	if !store.ValidApp(a.AppID) || a.RefreshToken == "" || (a.FuncInfo != nil && !json.Valid(a.FuncInfo)) {
		return "", ErrBadAuthorizer
	}
	e := authorizerEntry{RefreshToken: a.RefreshToken, FuncInfo: a.FuncInfo}
	if !a.AuthTime.IsZero() {
		e.AuthTime = a.AuthTime.Unix()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", ErrBadAuthorizer
	}
	return string(b), nil
}

// parseAuthorizer decodes one hash field; ok false for garbage.
func parseAuthorizer(appid, raw string) (Authorizer, bool) {
	var e authorizerEntry
	if !store.ValidApp(appid) || json.Unmarshal([]byte(raw), &e) != nil || e.RefreshToken == "" {
		return Authorizer{}, false
	}
	a := Authorizer{AppID: appid, RefreshToken: e.RefreshToken, FuncInfo: e.FuncInfo}
	if e.AuthTime > 0 {
		a.AuthTime = time.Unix(e.AuthTime, 0)
	}
	// cjson writes an empty func_info array back as {}.
	if string(a.FuncInfo) == "{}" {
		a.FuncInfo = json.RawMessage("[]")
	}
	return a, true
}

// PutAuthorizers stores (adds or replaces) authorizers of component in one
// transaction, and publishes an event.Input per authorizer (at most 10
// events: a larger batch publishes one for the component), which wakes a
// leader that keeps them.
func (s *Store) PutAuthorizers(ctx context.Context, component string, list ...Authorizer) error {
	if !store.ValidApp(component) {
		return store.ErrInvalidApp
	}
	if len(list) == 0 {
		return nil
	}
	fields := make([]any, 0, 2*len(list))
	for _, a := range list {
		e, err := a.entry()
		if err != nil {
			return err
		}
		fields = append(fields, a.AppID, e)
	}
	p := s.rdb().TxPipeline()
	p.HSet(ctx, AuthorizersKey(s.keys, component), fields...)
	if len(list) <= 10 {
		for _, a := range list {
			p.Publish(ctx, s.keys.Events(), event.Encode(event.Event{Type: event.Input, App: AuthorizerID(component, a.AppID)}))
		}
	} else {
		p.Publish(ctx, s.keys.Events(), event.Encode(event.Event{Type: event.Input, App: component}))
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("platform: put authorizers: %w", err)
	}
	return nil
}

// RemoveAuthorizer removes appid from component's hash and deletes the
// keys of its token and of its tickets of kinds (token, meta, fetch
// ticket, status, budget; pending reports), in one transaction, then
// publishes an event.Input for it. removed is false when it was not in
// the hash (its keys are deleted anyway).
func (s *Store) RemoveAuthorizer(ctx context.Context, component, appid string, kinds []string) (removed bool, err error) {
	if !store.ValidApp(component) || !store.ValidApp(appid) {
		return false, store.ErrInvalidApp
	}
	id := AuthorizerID(component, appid)
	ids := []string{id}
	for _, k := range kinds {
		if !store.ValidCredential(id + ":" + k) {
			return false, store.ErrInvalidApp
		}
		ids = append(ids, id+":"+k)
	}
	var keys []string
	for _, c := range ids {
		keys = append(keys, s.keys.Token(c), s.keys.Meta(c), s.keys.Ticket(c), s.keys.Status(c), s.keys.Budget(c))
	}
	p := s.rdb().TxPipeline()
	hdel := p.HDel(ctx, AuthorizersKey(s.keys, component), appid)
	p.Del(ctx, keys...)
	p.HDel(ctx, s.keys.Reports(), ids...)
	p.Publish(ctx, s.keys.Events(), event.Encode(event.Event{Type: event.Input, App: id}))
	if _, err := p.Exec(ctx); err != nil {
		return false, fmt.Errorf("platform: remove authorizer: %w", err)
	}
	return hdel.Val() == 1, nil
}

// DefaultAuthorizerPage is ScanAuthorizers' page size (HSCAN COUNT).
const DefaultAuthorizerPage = 500

// ScanAuthorizers reads component's authorizers with HSCAN, page by page
// (about page entries each; <= 0: DefaultAuthorizerPage), handing each
// page to fn (which must not keep the slice). An entry that is not valid
// JSON with a refresh token, or whose field is no appid, is skipped and
// handed to Config.OnCorrupt, never to fn. HSCAN may hand an entry twice
// when the hash changes during the scan; fn must tolerate it. It returns
// the number of entries handed to fn and the number skipped. A missing
// hash is no error: 0, 0, nil. A wrong-typed key is a *store.CorruptError.
func (s *Store) ScanAuthorizers(ctx context.Context, component string, page int, fn func([]Authorizer) error) (n, skipped int, err error) {
	if !store.ValidApp(component) {
		return 0, 0, store.ErrInvalidApp
	}
	if page <= 0 {
		page = DefaultAuthorizerPage
	}
	key := AuthorizersKey(s.keys, component)
	var cursor uint64
	batch := make([]Authorizer, 0, page)
	for {
		kv, next, err := s.rdb().HScan(ctx, key, cursor, "", int64(page)).Result()
		if err != nil {
			if strings.Contains(err.Error(), "WRONGTYPE") {
				return n, skipped, &store.CorruptError{App: component, Key: key, Detail: "wrong type"}
			}
			return n, skipped, fmt.Errorf("platform: scan authorizers: %w", err)
		}
		batch = batch[:0]
		for i := 0; i+1 < len(kv); i += 2 {
			a, ok := parseAuthorizer(kv[i], kv[i+1])
			if !ok {
				skipped++
				s.Store.NoteCorrupt(&store.CorruptError{App: component, Key: key, Field: kv[i], Detail: "not an authorizer entry"})
				continue
			}
			batch = append(batch, a)
		}
		if len(batch) > 0 {
			n += len(batch)
			if err := fn(batch); err != nil {
				return n, skipped, err
			}
		}
		if cursor = next; cursor == 0 {
			return n, skipped, nil
		}
	}
}

// Authorizer reads one authorizer of component: store.ErrNotFound when absent,
// a *store.CorruptError for garbage.
func (s *Store) Authorizer(ctx context.Context, component, appid string) (Authorizer, error) {
	if !store.ValidApp(component) || !store.ValidApp(appid) {
		return Authorizer{}, store.ErrInvalidApp
	}
	key := AuthorizersKey(s.keys, component)
	raw, err := s.rdb().HGet(ctx, key, appid).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Authorizer{}, store.ErrNotFound
	case err != nil && strings.Contains(err.Error(), "WRONGTYPE"):
		return Authorizer{}, &store.CorruptError{App: component, Key: key, Detail: "wrong type"}
	case err != nil:
		return Authorizer{}, fmt.Errorf("platform: read authorizer: %w", err)
	}
	a, ok := parseAuthorizer(appid, raw)
	if !ok {
		return Authorizer{}, &store.CorruptError{App: component, Key: key, Field: appid, Detail: "not an authorizer entry"}
	}
	return a, nil
}

// WriteAuthorizerToken is WriteToken for an authorizer's token (w.App =
// "<component>/<appid>") together with the refresh token the upstream
// returned with it: in one script, fenced like WriteToken, the token is
// written and, if the write is accepted, the stored refresh token becomes
// refreshToken (other fields kept). ErrAuthorizerGone when the authorizer
// is not in the hash (nothing written, so an unauthorized event is never
// undone by a refresh in flight); WriteToken's errors otherwise.
func (s *Store) WriteAuthorizerToken(ctx context.Context, w store.Write, refreshToken string) (store.WriteResult, error) {
	component, appid, ok := SplitAuthorizer(w.App)
	if !ok {
		return store.WriteResult{}, fmt.Errorf("%w: an authorizer token is <component>/<appid>", store.ErrInvalidApp)
	}
	if refreshToken == "" {
		return store.WriteResult{}, ErrBadAuthorizer
	}
	res, err := s.Store.WriteTokenWith(ctx, w, authorizerWriteScript, []string{AuthorizersKey(s.keys, component)}, appid, refreshToken)
	if errors.Is(err, store.ErrWriteRefused) {
		return res, ErrAuthorizerGone
	}
	return res, err
}

// CountAuthorizers is the number of entries in component's hash (HLEN:
// garbage included), 0 when it is missing: a cheap check that the hash
// is still there and unchanged in size.
func (s *Store) CountAuthorizers(ctx context.Context, component string) (int, error) {
	if !store.ValidApp(component) {
		return 0, store.ErrInvalidApp
	}
	n, err := s.rdb().HLen(ctx, AuthorizersKey(s.keys, component)).Result()
	if err != nil {
		return 0, fmt.Errorf("platform: count authorizers: %w", err)
	}
	return int(n), nil
}
