package jssdk

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// WeChat's published example, JS-SDK documentation, appendix 1
// ("JS-SDK使用权限签名算法"):
// https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html
const (
	docTicket    = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
	docNonce     = "Wm3WZYTPz0wzccnW"
	docTimestamp = 1414587457
	docURL       = "http://mp.weixin.qq.com?params=value"
	docSignature = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
)

func TestSign_wechatExample(t *testing.T) {
	if got := Sign(docTicket, docNonce, docTimestamp, docURL); got != docSignature {
		t.Fatalf("Sign = %s, want %s", got, docSignature)
	}
	for _, u := range []string{docURL + "#", docURL + "#frag", docURL + "#a#b", docURL + "#/route?x=1"} {
		if got := Sign(docTicket, docNonce, docTimestamp, u); got != docSignature {
			t.Errorf("Sign(%q) = %s, want the signature without the fragment", u, got)
		}
	}
}

// TestSign_byteForByte: the URL is signed as given (no decoding, no
// normalising), so any change of a byte changes the signature.
func TestSign_byteForByte(t *testing.T) {
	base := Sign(docTicket, docNonce, docTimestamp, "https://example.com/a?b=%2F")
	for _, u := range []string{
		"https://example.com/a?b=/", "https://example.com/a?b=%2f", "https://EXAMPLE.com/a?b=%2F",
		"https://example.com:443/a?b=%2F", "https://example.com/a?b=%2F&",
	} {
		if Sign(docTicket, docNonce, docTimestamp, u) == base {
			t.Errorf("%q signs like https://example.com/a?b=%%2F: the URL was normalised", u)
		}
	}
	if Sign(docTicket, docNonce, docTimestamp+1, docURL) == docSignature || Sign(docTicket+"x", docNonce, docTimestamp, docURL) == docSignature {
		t.Fatal("timestamp or ticket not signed")
	}
}

func TestCheckURL(t *testing.T) {
	long := "https://example.com/?q=" + strings.Repeat("a", MaxURLBytes)
	edge := "https://example.com/?q=" + strings.Repeat("a", MaxURLBytes-len("https://example.com/?q="))
	for u, ok := range map[string]bool{
		docURL: true, "https://example.com": true, "https://example.com/p?a=1#frag": true,
		"http://127.0.0.1:8080/x": true, "https://例子.测试/页": true, edge: true,
		"": false, long: false, "/relative/path": false, "example.com/x": false, "ftp://example.com/": false,
		"https://": false, "https:///path": false, "javascript:alert(1)": false, "mailto:a@b.c": false,
		"https://example.com/a b": false, "https://example.com/\n": false, " https://example.com/": false,
		"https://example.com/\x7f": false, "http:example.com": false, "https://exa mple.com/": false,
	} {
		err := CheckURL(u)
		var ue *URLError
		if ok != (err == nil) || (!ok && !errors.As(err, &ue)) {
			t.Errorf("CheckURL(%.40q) = %v, want ok=%v (a *URLError otherwise)", u, err, ok)
		}
		if err != nil && u != "" && strings.Contains(err.Error(), u) {
			t.Errorf("the error quotes the URL: %v", err)
		}
	}
}

func TestNew(t *testing.T) {
	s, err := New(docTicket, docURL+"#x", docTimestamp)
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != docURL || s.Timestamp != docTimestamp || s.Signature != Sign(docTicket, s.NonceStr, docTimestamp, docURL) {
		t.Fatalf("New = %+v", s)
	}
	if _, err := New(docTicket, "/x", docTimestamp); err == nil {
		t.Fatal("New signed a relative URL")
	}
}

func TestNonceStr(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{16}$`)
	seen := map[string]bool{}
	counts := map[byte]int{}
	for range 2000 {
		n := NonceStr()
		if !re.MatchString(n) {
			t.Fatalf("NonceStr = %q", n)
		}
		if seen[n] {
			t.Fatalf("NonceStr repeated %q", n)
		}
		seen[n] = true
		for i := range len(n) {
			counts[n[i]]++
		}
	}
	// 32,000 characters over 62 symbols: every symbol shows up (the
	// chance that one is missing is about 62 * e^-516).
	if len(counts) != 62 {
		t.Fatalf("NonceStr used %d of 62 characters", len(counts))
	}
}

func TestConfigKind(t *testing.T) {
	for k, want := range map[string]bool{"jsapi": true, "agent_config": true, "wx_card": false, "": false, "JSAPI": false} {
		if ConfigKind(k) != want {
			t.Errorf("ConfigKind(%q) != %v", k, want)
		}
	}
}
