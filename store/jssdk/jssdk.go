// Package jssdk computes the JS-SDK config signature that WeChat's
// wx.config, WeCom's wx.config and wx.agentConfig, and DingTalk's dd.config
// check in the browser: the SHA-1 hex of
// "jsapi_ticket=T&noncestr=N&timestamp=TS&url=U", where U is the page URL
// byte for byte up to its first '#'. It also checks such a URL and makes
// nonce strings. It is a leaf package: it imports nothing from tokend.
//
// What jssdk does NOT promise: that a signature is accepted. The browser
// compares against the ticket the upstream holds now and the page's
// location.href.split('#')[0]; jssdk neither decodes nor normalises the URL
// (a URL that differs from the page's in any byte, percent-encoding and
// case included, yields a signature the page rejects), and it cannot tell
// a stale ticket from a live one.
package jssdk

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLBytes is the longest page URL CheckURL accepts (2 KiB).
const MaxURLBytes = 2048

// NonceLen is the length of the strings NonceStr returns.
const NonceLen = 16

// Signature is what a page passes to wx.config (with its appid): it never
// holds the ticket it was computed with.
type Signature struct {
	// Timestamp is the unix time in seconds that was signed.
	Timestamp int64
	// NonceStr is the random string that was signed.
	NonceStr string
	// Signature is the SHA-1 hex digest (40 lower-case hex digits).
	Signature string
	// URL is the URL that was signed: the given one up to its first '#'.
	URL string
}

// URLError is a page URL CheckURL refuses. Reason never quotes the URL.
type URLError struct {
	Reason string
}

func (e *URLError) Error() string { return "jssdk: url: " + e.Reason }

// CheckURL returns a *URLError unless u is an absolute http or https URL
// with a host, at most MaxURLBytes long, without white space or control
// characters (a browser's location.href never has them, so a signature
// over them could never be accepted).
func CheckURL(u string) error {
	switch {
	case u == "":
		return &URLError{Reason: "required"}
	case len(u) > MaxURLBytes:
		return &URLError{Reason: "longer than " + strconv.Itoa(MaxURLBytes) + " bytes"}
	case strings.IndexFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return &URLError{Reason: "contains white space or a control character; send location.href as the browser shows it"}
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Opaque != "" {
		return &URLError{Reason: "want an absolute http or https URL (the page's location.href)"}
	}
	return nil
}

// StripFragment returns u up to its first '#', byte for byte.
func StripFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i]
	}
	return u
}

// Sign returns the SHA-1 hex of
// "jsapi_ticket=<ticket>&noncestr=<nonceStr>&timestamp=<timestamp>&url=<U>",
// U being pageURL up to its first '#'. The values are used raw: nothing is
// encoded, decoded or normalised. Sign does not check its arguments.
func Sign(ticket, nonceStr string, timestamp int64, pageURL string) string {
	var b strings.Builder
	pageURL = StripFragment(pageURL)
	b.Grow(len(ticket) + len(nonceStr) + len(pageURL) + 64)
	b.WriteString("jsapi_ticket=")
	b.WriteString(ticket)
	b.WriteString("&noncestr=")
	b.WriteString(nonceStr)
	b.WriteString("&timestamp=")
	b.WriteString(strconv.FormatInt(timestamp, 10))
	b.WriteString("&url=")
	b.WriteString(pageURL)
	sum := sha1.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// New checks pageURL (CheckURL) and signs it with ticket, a fresh NonceStr
// and timestamp (unix seconds).
func New(ticket, pageURL string, timestamp int64) (Signature, error) {
	if err := CheckURL(pageURL); err != nil {
		return Signature{}, err
	}
	nonce := NonceStr()
	return Signature{
		Timestamp: timestamp,
		NonceStr:  nonce,
		Signature: Sign(ticket, nonce, timestamp, pageURL),
		URL:       StripFragment(pageURL),
	}, nil
}

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NonceStr returns NonceLen random characters from [A-Za-z0-9], drawn
// from crypto/rand without modulo bias (about 95 bits).
func NonceStr() string {
	out := make([]byte, 0, NonceLen)
	var buf [32]byte
	for len(out) < NonceLen {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand crashes the program instead)
		for _, c := range buf {
			// 248 = 4*62: bytes at or above it would favour the first characters.
			if c < 248 && len(out) < NonceLen {
				out = append(out, alphanumeric[c%62])
			}
		}
	}
	return string(out)
}

// ConfigKind reports whether tickets of kind sign with this signature:
// jsapi (wx.config, dd.config) and agent_config (WeCom's wx.agentConfig).
// wx_card tickets sign card requests differently.
func ConfigKind(kind string) bool { return kind == "jsapi" || kind == "agent_config" }
