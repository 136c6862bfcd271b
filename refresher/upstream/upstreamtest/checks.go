package upstreamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokend/tokend/refresher/upstream"
)

// Sent reports whether value was sent in req's query or as a string
// field of its JSON body.
func Sent(req Request, value string) bool {
	for _, vs := range req.Query {
		for _, v := range vs {
			if v == value {
				return true
			}
		}
	}
	var body map[string]any
	if json.Unmarshal(req.Body, &body) == nil {
		for _, v := range body {
			if v == value {
				return true
			}
		}
	}
	return false
}

// WantTransportError fails the test unless err is an
// *upstream.TransportError for op, transient, without the request URL and
// without any of secrets.
func WantTransportError(t testing.TB, err error, op string, secrets ...string) {
	t.Helper()
	var te *upstream.TransportError
	if !errors.As(err, &te) || te.Op != op {
		t.Fatalf("err = %#v, want an *upstream.TransportError for %s", err, op)
	}
	if strings.Contains(err.Error(), "?") || strings.Contains(err.Error(), "http://") {
		t.Fatalf("error %q quotes the request URL", err)
	}
	if upstream.ClassOf(err) != upstream.ClassRetry {
		t.Fatal("transport errors are transient")
	}
	NoLeak(t, err, secrets...)
}

// CheckSecretFunc checks a token provider's Config.SecretFunc:
// newProvider(fn) builds the provider against s with fn as SecretFunc.
// The function must be called for each fetch and its answer sent; an
// upstream message echoing the secret (errorBody(secret)) must be
// redacted; an empty answer must fail with ClassConfig without a call.
func CheckSecretFunc(t *testing.T, s *Server, newProvider func(fn func() string) (upstream.Provider, error), errorBody func(secret string) string) {
	t.Helper()
	secrets := []string{"first-S3cret+/=", "second-S3cret&x", ""}
	var calls atomic.Int32
	p, err := newProvider(func() string { return secrets[min(int(calls.Add(1))-1, len(secrets)-1)] })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range secrets[:2] {
		s.Answer(http.StatusOK, errorBody(want))
		_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
		if err == nil || !Sent(s.Last(t), want) {
			t.Fatalf("secret %q not sent (err %v)", want, err)
		}
		NoLeak(t, err, want)
		if !strings.Contains(err.Error(), upstream.Redacted) {
			t.Fatalf("error %q: want the echoed secret replaced by the marker", err)
		}
	}
	before := len(s.Requests())
	_, err = p.Fetch(context.Background(), upstream.FetchRequest{})
	if upstream.ClassOf(err) != upstream.ClassConfig || len(s.Requests()) != before {
		t.Fatalf("empty secret: err %v, %d requests sent; want ClassConfig and none", err, len(s.Requests())-before)
	}
}

// CheckTokenCall checks a call made with an access token (a ticket fetch
// or a probe): call(baseURL, token) builds the provider against baseURL
// and calls it with token; op is its TransportError.Op. The token must be
// sent as access_token; an empty token must fail without a call; neither
// an upstream message echoing it (echoBody(token)) nor a transport error
// may quote it.
func CheckTokenCall(t *testing.T, op string, call func(baseURL, token string) error, echoBody func(token string) string) {
	t.Helper()
	const token = "PARENT-tok+en/=="
	s := NewServer(t)
	s.Answer(http.StatusOK, echoBody(token))
	err := call(s.URL, token)
	if got := s.Last(t).Query.Get("access_token"); got != token {
		t.Fatalf("access_token sent = %q, want %q", got, token)
	}
	if err == nil || !strings.Contains(err.Error(), upstream.Redacted) {
		t.Fatalf("err = %v, want the echoed token redacted", err)
	}
	NoLeak(t, err, token)
	before := len(s.Requests())
	if err := call(s.URL, ""); err == nil || len(s.Requests()) != before {
		t.Fatalf("empty token: err %v, %d requests; want an error and no request", err, len(s.Requests())-before)
	}
	WantTransportError(t, call(ClosedURL(t), token), op, token)
}

// CheckPrinted checks that printing or logging values (configs,
// providers) never shows secret, and that printing them shows id.
func CheckPrinted(t *testing.T, id, secret string, values ...any) {
	t.Helper()
	for _, v := range values {
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "v", v)
		printed := fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
		if strings.Contains(logged.String(), secret) || strings.Contains(printed, secret) {
			t.Fatalf("secret printed: %s %s", printed, logged.String())
		}
		if !strings.Contains(printed, id) {
			t.Fatalf("id missing: %s", printed)
		}
	}
}
