package store

import (
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprint is the one short, non-reversible identifier of a token used
// in logs and status: the first 8 hex digits of its SHA-256, or "" for an
// empty token (no token has no fingerprint).
func Fingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}
