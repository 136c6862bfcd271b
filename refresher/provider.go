package refresher

import "github.com/tokend/tokend/store"

// Fingerprint is store.Fingerprint, the one definition of a token's log
// identifier ("" for an empty token); kept so the refresher's log lines
// read short.
func Fingerprint(token string) string { return store.Fingerprint(token) }
