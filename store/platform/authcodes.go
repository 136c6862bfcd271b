package platform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

// Exchanged authorization codes. WeChat delivers one authorization twice:
// the "authorized" push and the redirect's auth_code, with the same code,
// which api_query_auth accepts once. A successful exchange is remembered
// for the code's life in {prefix}:authcode:<component>:<sha256 hex of the
// code> -> the authorizer appid, so the second delivery (any replica)
// answers the stored authorizer. While an exchange is in flight the key
// may hold a claim ("pending:<random>", expiring with the exchange's
// timeout), so a delivery refused by the upstream meanwhile knows to wait
// for it. The code itself is never in a key, a value or an error.
//
// What it does NOT do: decide who calls api_query_auth, or lock anything:
// a claim is advisory (the upstream, which accepts a code once, is the
// arbiter).

var (
	//go:embed lua/authcode_read.lua
	luaAuthCodeRead string
	//go:embed lua/authcode_release.lua
	luaAuthCodeRelease string

	authCodeReadScript    = redis.NewScript(luaAuthCodeRead)
	authCodeReleaseScript = redis.NewScript(luaAuthCodeRelease)
)

// AuthCodeLifetime is how long an exchanged code is remembered: the life
// of a WeChat authorization code (AuthorizationCodeExpiredTime, 1 h).
const AuthCodeLifetime = time.Hour

// claimPrefix starts a claim value; an appid never holds ':'.
const claimPrefix = "pending:"

// AuthCodeKey is the key remembering what code was exchanged for: it
// holds the SHA-256 of the code, never the code.
func AuthCodeKey(k store.Keys, component, code string) string {
	sum := sha256.Sum256([]byte(code))
	return k.Tag() + ":authcode:" + component + ":" + hex.EncodeToString(sum[:])
}

// ExchangedCode is what is remembered of an authorization code.
type ExchangedCode struct {
	// Done: the code was exchanged for Authorizer, which is stored.
	Done       bool
	Authorizer Authorizer
	// Pending: an exchange of the code has claimed it and not finished.
	Pending bool
}

// ExchangedCode reads what code was exchanged for, with the authorizer
// from component's hash, in one script. Anything else in the key (an
// appid no longer stored, a wrong type, garbage) is neither Done nor
// Pending; garbage and the wrong type are reported to Config.OnCorrupt.
func (s *Store) ExchangedCode(ctx context.Context, component, code string) (ExchangedCode, error) {
	if !store.ValidApp(component) || code == "" {
		return ExchangedCode{}, store.ErrInvalidApp
	}
	key := AuthCodeKey(s.keys, component, code)
	hash := AuthorizersKey(s.keys, component)
	v, err := authCodeReadScript.Run(ctx, s.rdb(), []string{key, hash}).Slice()
	if err != nil {
		return ExchangedCode{}, fmt.Errorf("platform: read exchanged code: %w", err)
	}
	if len(v) != 3 {
		return ExchangedCode{}, errors.New("platform: read exchanged code: unexpected reply")
	}
	state, _ := v[0].(int64)
	value, _ := v[1].(string)
	entry, _ := v[2].(string)
	switch {
	case state == 2:
		s.Store.NoteCorrupt(&store.CorruptError{App: component, Key: key, Detail: "wrong type"})
	case state != 1:
	case strings.HasPrefix(value, claimPrefix):
		return ExchangedCode{Pending: true}, nil
	case !store.ValidApp(value):
		s.Store.NoteCorrupt(&store.CorruptError{App: component, Key: key, Detail: "not an authorizer appid"})
	case entry != "":
		a, ok := parseAuthorizer(value, entry)
		if ok {
			return ExchangedCode{Done: true, Authorizer: a}, nil
		}
		s.Store.NoteCorrupt(&store.CorruptError{App: component, Key: hash, Field: value, Detail: "not an authorizer entry"})
	}
	return ExchangedCode{}, nil
}

// ClaimCode marks code as being exchanged, for ttl, unless its key exists
// (exchanged, claimed, or garbage): claim is the value to hand to
// ReleaseCode, "" when not claimed.
func (s *Store) ClaimCode(ctx context.Context, component, code string, ttl time.Duration) (claim string, err error) {
	if !store.ValidApp(component) || code == "" || ttl <= 0 {
		return "", store.ErrInvalidApp
	}
	claim = claimPrefix + rand.Text()
	p := s.rdb().TxPipeline()
	ok := p.SetNX(ctx, AuthCodeKey(s.keys, component, code), claim, ttl)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("platform: claim code: %w", err)
	}
	if !ok.Val() {
		return "", nil
	}
	return claim, nil
}

// ReleaseCode drops claim (from ClaimCode) if the key still holds it: an
// exchange that failed lets the next delivery call at once.
func (s *Store) ReleaseCode(ctx context.Context, component, code, claim string) error {
	if !store.ValidApp(component) || code == "" || !strings.HasPrefix(claim, claimPrefix) {
		return store.ErrInvalidApp
	}
	if err := authCodeReleaseScript.Run(ctx, s.rdb(), []string{AuthCodeKey(s.keys, component, code)}, claim).Err(); err != nil {
		return fmt.Errorf("platform: release code: %w", err)
	}
	return nil
}

// RememberCode records that code was exchanged for authorizer appid (store
// the authorizer first), for AuthCodeLifetime, replacing any claim or
// garbage in the key.
func (s *Store) RememberCode(ctx context.Context, component, code, appid string) error {
	if !store.ValidApp(component) || !store.ValidApp(appid) || code == "" {
		return store.ErrInvalidApp
	}
	p := s.rdb().TxPipeline()
	p.Set(ctx, AuthCodeKey(s.keys, component, code), appid, AuthCodeLifetime)
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("platform: remember code: %w", err)
	}
	return nil
}
