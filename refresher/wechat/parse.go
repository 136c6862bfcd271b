package wechat

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokend/tokend/refresher/upstream"
)

// maxMessageBytes bounds the upstream errmsg kept in an UpstreamError.
const maxMessageBytes = 512

// redacted replaces the secret wherever the upstream echoes it.
const redacted = "[REDACTED]"

// tokenResponse is the union of a success and an error answer. ExpiresIn is
// a json.Number so that floats and huge values are rejected, not truncated;
// a quoted integer ("7200") is tolerated.
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	ExpiresIn   json.Number `json:"expires_in"`
	ErrCode     int         `json:"errcode"`
	ErrMsg      string      `json:"errmsg"`
}

// parseResponse turns a 2xx body into a validated Token, or into an
// *upstream.Error. Messages never contain the token, and the
// secret is redacted from the upstream's errmsg.
func parseResponse(body []byte, minExpiresIn time.Duration, secret string) (upstream.Token, error) {
	if len(body) > MaxBodyBytes {
		return upstream.Token{}, retryError(fmt.Sprintf("response body larger than %d bytes", MaxBodyBytes))
	}
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return upstream.Token{}, retryError("malformed response: not a json token answer")
	}
	if r.ErrCode != 0 {
		return upstream.Token{}, &upstream.Error{
			Code:    r.ErrCode,
			Message: cleanMessage(r.ErrMsg, secret),
			Class:   Classify(r.ErrCode),
		}
	}
	if err := validateToken(r.AccessToken); err != nil {
		return upstream.Token{}, err
	}
	exp, err := parseExpiresIn(r.ExpiresIn, minExpiresIn)
	if err != nil {
		return upstream.Token{}, err
	}
	return upstream.Token{Value: r.AccessToken, ExpiresIn: exp}, nil
}

// validateToken checks the token's shape. Its errors never quote the token.
func validateToken(tok string) error {
	switch {
	case tok == "":
		return retryError("invalid access_token: empty")
	case len(tok) > MaxTokenBytes:
		return retryError(fmt.Sprintf("invalid access_token: %d bytes, more than %d", len(tok), MaxTokenBytes))
	}
	for _, r := range tok {
		// RuneError: invalid UTF-8 (json.Unmarshal turns it into U+FFFD).
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return retryError("invalid access_token: contains whitespace, control or invalid characters")
		}
	}
	return nil
}

// parseExpiresIn checks that n is a whole number of seconds in
// [minExpiresIn, MaxExpiresIn].
func parseExpiresIn(n json.Number, minExpiresIn time.Duration) (time.Duration, error) {
	if n == "" {
		return 0, retryError("invalid expires_in: missing")
	}
	secs, err := n.Int64()
	if err != nil {
		return 0, retryError("invalid expires_in: not an integer")
	}
	lo, hi := int64(minExpiresIn/time.Second), int64(MaxExpiresIn/time.Second)
	if minExpiresIn%time.Second != 0 {
		lo++ // round the lower bound up: secs*1s must be >= minExpiresIn
	}
	if secs < lo || secs > hi {
		return 0, retryError(fmt.Sprintf("invalid expires_in: %d s out of range [%s, %s]", secs, minExpiresIn, MaxExpiresIn))
	}
	return time.Duration(secs) * time.Second, nil
}

func retryError(msg string) *upstream.Error {
	return &upstream.Error{Message: msg, Class: upstream.ClassRetry}
}

// Classify maps a WeChat token-endpoint errcode to a refresher class:
// ClassQuota for 45009 (daily quota); ClassConfig for wrong or missing
// credentials, bad grant_type, IP whitelist, frozen secret and the 895xx
// risk-control family; ClassRetry for -1 (busy), 45011 (minute quota) and
// every code it does not know.
func Classify(code int) upstream.Class {
	switch code {
	case 45009:
		return upstream.ClassQuota
	case 40001, 40125, 40002, 40013, 40164, 40243, 41002, 41004:
		return upstream.ClassConfig
	}
	if code >= 89500 && code <= 89599 {
		return upstream.ClassConfig
	}
	return upstream.ClassRetry
}

// cleanMessage makes an upstream errmsg safe to carry in an error: control
// characters become spaces, the secret is redacted, and the result is
// bounded. Order matters: control characters are replaced first so that
// removing them cannot assemble the secret, and the secret is redacted
// before truncation so that no prefix of it survives a cut.
func cleanMessage(msg, secret string) string {
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, msg)
	msg = redact(msg, secret)
	if len(msg) > maxMessageBytes {
		cut := maxMessageBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

// redact removes every occurrence of the secret from s, in raw and in
// URL-encoded form, repeating until none is left. If replacing cannot get
// rid of it (a pathological secret that overlaps the marker), the whole
// text is dropped.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for range 8 {
		found := false
		for _, f := range forms {
			if strings.Contains(s, f) {
				found = true
				s = strings.ReplaceAll(s, f, redacted)
			}
		}
		if !found {
			return s
		}
	}
	return "[message redacted]"
}
