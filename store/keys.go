package store

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultPrefix is the key prefix used when Config.Prefix is empty.
const DefaultPrefix = "tokend"

// ErrInvalidApp is returned for a credential id that ValidCredential
// refuses.
var ErrInvalidApp = errors.New("store: invalid credential id")

var (
	appIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// credentialPattern: app, app:kind, component/appid, component/appid:kind.
	credentialPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,64})?(:[a-z_]{1,32})?$`)
	prefixPattern     = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
)

// ValidApp reports whether id is a valid app (or component) id:
// [A-Za-z0-9_.-]{1,64}. Ids become part of key names, so anything else is
// refused.
func ValidApp(id string) bool { return appIDPattern.MatchString(id) }

// ValidCredential reports whether id is a valid credential id: an app id
// (the app's access token), "<app>:<kind>" (a ticket derived from it, kind
// [a-z_]{1,32}), "<component>/<authorizer appid>" or
// "<component>/<authorizer appid>:<kind>" (Open Platform). ":" and "/"
// never occur in an app id, so the forms never collide. Every store
// function that takes an "app" takes a credential id.
func ValidCredential(id string) bool { return credentialPattern.MatchString(id) }

// Parent returns the credential id of the token a ticket is derived from
// and the ticket's kind ("mp-main:jsapi" -> "mp-main", "jsapi"); for a
// token it returns id and "".
func Parent(id string) (parent, kind string) {
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		return id[:i], id[i+1:]
	}
	return id, ""
}

func checkApp(id string) error {
	if !ValidCredential(id) {
		return fmt.Errorf("%w: must be an app id [A-Za-z0-9_.-]{1,64}, optionally with /<appid> and :<kind>", ErrInvalidApp)
	}
	return nil
}

// Keys is the CONTRACT key layout of one deployment. Every key shares the hash
// tag {prefix}, so scripts that touch several keys stay in one Cluster slot.
// Keys is a value type and safe for concurrent use.
type Keys struct {
	tag string // "{prefix}"
}

// NewKeys returns the key layout for prefix (DefaultPrefix when empty).
func NewKeys(prefix string) (Keys, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixPattern.MatchString(prefix) {
		return Keys{}, fmt.Errorf("store: invalid prefix %q: must match [A-Za-z0-9_.:-]{1,64}", prefix)
	}
	return Keys{tag: "{" + prefix + "}"}, nil
}

// Token is the string key holding the raw access token of app; its PTTL is
// the remaining validity. Business apps GET it.
func (k Keys) Token(app string) string { return k.tag + ":token:" + app }

// Meta is the hash key with token, expires_at, fetched_at, ticket, version,
// epoch and leader of app.
func (k Keys) Meta(app string) string { return k.tag + ":meta:" + app }

// Ticket is the string key holding the last fetch ticket taken for app.
func (k Keys) Ticket(app string) string { return k.tag + ":ticket:" + app }

// Lease is the leader lease key (a redislock value).
func (k Keys) Lease() string { return k.tag + ":lease" }

// Epoch holds the last leader term number.
func (k Keys) Epoch() string { return k.tag + ":epoch" }

// Events is the pub/sub channel of token writes, reports and releases.
func (k Keys) Events() string { return k.tag + ":events" }

// Reports is the hash of pending refresh reports: field app, value the token
// the app found rejected.
func (k Keys) Reports() string { return k.tag + ":reports" }

// Budget is the hash counting app's fetches of the current day (fields day
// and used; days cut in UTC+8 like WeChat's quota).
func (k Keys) Budget(app string) string { return k.tag + ":budget:" + app }

// Window is the hash counting the fetches of a windowed budget b
// (Budget): fields window (the window's number, Redis TIME in ms
// divided by its length) and used; it expires when the window ends. Named
// "{prefix}:window:<budget key>:<window in seconds>", so that caps with
// one key and different windows count apart.
func (k Keys) Window(b Budget) string {
	return k.tag + ":window:" + b.Key + ":" + strconv.FormatInt(int64(b.Window/time.Second), 10)
}

// Status is the hash with the leader's view of app: last error, next refresh.
func (k Keys) Status(app string) string { return k.tag + ":status:" + app }
