package upstream

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var feishuShape = Shape{
	Code: "code", Message: "msg", Value: "tenant_access_token", ExpiresIn: "expire",
	Classify: func(code int) Class {
		if code == 10014 {
			return ClassConfig
		}
		return ClassRetry
	},
}

func TestParseToken_shapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape Shape
		body  string
		value string
		exp   time.Duration // 0: want an error of code and class
		code  int
		class Class
	}{
		// Feishu's example answer, https://open.larkoffice.com/document/ukTMukTMukTM/ukDNz4SO0MjL5QzM/auth-v3/auth/tenant_access_token_internal
		{"feishu success", feishuShape, `{"code":0,"msg":"ok","tenant_access_token":"t-caecc734c2e3328a62489fe0648c4b98779515d3","expire":7200}`,
			"t-caecc734c2e3328a62489fe0648c4b98779515d3", 7200 * time.Second, 0, 0},
		{"feishu error", feishuShape, `{"code":10014,"msg":"app secret invalid"}`, "", 0, 10014, ClassConfig},
		{"feishu errcode field ignored", feishuShape, `{"errcode":40001,"tenant_access_token":"t-1","expire":7200}`, "t-1", 7200 * time.Second, 0, 0},
		{"nil classify retries", Shape{Code: "errcode", Value: "v", ExpiresIn: "e"}, `{"errcode":40001}`, "", 0, 40001, ClassRetry},
		{"null code is success", Shape{Code: "errcode", Value: "v", ExpiresIn: "e"}, `{"errcode":null,"v":"x","e":60}`, "x", time.Minute, 0, 0},
		{"float code", feishuShape, `{"code":1.5}`, "", 0, 0, ClassRetry},
		{"string code", feishuShape, `{"code":"10014"}`, "", 0, 0, ClassRetry},
		{"huge code", feishuShape, `{"code":1e40}`, "", 0, 0, ClassRetry},
		{"message of the wrong type is left out", feishuShape, `{"code":10014,"msg":{"x":1}}`, "", 0, 10014, ClassConfig},
		{"case matters", feishuShape, `{"code":0,"Tenant_Access_Token":"t-1","expire":7200}`, "", 0, 0, ClassRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseToken([]byte(tc.body), tc.shape, time.Minute, "secret")
			if tc.exp != 0 {
				if err != nil || tok.Value != tc.value || tok.ExpiresIn != tc.exp {
					t.Fatalf("got %v, %v", tok, err)
				}
				return
			}
			var ue *Error
			if !errors.As(err, &ue) || ue.Code != tc.code || ue.Class != tc.class || tok != (Token{}) {
				t.Fatalf("got %v, %v; want code %d class %s", tok, err, tc.code, tc.class)
			}
		})
	}
}

func TestParseToken_messagesNameTheField(t *testing.T) {
	_, err := ParseToken([]byte(`{"ticket":"","expires_in":7200}`), Shape{Value: "ticket", ExpiresIn: "expires_in"}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "invalid ticket: empty") {
		t.Fatalf("err = %v", err)
	}
	_, err = ParseToken([]byte(`{"t":"x","expire":1.5}`), Shape{Value: "t", ExpiresIn: "expire"}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "invalid expire: not an integer") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseToken_redactsSecrets(t *testing.T) {
	body := `{"code":10014,"msg":"secret S3CR3T token T0K3N"}`
	_, err := ParseToken([]byte(body), feishuShape, time.Minute, "S3CR3T", "T0K3N")
	if err == nil || strings.Contains(err.Error(), "S3CR3T") || strings.Contains(err.Error(), "T0K3N") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseExpiresIn(t *testing.T) {
	for _, tc := range []struct {
		n   json.Number
		min time.Duration
		ok  bool
	}{
		{"60", time.Minute, true}, {"59", time.Minute, false}, {"86400", time.Minute, true}, {"86401", time.Minute, false},
		{"2", 1500 * time.Millisecond, true}, {"1", 1500 * time.Millisecond, false}, {"0", 0, true}, {"-1", 0, false},
		{"", time.Minute, false}, {"7200.0", time.Minute, false}, {"1e3", time.Minute, false},
		{"9223372036854775808", time.Minute, false},
	} {
		d, err := ParseExpiresIn("expires_in", tc.n, tc.min)
		if (err == nil) != tc.ok || (tc.ok && d != mustSeconds(t, tc.n)) {
			t.Errorf("ParseExpiresIn(%q, %s) = %s, %v", tc.n, tc.min, d, err)
		}
	}
	// Only a well-formed, non-negative answer below the minimum is a short
	// life (a rollover near for same-value upstreams); garbage is not.
	for n, short := range map[json.Number]bool{"59": true, "0": true, "-1": false, "86401": false, "x": false, "": false} {
		_, err := ParseExpiresIn("expires_in", n, time.Minute)
		if IsShortLife(err) != short {
			t.Errorf("ParseExpiresIn(%q): short life %v, want %v (%v)", n, IsShortLife(err), short, err)
		}
	}
}

func mustSeconds(t *testing.T, n json.Number) time.Duration {
	s, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(s) * time.Second
}

func TestValidateValue(t *testing.T) {
	for v, ok := range map[string]bool{
		"abc": true, strings.Repeat("x", MaxValueBytes): true, strings.Repeat("x", MaxValueBytes+1): false,
		"": false, " ": false, "a b": false, "a\u00a0b": false, "a\tb": false, "a\u0000b": false, "a\ufffdb": false,
		"a\u200bb": true, // zero-width space is not unicode.IsSpace; the upstream's business
	} {
		if err := ValidateValue("access_token", v); (err == nil) != ok {
			t.Errorf("ValidateValue(%q) = %v", v, err)
		} else if err != nil && (len(v) > 3 && strings.Contains(err.Error(), v) || ClassOf(err) != ClassRetry) {
			t.Errorf("error %v quotes the value or is not ClassRetry", err)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{
		`{"code":0,"msg":"ok","tenant_access_token":"t-1","expire":7200}`,
		`{"code":10014,"msg":"app secret invalid S3CR3T"}`,
		`{"code":0,"tenant_access_token":"a b","expire":7200}`,
		`{"tenant_access_token":"a","expire":"7200"}`,
		`<html>`, `null`, ``, `{}`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := ParseToken(body, feishuShape, time.Minute, "S3CR3T")
		if err != nil {
			var ue *Error
			if tok != (Token{}) || !errors.As(err, &ue) || strings.Contains(err.Error(), "S3CR3T") {
				t.Fatalf("bad error %v with token %v", err, tok)
			}
			return
		}
		if ValidateValue("v", tok.Value) != nil || tok.ExpiresIn < time.Minute || tok.ExpiresIn > MaxExpiresIn {
			t.Fatalf("invalid token accepted: %q %s", tok.Value, tok.ExpiresIn)
		}
	})
}
