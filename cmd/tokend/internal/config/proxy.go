package config

import (
	"net"
	"strings"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/proxy"
)

// HTTPProxyConfig are the http keys of proxy mode (README "Proxy mode"),
// inline in HTTPConfig.
type HTTPProxyConfig struct {
	// Proxy forwards WeChat and WeCom API calls that carry an app's
	// access_token to the app's base_url, with the current token. Default
	// false; needs compat.
	Proxy bool `yaml:"proxy"`
	// ProxyTimeout bounds one proxied call, body transfer and retry
	// included. Default proxy.DefaultTimeout (60s).
	ProxyTimeout time.Duration `yaml:"proxy_timeout"`
	// ProxyMaxBody caps a proxied request body, in bytes. Default
	// proxy.DefaultMaxBody (32 MiB).
	ProxyMaxBody int64 `yaml:"proxy_max_body"`
	// ProxyMaxConcurrent caps proxied calls in flight per app; more get
	// -1 "system busy". Default proxy.DefaultMaxConcurrent (64).
	ProxyMaxConcurrent int `yaml:"proxy_max_concurrent"`
	// ProxyHosts are the Host header names a proxied call may carry
	// besides IP literals and localhost (tokend's DNS names).
	ProxyHosts []string `yaml:"proxy_hosts"`
}

// The ranges of the proxy keys.
const (
	minProxyTimeout       = time.Second
	maxProxyTimeout       = 10 * time.Minute
	minProxyMaxBody       = 1 << 10
	maxProxyMaxBody       = 1 << 30
	maxProxyMaxConcurrent = 10000
)

// setProxyDefaults fills the proxy keys absent from present.
func (h *HTTPConfig) setProxyDefaults(present map[string]bool) {
	if !present["http.proxy_timeout"] && h.ProxyTimeout == 0 {
		h.ProxyTimeout = proxy.DefaultTimeout
	}
	if !present["http.proxy_max_body"] && h.ProxyMaxBody == 0 {
		h.ProxyMaxBody = proxy.DefaultMaxBody
	}
	if !present["http.proxy_max_concurrent"] && h.ProxyMaxConcurrent == 0 {
		h.ProxyMaxConcurrent = proxy.DefaultMaxConcurrent
	}
}

// validateProxy checks the proxy keys, naming the field at fault.
func (h *HTTPConfig) validateProxy() error {
	switch {
	case h.Proxy && !*h.Compat:
		return fieldErr("http.proxy", "needs http.compat: true (the proxy finds an app by the tokens the compat routes hand out)")
	case h.ProxyTimeout < minProxyTimeout || h.ProxyTimeout > maxProxyTimeout:
		return fieldErr("http.proxy_timeout", "must be between %s and %s, got %s (omit it for %s)", minProxyTimeout, maxProxyTimeout, h.ProxyTimeout, proxy.DefaultTimeout)
	case h.ProxyMaxBody < minProxyMaxBody || h.ProxyMaxBody > maxProxyMaxBody:
		return fieldErr("http.proxy_max_body", "must be between %d and %d bytes, got %d (omit it for %d)", minProxyMaxBody, maxProxyMaxBody, h.ProxyMaxBody, proxy.DefaultMaxBody)
	case h.ProxyMaxConcurrent < 1 || h.ProxyMaxConcurrent > maxProxyMaxConcurrent:
		return fieldErr("http.proxy_max_concurrent", "must be between 1 and %d, got %d (omit it for %d)", maxProxyMaxConcurrent, h.ProxyMaxConcurrent, proxy.DefaultMaxConcurrent)
	}
	for i, name := range h.ProxyHosts {
		if name == "" || strings.ContainsAny(name, ":/@\\ \t[]") || net.ParseIP(name) != nil {
			return fieldErr("http.proxy_hosts", "entry %d: want a DNS name without port or scheme (IP literals and localhost are always accepted), got %q", i, name)
		}
	}
	return nil
}
