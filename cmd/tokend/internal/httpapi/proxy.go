package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/proxy"
)

// proxyRefreshWait bounds how long a proxied call waits for a new token
// after the upstream rejected its token: less than SDKs' call timeouts.
const proxyRefreshWait = 5 * time.Second

// ProxyConfig is proxy mode (http.proxy; package proxy). Zero: off.
type ProxyConfig struct {
	Enabled bool
	// Upstreams are the base URLs by app id: the WeChat and WeCom apps'
	// base_url. Others are not proxied.
	Upstreams map[string]string
	// Hosts, MaxBody, Timeout, MaxConcurrent: proxy.Config's (zero:
	// proxy's defaults).
	Hosts         []string
	MaxBody       int64
	Timeout       time.Duration
	MaxConcurrent int
	// Observe counts requests (metrics.ProxyMetrics.Proxied); nil: not
	// counted.
	Observe func(app, prefix, outcome string, took time.Duration)
	// Authorize decides whether a request may call an app's APIs; nil:
	// every caller may.
	Authorize func(r *http.Request, app string) (client string, ok bool)
}

// newProxy builds proxy mode on the compat routes' token index, the
// token reader and compatRefresh; nil when cfg.Proxy is off.
func (a *Server) newProxy(cfg Config) (*proxy.Proxy, error) {
	pc := cfg.Proxy
	if !pc.Enabled {
		return nil, nil
	}
	if a.compat == nil {
		return nil, errors.New("httpapi: Proxy needs Compat: the proxy finds apps by the compat routes' token index")
	}
	return proxy.New(proxy.Config{
		Lookup:    a.compat.AppByToken,
		Upstreams: pc.Upstreams,
		Token: func(ctx context.Context, app string) (string, error) {
			tok, err := a.tokensR.Token(ctx, app)
			return tok.Value, err
		},
		Refresh: func(ctx context.Context, app, reported string) (string, bool) {
			tok, ok := a.compatRefresh(ctx, app, reported, proxyRefreshWait)
			return tok.Value, ok
		},
		Authorize: pc.Authorize, Hosts: pc.Hosts, MaxBody: pc.MaxBody, Timeout: pc.Timeout,
		MaxConcurrent: pc.MaxConcurrent, Observe: pc.Observe, Clock: cfg.Clock, Logger: a.log,
	})
}

// fallback answers the requests no route matched: a proxy call (its query
// names access_token) when proxy mode is on, else 404.
func (a *Server) fallback() http.Handler {
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such route")
	})
	if a.proxy == nil {
		return notFound
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxy.Claims(r) {
			a.proxy.ServeHTTP(w, r)
			return
		}
		notFound(w, r)
	})
}
