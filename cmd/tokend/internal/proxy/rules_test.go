package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// rawRequest parses a request as the server would read it off the wire.
func rawRequest(t *testing.T, line, host string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")))
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return r
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name, line, host string
		code             int // 0: forwarded
		token, label     string
	}{
		{"ok", "GET /cgi-bin/user/info?access_token=T1&openid=o", "127.0.0.1:8080", 0, "T1", "cgi-bin/user"},
		{"ok encoded token", "GET /cgi-bin/message/custom/send?access_token=a%2Bb", "localhost", 0, "a+b", "cgi-bin/message"},
		{"ok encoded key", "GET /wxa/getwxacode?access%5Ftoken=T", "[::1]:1", 0, "T", "wxa"},
		{"ok listed host", "POST /cgi-bin/media/upload?access_token=T&type=image", "tokend.internal:80", 0, "T", "cgi-bin/media"},
		{"cgi other", "GET /cgi-bin/whatever?access_token=T", "127.0.0.1", 0, "T", "cgi-bin/other"},
		{"absolute form", "GET http://api.weixin.qq.com/cgi-bin/user/info?access_token=T", "api.weixin.qq.com", 40097, "", ""},
		{"host elsewhere", "GET /cgi-bin/user/info?access_token=T", "api.weixin.qq.com", 40097, "", ""},
		{"host bad port", "GET /cgi-bin/user/info?access_token=T", "127.0.0.1:80.example", 40097, "", ""},
		{"host userinfo", "GET /cgi-bin/user/info?access_token=T", "a@127.0.0.1", 40097, "", ""},
		{"method", "DELETE /cgi-bin/user/info?access_token=T", "127.0.0.1", 43001, "", ""},
		{"dot dot", "GET /cgi-bin/../audit?access_token=T", "127.0.0.1", 40097, "", ""},
		{"dot", "GET /cgi-bin/./user/info?access_token=T", "127.0.0.1", 40097, "", ""},
		{"encoded dots", "GET /cgi-bin/%2e%2E/audit?access_token=T", "127.0.0.1", 40097, "", ""},
		{"encoded slash", "GET /cgi-bin%2f..%2faudit?access_token=T", "127.0.0.1", 40097, "", ""},
		{"backslash", "GET /cgi-bin/..\\audit?access_token=T", "127.0.0.1", 40097, "", ""},
		{"empty segment", "GET //cgi-bin/user/info?access_token=T", "127.0.0.1", 40097, "", ""},
		{"other prefix", "GET /rotate?access_token=T", "127.0.0.1", 40066, "", ""},
		{"sns", "GET /sns/userinfo?access_token=T", "127.0.0.1", 40066, "", ""},
		{"prefix without slash", "GET /cgi-binx/user?access_token=T", "127.0.0.1", 40066, "", ""},
		{"repeated token", "GET /cgi-bin/user/info?access_token=T&access_token=U", "127.0.0.1", 40097, "", ""},
		{"repeated encoded", "GET /cgi-bin/user/info?access_token=T&access%5ftoken=U", "127.0.0.1", 40097, "", ""},
		{"semicolon", "GET /cgi-bin/user/info?a=1;access_token=U&access_token=T", "127.0.0.1", 40097, "", ""},
		{"missing token", "GET /cgi-bin/user/info?access_token=", "127.0.0.1", 41001, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rej := classify(rawRequest(t, tc.line, tc.host), []string{"tokend.internal"})
			switch {
			case tc.code == 0 && rej != nil:
				t.Fatalf("rejected %d %q, want forwarded", rej.code, rej.msg)
			case tc.code != 0 && rej == nil:
				t.Fatalf("forwarded, want %d", tc.code)
			case tc.code != 0 && rej.code != tc.code:
				t.Fatalf("errcode %d (%s), want %d", rej.code, rej.msg, tc.code)
			case tc.code == 0 && (c.token != tc.token || c.prefix != tc.label):
				t.Fatalf("token %q label %q, want %q %q", c.token, c.prefix, tc.token, tc.label)
			}
		})
	}
}

func TestWithToken(t *testing.T) {
	got := withToken("b=%20x&access_token=old&z=1&", "n+w/")
	if want := "b=%20x&access_token=n%2Bw%2F&z=1&"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestClaims(t *testing.T) {
	for q, want := range map[string]bool{"access_token=x": true, "a=1&access%5Ftoken=": true, "token=x": false, "": false} {
		r, _ := http.NewRequest("GET", "http://h/x?"+q, nil)
		if Claims(r) != want {
			t.Errorf("Claims(%q) = %v", q, !want)
		}
	}
}
