package proxy

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Prefixes are the upstream path prefixes forwarded: the WeChat Official
// Account and Mini Program APIs and the WeCom server APIs that take the
// app's access_token in the query. /sns/ is not among them: its calls
// carry a user's OAuth token, which is no app's (README, "Proxy mode").
var Prefixes = []string{
	"/cgi-bin/", "/wxa/", "/wxaapi/", "/datacube/", "/card/", "/customservice/",
	"/merchant/", "/semantic/", "/shakearound/", "/tcb/", "/channels/", "/product/",
	"/shop/", "/union/", "/wxopen/",
}

// cgiGroups are the /cgi-bin/ second segments that get a metric label of
// their own; any other is "cgi-bin/other", so the label set stays bounded
// whatever paths clients send.
var cgiGroups = []string{
	"message", "media", "material", "user", "tags", "menu", "qrcode", "template",
	"department", "externalcontact", "appchat", "kf", "agent", "batch", "checkin",
	"oa", "corp", "linkedcorp", "wedrive", "shorturl", "getcallbackip", "get_api_domain_ip",
}

// methods are the methods forwarded; the upstream APIs take GET and POST.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodHead}

// maxQuery bounds the query string, and with it the token presented.
const maxQuery = 8 << 10

// rejection is a request answered locally: HTTP status, the WeChat
// errcode and errmsg.
type rejection struct {
	status int
	code   int
	msg    string
}

// call is a request that passed the local rules: the token presented and
// the metric label of its path.
type call struct {
	token  string
	prefix string
}

// Claims reports whether r is a proxy request (its query names
// access_token), so that a router can answer its own 404 for anything
// else.
func Claims(r *http.Request) bool {
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if key, _, _ := strings.Cut(part, "="); queryKey(key) == "access_token" {
			return true
		}
	}
	return false
}

// classify applies the local rules to r (hosts: the Host names accepted
// besides IP literals and localhost) and returns the call to forward, or
// the rejection to answer. It reads nothing but r's request line and Host.
func classify(r *http.Request, hosts []string) (call, *rejection) {
	prefix := pathLabel(r.URL.Path)
	c := call{prefix: prefix}
	switch {
	case !strings.HasPrefix(r.RequestURI, "/"):
		return c, &rejection{http.StatusBadRequest, 40097, "invalid args: tokend's proxy takes origin-form request targets (/path?query), not absolute URLs or proxy requests"}
	case !hostAllowed(r.Host, hosts):
		return c, &rejection{http.StatusBadRequest, 40097, "invalid args: the Host header does not name tokend; list the name in http.proxy_hosts"}
	case !slices.Contains(methods, r.Method):
		return c, &rejection{http.StatusMethodNotAllowed, 43001, "require GET or POST method"}
	case badPath(r):
		return c, &rejection{http.StatusBadRequest, 40097, "invalid args: the path has dot segments, encoded dots or slashes, backslashes or empty segments"}
	case prefix == "other":
		return c, &rejection{http.StatusNotFound, 40066, "invalid url: tokend proxies only " + strings.Join(Prefixes, ", ")}
	case len(r.URL.RawQuery) > maxQuery || strings.Contains(r.URL.RawQuery, ";"):
		return c, &rejection{http.StatusBadRequest, 40097, "invalid args: the query is too long or has a ';'"}
	}
	tok, n := queryToken(r.URL.RawQuery)
	switch {
	case n > 1:
		return c, &rejection{http.StatusBadRequest, 40097, "invalid args: access_token given more than once"}
	case tok == "":
		return c, &rejection{http.StatusOK, 41001, "access_token missing"}
	}
	c.token = tok
	return c, nil
}

// hostAllowed reports whether host (the Host header) names tokend: an IP
// literal, localhost, or one of hosts, with any port.
func hostAllowed(host string, hosts []string) bool {
	name := host
	if h, port, err := net.SplitHostPort(host); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	switch {
	case name == "" || strings.ContainsAny(name, "@/\\"):
		return false
	case name == "localhost" || net.ParseIP(strings.Trim(name, "[]")) != nil:
		return true
	}
	return slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, name) })
}

// badPath reports a path that could reach another resource than it
// names: dot segments, empty segments, backslashes, or encoded dots,
// slashes and backslashes (the upstream might decode them).
func badPath(r *http.Request) bool {
	raw, _, _ := strings.Cut(r.RequestURI, "?")
	low := strings.ToLower(raw)
	if strings.Contains(low, "%2e") || strings.Contains(low, "%2f") || strings.Contains(low, "%5c") ||
		strings.Contains(raw, "\\") || strings.Contains(raw, "//") {
		return true
	}
	for seg := range strings.SplitSeq(r.URL.Path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// pathLabel is the bounded metric label of path: its allowed prefix
// without slashes ("wxa"), for /cgi-bin/ with a known second segment
// ("cgi-bin/message"), or "other".
func pathLabel(path string) string {
	i := slices.IndexFunc(Prefixes, func(p string) bool { return strings.HasPrefix(path, p) })
	if i < 0 {
		return "other"
	}
	label := strings.Trim(Prefixes[i], "/")
	if label != "cgi-bin" {
		return label
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, Prefixes[i]), "/")
	if slices.Contains(cgiGroups, seg) {
		return label + "/" + seg
	}
	return label + "/other"
}

// queryKey is a raw query key decoded ("access%5Ftoken" is access_token),
// or the raw key when it does not decode.
func queryKey(raw string) string {
	if k, err := url.QueryUnescape(raw); err == nil {
		return k
	}
	return raw
}

// queryToken returns the decoded access_token of raw and how many times
// the key occurs.
func queryToken(raw string) (string, int) {
	var tok string
	n := 0
	for part := range strings.SplitSeq(raw, "&") {
		key, val, _ := strings.Cut(part, "=")
		if queryKey(key) != "access_token" {
			continue
		}
		n++
		if v, err := url.QueryUnescape(val); err == nil {
			tok = v
		}
	}
	return tok, n
}

// withToken returns raw with the access_token value replaced by tok; the
// other parameters stay byte for byte.
func withToken(raw, tok string) string {
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		if key, _, _ := strings.Cut(part, "="); queryKey(key) == "access_token" {
			parts[i] = "access_token=" + url.QueryEscape(tok)
		}
	}
	return strings.Join(parts, "&")
}
