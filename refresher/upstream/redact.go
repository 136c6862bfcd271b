package upstream

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted replaces a secret or token wherever it would be shown.
const Redacted = "[REDACTED]"

// MaxMessageBytes bounds an upstream message kept in an *Error.
const MaxMessageBytes = 512

// CleanMessage makes an upstream message safe to carry in an error:
// control characters become spaces, secrets are redacted, and the result
// is bounded. Order matters: control characters are replaced first so
// that removing them cannot assemble a secret, and secrets are redacted
// before truncation so that no prefix of one survives a cut.
func CleanMessage(msg string, secrets ...string) string {
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, msg)
	msg = Redact(msg, secrets...)
	if len(msg) > MaxMessageBytes {
		cut := MaxMessageBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

// Redact removes every occurrence of each non-empty secret from s, in raw
// and in URL-encoded form, repeating until none is left. If replacing
// cannot get rid of them (a pathological secret that overlaps the
// marker), the whole text is dropped.
func Redact(s string, secrets ...string) string {
	var forms []string
	for _, secret := range secrets {
		if secret != "" {
			forms = append(forms, secret, url.QueryEscape(secret), url.PathEscape(secret))
		}
	}
	for range 8 {
		found := false
		for _, f := range forms {
			if strings.Contains(s, f) {
				found = true
				s = strings.ReplaceAll(s, f, Redacted)
			}
		}
		if !found {
			return s
		}
	}
	const dropped = "[message redacted]"
	for _, f := range forms {
		if strings.Contains(dropped, f) {
			return ""
		}
	}
	return dropped
}
