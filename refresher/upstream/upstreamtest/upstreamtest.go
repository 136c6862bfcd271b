// Package upstreamtest helps test providers against canned upstream
// answers: a loopback server that answers what the test says and records
// what it was asked, table cases shared by every provider (garbage
// bodies, bad lifetimes, bad values), and a check that no secret or token
// leaks into an error.
//
// It does NOT simulate an upstream's state (token rotation, quotas): that
// is what refresher/wechat/wechattest is for.
package upstreamtest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is a request the Server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Server answers every request with the canned status and body set last,
// and records the requests. It is closed when the test ends.
type Server struct {
	URL string

	mu     sync.Mutex // guards the fields below
	status int
	body   string
	reqs   []Request
}

// NewServer starts a Server on loopback answering 200 with "{}".
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{status: http.StatusOK, body: "{}"}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	status, answer := s.status, s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

// Answer sets the status and body of the following answers.
func (s *Server) Answer(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Last returns the last request received; it fails the test if there was
// none.
func (s *Server) Last(t testing.TB) Request {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request received")
	}
	return reqs[len(reqs)-1]
}

// Client returns an HTTP client with its own transport, closed when the
// test ends (for goleak), that does not follow redirects.
func Client(t testing.TB) *http.Client {
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// ClosedURL returns an http URL on loopback where nothing listens, for
// transport errors.
func ClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// NoLeak fails the test if err's text contains any of values, raw or
// URL-encoded.
func NoLeak(t testing.TB, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if strings.Contains(msg, form) {
				t.Fatalf("error %q leaks a secret or token", msg)
			}
		}
	}
}
