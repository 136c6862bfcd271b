package upstreamtest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// Case is one canned answer and what a provider must make of it.
type Case struct {
	Name   string
	Status int // HTTP status; 0 means 200
	Body   string
	// Want is the lifetime a success must give; 0 means the answer must
	// be an *upstream.Error with Code, HTTPStatus and Class.
	Want time.Duration
	// Value is the value a success must give; "" accepts any.
	Value      string
	Code       int
	HTTPStatus int
	Class      upstream.Class
}

// Marker is part of every bad value in GarbageCases; no error may quote it.
const Marker = "VALUEMARK"

// GarbageCases are answers every provider must turn into ClassRetry
// errors (or, for a quoted integer lifetime, accept): HTML, truncated or
// non-object JSON, a huge body, missing, float, huge, negative or out of
// range lifetimes, empty, blank, spaced, too long or mistyped values, and
// non-2xx statuses. envelope is the success envelope of the upstream
// without braces (`"errcode":0,"errmsg":"ok"` or `"code":0,"msg":"ok"`),
// value and expires the names of its value and lifetime fields. The
// default MinExpiresIn (60 s) is assumed.
func GarbageCases(envelope, value, expires string) []Case {
	ok := func(v, e string) string {
		return fmt.Sprintf(`{%s,%q:%s,%q:%s}`, envelope, value, v, expires, e)
	}
	good := `"` + Marker + `-good"`
	retry := func(name, body string) Case { return Case{Name: name, Body: body, Class: upstream.ClassRetry} }
	huge := ok(good, "7200")
	huge = huge[:len(huge)-1] + `,"pad":"` + strings.Repeat("x", upstream.MaxBodyBytes) + `"}`
	return []Case{
		{Name: "quoted lifetime", Body: ok(good, `"7200"`), Want: 7200 * time.Second, Value: Marker + "-good"},
		{Name: "min lifetime", Body: ok(good, "60"), Want: time.Minute},
		{Name: "max lifetime", Body: ok(good, "86400"), Want: 24 * time.Hour},
		retry("html", `<html><body>502 Bad Gateway</body></html>`),
		retry("empty body", ``),
		retry("null", `null`),
		retry("array", `[1,2]`),
		retry("truncated json", ok(good, "7200")[:len(envelope)+len(value)+6]),
		retry("trailing garbage", ok(good, "7200")+"x"),
		{Name: "huge body", Body: huge, HTTPStatus: http.StatusOK, Class: upstream.ClassRetry},
		retry("missing lifetime", fmt.Sprintf(`{%s,%q:%s}`, envelope, value, good)),
		retry("float lifetime", ok(good, "7200.5")),
		retry("exponent lifetime", ok(good, "7.2e3")),
		retry("huge lifetime", ok(good, "1e30")),
		retry("overflowing lifetime", ok(good, "99999999999999999999")),
		retry("negative lifetime", ok(good, "-7200")),
		retry("lifetime above a day", ok(good, "86401")),
		retry("lifetime below the minimum", ok(good, "59")),
		retry("string lifetime", ok(good, `"soon"`)),
		retry("missing value", fmt.Sprintf(`{%s,%q:7200}`, envelope, expires)),
		retry("empty value", ok(`""`, "7200")),
		retry("blank value", ok(`"   "`, "7200")),
		retry("value with a space", ok(`"`+Marker+` `+Marker+`"`, "7200")),
		retry("value with a newline", ok(`"`+Marker+`\n"`, "7200")),
		retry("value with a control character", ok(`"`+Marker+`\u0007"`, "7200")),
		retry("value too long", ok(`"`+Marker+strings.Repeat("x", upstream.MaxValueBytes)+`"`, "7200")),
		retry("numeric value", ok("12345", "7200")),
		{Name: "502 html", Status: http.StatusBadGateway, Body: `<html>bad gateway</html>`, HTTPStatus: http.StatusBadGateway, Class: upstream.ClassRetry},
		{Name: "503 with a good body", Status: http.StatusServiceUnavailable, Body: ok(good, "7200"), HTTPStatus: http.StatusServiceUnavailable, Class: upstream.ClassRetry},
		{Name: "redirect", Status: http.StatusFound, Body: ``, HTTPStatus: http.StatusFound, Class: upstream.ClassRetry},
	}
}

// Run answers each case from s, calls fetch and checks the result: a
// valid token for a success, otherwise an *upstream.Error of the case's
// code, status and class with no token. No error may contain a secret or
// Marker.
func Run(t *testing.T, s *Server, cases []Case, fetch func() (upstream.Token, error), secrets ...string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			status := tc.Status
			if status == 0 {
				status = http.StatusOK
			}
			s.Answer(status, tc.Body)
			tok, err := fetch()
			NoLeak(t, err, append(secrets, Marker)...)
			if tc.Want != 0 {
				if err != nil || tok.ExpiresIn != tc.Want || tok.Value == "" || (tc.Value != "" && tok.Value != tc.Value) {
					t.Fatalf("got %v, %v; want a token of %s", tok, err, tc.Want)
				}
				return
			}
			WantError(t, err, tc.Code, tc.HTTPStatus, tc.Class)
			if tok != (upstream.Token{}) {
				t.Fatalf("token %v returned with an error", tok)
			}
		})
	}
}

// WantError fails the test unless err is an *upstream.Error with code,
// status and class.
func WantError(t testing.TB, err error, code, status int, class upstream.Class) *upstream.Error {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *upstream.Error", err)
	}
	if ue.Code != code || ue.HTTPStatus != status || ue.Class != class {
		t.Fatalf("err = %v (code %d status %d class %s), want code %d status %d class %s",
			err, ue.Code, ue.HTTPStatus, ue.Class, code, status, class)
	}
	return ue
}
