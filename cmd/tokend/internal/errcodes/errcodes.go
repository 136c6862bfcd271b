// Package errcodes is tokend's one table of the upstream error codes it
// handles or reports, per platform (WeChat, WeCom, Feishu, DingTalk): what
// each means, what tokend does on its own and what the operator must do.
// The console, its guide page (GET /ui/errcodes), /v1/status's error_help
// links and README's "Errcode guide" all come from this table (a test
// checks README against it, and the table's classes against the
// providers' classifiers).
//
// It imports nothing of tokend. It does not promise that a code not listed
// is harmless (tokend retries unknown codes with backoff), nor that the
// platforms never change a code's meaning: the sources are cited per
// platform below.
package errcodes

import (
	"slices"
	"strconv"
	"strings"
)

// GuidePath is where tokend serves the guide; an entry's help link is
// GuidePath + "#" + its anchor.
const GuidePath = "/ui/errcodes"

// The platforms, in guide order.
const (
	WeChat   = "wechat"
	WeCom    = "wecom"
	Feishu   = "feishu"
	DingTalk = "dingtalk"
)

// Platforms lists the platforms in guide order with their display names.
var Platforms = []struct{ ID, Name string }{
	{WeChat, "WeChat (Official Account, Mini Program, Open Platform)"},
	{WeCom, "WeCom (企业微信)"},
	{Feishu, "Feishu / Lark"},
	{DingTalk, "DingTalk"},
}

// The refresher's classes (upstream.Class names), as Entry.Class and
// Entry.TokenCall spell them.
const (
	ClassRetry         = "retry"
	ClassConfig        = "config"
	ClassQuota         = "quota"
	ClassTokenRejected = "token_rejected"
)

// Entry is one code of one platform. Read-only.
type Entry struct {
	Platform string
	// Code is the errcode; for a family (Last > 0) its first code.
	Code int
	// Last is a family's last code (WeChat's risk control, 89500-89599);
	// 0 for a single code.
	Last int
	// Meaning is what the code means, one short line: the console shows
	// it next to the code.
	Meaning string
	// Tokend is what tokend does on its own.
	Tokend string
	// Operator is what the operator must do ("" when nothing).
	Operator string
	// Class is how the provider classifies the code on the token
	// endpoint, TokenCall on a call made with a token (a ticket fetch, a
	// probe); "" when that provider does not classify it (a code only
	// clients or the Open Platform see).
	Class, TokenCall string
}

// CodeText is the code as the guide shows it: "40164", or "895xx" for a
// family.
func (e Entry) CodeText() string {
	first := strconv.Itoa(e.Code)
	if e.Last == 0 {
		return first
	}
	last := strconv.Itoa(e.Last)
	n := 0
	for n < len(first) && n < len(last) && first[n] == last[n] {
		n++
	}
	return first[:n] + strings.Repeat("x", len(first)-n)
}

// Anchor is the entry's id in the guide: "wechat-40164", "wechat-895xx".
func (e Entry) Anchor() string { return e.Platform + "-" + e.CodeText() }

// Help is the entry's link: "/ui/errcodes#wechat-40164".
func (e Entry) Help() string { return GuidePath + "#" + e.Anchor() }

// All returns the table, platform by platform in guide order, codes
// ascending (a family after the single codes it contains).
func All() []Entry { return slices.Clone(table) }

// Lookup finds platform's code: the single code, else the family that
// contains it.
func Lookup(platform string, code int) (Entry, bool) {
	var family *Entry
	for i, e := range table {
		if e.Platform != platform {
			continue
		}
		if e.Last == 0 && e.Code == code {
			return e, true
		}
		if e.Last > 0 && code >= e.Code && code <= e.Last {
			family = &table[i]
		}
	}
	if family != nil {
		return *family, true
	}
	return Entry{}, false
}

// PlatformOf is the platform of a provider name (apps[].provider:
// "wechat", "wechat_stable", "wecom", "feishu", "dingtalk"; an Open
// Platform component is WeChat's), "" when unknown.
func PlatformOf(provider string) string {
	switch {
	case provider == WeChat, strings.HasPrefix(provider, WeChat+"_"), provider == "component":
		return WeChat
	case provider == WeCom, provider == Feishu, provider == DingTalk:
		return provider
	}
	return ""
}

// Help is the guide link for provider's code ("" when code is 0 or not
// in the table).
func Help(provider string, code int) string {
	if code == 0 {
		return ""
	}
	e, ok := Lookup(PlatformOf(provider), code)
	if !ok {
		return ""
	}
	return e.Help()
}
