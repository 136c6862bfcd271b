package compat

import "context"

// AppByToken returns the id of the app whose current (or overlapping
// previous) access token tok is, as the ticket routes find it: the
// token index (index.go), which reads Redis on a miss at most once per
// gap. It knows apps without tickets only with Config.IndexAll. Proxy
// mode (package proxy) finds the upstream of a call this way.
func (a *Routes) AppByToken(ctx context.Context, tok string) (string, bool) {
	return a.index.lookup(ctx, tok)
}
