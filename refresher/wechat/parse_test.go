package wechat

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokend/tokend/refresher/upstream"
)

const testSecret = "S3cr3tPassW0rd0123456789abcdefAB"

// parseResponse parses a token-endpoint answer the way the providers do.
func parseResponse(body []byte, minExpiresIn time.Duration, secret string) (upstream.Token, error) {
	return upstream.ParseToken(body, tokenShape, minExpiresIn, secret)
}

func TestParseResponse(t *testing.T) {
	tok := strings.Repeat("A", 136)
	for _, tc := range []struct {
		name  string
		body  string
		code  int
		class upstream.Class
		exp   time.Duration // 0: want an error
	}{
		{"wechat success", `{"access_token":"` + tok + `","expires_in":7200}`, 0, 0, 7200 * time.Second},
		{"wecom style success", `{"errcode":0,"errmsg":"ok","access_token":"` + tok + `","expires_in":7200}`, 0, 0, 7200 * time.Second},
		{"min expires_in", `{"access_token":"a","expires_in":60}`, 0, 0, time.Minute},
		{"below min", `{"access_token":"a","expires_in":59}`, 0, upstream.ClassRetry, 0},
		{"max expires_in", `{"access_token":"a","expires_in":86400}`, 0, 0, 24 * time.Hour},
		{"above max", `{"access_token":"a","expires_in":86401}`, 0, upstream.ClassRetry, 0},
		{"negative", `{"access_token":"a","expires_in":-5}`, 0, upstream.ClassRetry, 0},
		{"float", `{"access_token":"a","expires_in":7200.5}`, 0, upstream.ClassRetry, 0},
		{"huge", `{"access_token":"a","expires_in":1e30}`, 0, upstream.ClassRetry, 0},
		{"quoted expires_in", `{"access_token":"a","expires_in":"7200"}`, 0, 0, 7200 * time.Second},
		{"quoted float expires_in", `{"access_token":"a","expires_in":"7200.0"}`, 0, upstream.ClassRetry, 0},
		{"token with replacement char", `{"access_token":"ab\ufffdcd","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"missing expires_in", `{"access_token":"a"}`, 0, upstream.ClassRetry, 0},
		{"empty token", `{"access_token":"","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"token 2048 bytes", `{"access_token":"` + strings.Repeat("x", 2048) + `","expires_in":7200}`, 0, 0, 7200 * time.Second},
		{"token 2049 bytes", `{"access_token":"` + strings.Repeat("x", 2049) + `","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"token with space", `{"access_token":"ab cd","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"token with nbsp", `{"access_token":"ab\u00a0cd","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"token with control", `{"access_token":"ab\u0001cd","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"token with newline", `{"access_token":"ab\ncd","expires_in":7200}`, 0, upstream.ClassRetry, 0},
		{"token bad utf-8", "{\"access_token\":\"ab\xffcd\",\"expires_in\":7200}", 0, upstream.ClassRetry, 0},
		{"html", `<html><body>502</body></html>`, 0, upstream.ClassRetry, 0},
		{"empty body", ``, 0, upstream.ClassRetry, 0},
		{"null", `null`, 0, upstream.ClassRetry, 0},
		{"array", `[1]`, 0, upstream.ClassRetry, 0},
		{"trailing garbage", `{"access_token":"a","expires_in":7200}x`, 0, upstream.ClassRetry, 0},
		{"string errcode", `{"errcode":"40001"}`, 0, upstream.ClassRetry, 0},
		{"busy", `{"errcode":-1,"errmsg":"system error"}`, -1, upstream.ClassRetry, 0},
		{"wrong secret", `{"errcode":40001,"errmsg":"invalid credential"}`, 40001, upstream.ClassConfig, 0},
		{"quota", `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, 45009, upstream.ClassQuota, 0},
		{"errcode with token", `{"errcode":40013,"errmsg":"invalid appid","access_token":"a","expires_in":7200}`, 40013, upstream.ClassConfig, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResponse([]byte(tc.body), time.Minute, testSecret)
			if tc.exp != 0 {
				if err != nil || got.ExpiresIn != tc.exp || got.Value == "" {
					t.Fatalf("got %v, %v; want a token expiring in %s", got, err, tc.exp)
				}
				return
			}
			var ue *upstream.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want *upstream.Error", err)
			}
			if ue.Code != tc.code || ue.Class != tc.class || got != (upstream.Token{}) {
				t.Fatalf("got code %d class %s token %v, want %d %s", ue.Code, ue.Class, got, tc.code, tc.class)
			}
			if strings.Contains(err.Error(), "ab cd") || strings.Contains(err.Error(), "xxxxxxxx") {
				t.Fatalf("error %q quotes the token", err)
			}
		})
	}
}

func TestParseResponse_minExpiresInRoundsUp(t *testing.T) {
	if _, err := parseResponse([]byte(`{"access_token":"a","expires_in":1}`), 1500*time.Millisecond, "s"); err == nil {
		t.Fatal("1 s must be below a 1.5 s minimum")
	}
	if _, err := parseResponse([]byte(`{"access_token":"a","expires_in":2}`), 1500*time.Millisecond, "s"); err != nil {
		t.Fatal(err)
	}
}

func TestParseResponse_oversized(t *testing.T) {
	_, err := parseResponse(make([]byte, MaxBodyBytes+1), time.Minute, "s")
	if ClassOfCode(err) != upstream.ClassRetry || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

// ClassOfCode is upstream.ClassOf that also insists err is non-nil.
func ClassOfCode(err error) upstream.Class {
	if err == nil {
		return -1
	}
	return upstream.ClassOf(err)
}

func TestParseResponse_redactsSecret(t *testing.T) {
	for _, msg := range []string{
		"invalid appsecret " + testSecret + " rid: 1",
		"appid wx1-" + testSecret,
		"echo " + testSecret[:10] + "\u0001" + testSecret[10:],
		"split " + testSecret[:5] + "\\n" + testSecret[5:],
	} {
		body := `{"errcode":40125,"errmsg":"` + strings.ReplaceAll(msg, "\u0001", `\u0001`) + `"}`
		_, err := parseResponse([]byte(body), time.Minute, testSecret)
		if err == nil || strings.Contains(err.Error(), testSecret) {
			t.Fatalf("error %q leaks the secret", err)
		}
	}
	_, err := parseResponse([]byte(`{"errcode":40125,"errmsg":"x `+testSecret+`"}`), time.Minute, testSecret)
	if !strings.Contains(err.Error(), "x "+upstream.Redacted) {
		t.Fatalf("error %q: want the secret replaced by the marker", err)
	}
}

func TestClassify(t *testing.T) {
	for code, want := range map[int]upstream.Class{
		-1: upstream.ClassRetry, 45011: upstream.ClassRetry, 12345: upstream.ClassRetry, 0: upstream.ClassRetry,
		40001: upstream.ClassConfig, 40125: upstream.ClassConfig, 40002: upstream.ClassConfig,
		40013: upstream.ClassConfig, 40164: upstream.ClassConfig, 40243: upstream.ClassConfig,
		41002: upstream.ClassConfig, 41004: upstream.ClassConfig, 89499: upstream.ClassRetry,
		89500: upstream.ClassConfig, 89501: upstream.ClassConfig, 89503: upstream.ClassConfig,
		89507: upstream.ClassConfig, 89599: upstream.ClassConfig, 89600: upstream.ClassRetry,
		45009: upstream.ClassQuota,
	} {
		if got := Classify(code); got != want {
			t.Errorf("Classify(%d) = %s, want %s", code, got, want)
		}
	}
}

// validToken is an independent statement of the validation rules.
func validToken(tok upstream.Token, minExpiresIn time.Duration) bool {
	if tok.Value == "" || len(tok.Value) > 2048 || !utf8.ValidString(tok.Value) || strings.ContainsRune(tok.Value, utf8.RuneError) {
		return false
	}
	if strings.IndexFunc(tok.Value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return false
	}
	return tok.ExpiresIn >= minExpiresIn && tok.ExpiresIn <= 86400*time.Second && tok.ExpiresIn%time.Second == 0
}

func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		`{"access_token":"ACCESS_TOKEN","expires_in":7200}`,
		`{"errcode":0,"errmsg":"ok","access_token":"t","expires_in":60}`,
		`{"errcode":40013,"errmsg":"invalid appid rid: 1-2-3"}`,
		`{"errcode":40125,"errmsg":"bad ` + testSecret + `"}`,
		`{"access_token":"a b","expires_in":7200}`,
		`{"access_token":"a","expires_in":86401}`,
		`{"access_token":"a","expires_in":1e3}`,
		`{"access_token":"a","expires_in":-0}`,
		`<html>502</html>`,
		`null`, ``, `{}`, `[]`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseResponse(body, time.Minute, testSecret)
		if err != nil {
			if tok != (upstream.Token{}) {
				t.Fatal("token returned with an error")
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error leaks the secret: %q", err)
			}
			var ue *upstream.Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not an UpstreamError", err)
			}
			return
		}
		if !validToken(tok, time.Minute) {
			t.Fatalf("invalid token accepted: %q %s", tok.Value, tok.ExpiresIn)
		}
	})
}
