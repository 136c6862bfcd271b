// Package platform owns the Redis keys of Open Platform (third-party
// platform) mode: a component's newest component_verify_ticket
// ({prefix}:cvt:<component>), its authorizers
// ({prefix}:authorizers:<component>, with their refresh tokens) and the
// leader's authorizer counts ({prefix}:authorizers_summary:<component>),
// and the authorization codes exchanged in the last hour
// ({prefix}:authcode:<component>:<sha256 hex>, authcodes.go).
// Authorizer tokens and tickets are ordinary credentials
// ("<component>/<appid>", "<component>/<appid>:<kind>") kept with package
// store's keys, fetch tickets and fenced writes; an authorizer's token is
// written with WriteAuthorizerToken, which stores the refresh token the
// upstream returned in the same script.
//
// It builds on package store (its scripts prelude, fenced write and
// corruption reports); store never imports it. What it does NOT do:
// decide anything about WeChat (who calls which endpoint, when), or keep a
// history of refresh tokens (the newest written wins).
package platform

import "github.com/tokend/tokend/store"

// Store is a store.Store with the Open Platform keys. Every store.Store
// method is available on it. Safe for concurrent use.
type Store struct {
	*store.Store
	keys store.Keys
}

// New returns the Open Platform view of st.
func New(st *store.Store) *Store { return &Store{Store: st, keys: st.Keys()} }

func (s *Store) rdb() store.Client { return s.Store.Client() }
