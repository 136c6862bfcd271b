package upstream

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Shape describes the JSON answer of one upstream endpoint: where the
// error code, the message, the value and its lifetime are, and what a
// non-zero code means.
type Shape struct {
	// Code and Message name the error fields: "errcode"/"errmsg"
	// (WeChat, WeCom, DingTalk) or "code"/"msg" (Feishu). A missing or
	// null code means success.
	Code, Message string
	// Value names the token or ticket field ("access_token", "ticket",
	// "tenant_access_token"); "" for a probe, whose answer has none.
	Value string
	// ExpiresIn names the lifetime field in seconds: "expires_in" or
	// "expire".
	ExpiresIn string
	// Classify maps a non-zero code to a class; nil means ClassRetry.
	Classify func(code int) Class
	// CodedStatus: a non-2xx answer whose body carries a non-zero code is
	// classified by that code (Feishu answers HTTP 400 with code 10014
	// for a wrong secret). Without it, every non-2xx answer is
	// ClassRetry.
	CodedStatus bool
}

// ErrcodeShape is the answer of WeChat, WeCom and DingTalk: errcode and
// errmsg, the value in the field named value ("" for a probe), and
// expires_in.
func ErrcodeShape(value string, classify func(code int) Class) Shape {
	return Shape{Code: "errcode", Message: "errmsg", Value: value, ExpiresIn: "expires_in", Classify: classify}
}

// ParseToken turns a 2xx body into a validated Token, or into an *Error.
// Messages never quote the value, and secrets (the secret and token sent)
// are redacted from the upstream's message.
func ParseToken(body []byte, s Shape, minExpiresIn time.Duration, secrets ...string) (Token, error) {
	m, err := decodeAnswer(body, s, secrets)
	if err != nil {
		return Token{}, err
	}
	var (
		value string
		exp   json.Number
	)
	if err := field(m, s.Value, &value); err != nil {
		return Token{}, err
	}
	if err := field(m, s.ExpiresIn, &exp); err != nil {
		return Token{}, err
	}
	if err := ValidateValue(s.Value, value); err != nil {
		return Token{}, err
	}
	d, err := ParseExpiresIn(s.ExpiresIn, exp, minExpiresIn)
	if err != nil {
		return Token{}, err
	}
	return Token{Value: value, ExpiresIn: d}, nil
}

// decodeAnswer parses body as a JSON object and turns a non-zero code
// into an *Error.
func decodeAnswer(body []byte, s Shape, secrets []string) (map[string]json.RawMessage, error) {
	return decodeAnswerUpTo(body, s, secrets, MaxBodyBytes)
}

// decodeAnswerUpTo is decodeAnswer for bodies of up to limit bytes.
func decodeAnswerUpTo(body []byte, s Shape, secrets []string, limit int) (map[string]json.RawMessage, error) {
	if len(body) > limit {
		return nil, retryError(fmt.Sprintf("response body larger than %d bytes", limit))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, retryError("malformed response: not a json object")
	}
	var code int
	if err := field(m, s.Code, &code); err != nil {
		return nil, err
	}
	if code == 0 {
		return m, nil
	}
	var msg string
	_ = field(m, s.Message, &msg) // a message of the wrong type is left out
	class := ClassRetry
	if s.Classify != nil {
		class = s.Classify(code)
	}
	return nil, &Error{Code: code, Message: CleanMessage(msg, secrets...), Class: class}
}

// field decodes m[name] into v; a missing field leaves v alone.
func field(m map[string]json.RawMessage, name string, v any) error {
	raw, ok := m[name]
	if !ok || name == "" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return retryError("malformed response: " + name + " has the wrong type")
	}
	return nil
}

// ValidateValue checks the shape of a token or ticket named name: not
// empty, at most MaxValueBytes, no whitespace, control or invalid
// characters. Its errors never quote the value.
func ValidateValue(name, v string) error {
	switch {
	case v == "":
		return retryError("invalid " + name + ": empty")
	case len(v) > MaxValueBytes:
		return retryError(fmt.Sprintf("invalid %s: %d bytes, more than %d", name, len(v), MaxValueBytes))
	}
	for _, r := range v {
		// RuneError: invalid UTF-8 (json.Unmarshal turns it into U+FFFD).
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return retryError("invalid " + name + ": contains whitespace, control or invalid characters")
		}
	}
	return nil
}

// ParseExpiresIn checks that n, the field name, is a whole number of
// seconds in [minExpiresIn, MaxExpiresIn]. A quoted integer ("7200") is
// tolerated; floats and huge values are rejected, not truncated.
func ParseExpiresIn(name string, n json.Number, minExpiresIn time.Duration) (time.Duration, error) {
	if n == "" {
		return 0, retryError("invalid " + name + ": missing")
	}
	secs, err := n.Int64()
	if err != nil {
		return 0, retryError("invalid " + name + ": not an integer")
	}
	lo, hi := int64(minExpiresIn/time.Second), int64(MaxExpiresIn/time.Second)
	if minExpiresIn%time.Second != 0 {
		lo++ // round the lower bound up: secs*1s must be >= minExpiresIn
	}
	if secs < lo || secs > hi {
		e := retryError(fmt.Sprintf("invalid %s: %d s out of range [%s, %s]", name, secs, minExpiresIn, MaxExpiresIn))
		e.ShortLife = secs >= 0 && secs < lo
		return 0, e
	}
	return time.Duration(secs) * time.Second, nil
}

func retryError(msg string) *Error {
	return &Error{Message: msg, Class: ClassRetry}
}
