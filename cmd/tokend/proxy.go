package main

import (
	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/cmd/tokend/internal/httpapi"
	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
)

// proxyProviders are the providers whose API calls the proxy forwards.
var proxyProviders = map[string]bool{"wechat": true, "wechat_stable": true, "wecom": true}

// proxyConfig is proxy mode for the API: the WeChat and WeCom apps'
// base URLs (validated: every app has one), counted in m.
func proxyConfig(c *config.Config, m *metrics.Metrics) httpapi.ProxyConfig {
	h := c.HTTP
	if !h.Proxy {
		return httpapi.ProxyConfig{}
	}
	ups := map[string]string{}
	for _, a := range c.Apps {
		if proxyProviders[a.Provider] {
			ups[a.ID] = a.BaseURL
		}
	}
	return httpapi.ProxyConfig{
		Enabled: true, Upstreams: ups, Hosts: h.ProxyHosts, MaxBody: h.ProxyMaxBody,
		Timeout: h.ProxyTimeout, MaxConcurrent: h.ProxyMaxConcurrent, Observe: m.Proxy().Proxied,
	}
}
