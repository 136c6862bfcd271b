package compat

import (
	"context"
	"testing"
)

// TestRoutes_AppByToken: an app without tickets is found by its token
// only with IndexAll; an app with tickets always; an unknown token never;
// the ticket routes answer a token of an app without tickets 40001 either
// way.
func TestRoutes_AppByToken(t *testing.T) {
	apps := []App{
		{ID: "mp", Provider: "wechat", AppID: "wxmp", Tickets: []string{"jsapi"}},
		{ID: "plain", Provider: "wechat", AppID: "wxplain"},
	}
	for _, all := range []bool{false, true} {
		e := newEnvWith(t, func(c *Config) { c.Apps, c.IndexAll = apps, all })
		e.writeToken(t, "mp", "tok-mp")
		e.writeToken(t, "plain", "tok-plain")
		ctx := context.Background()
		if app, ok := e.routes.AppByToken(ctx, "tok-mp"); !ok || app != "mp" {
			t.Errorf("IndexAll %v: tok-mp -> %q %v, want mp", all, app, ok)
		}
		if app, ok := e.routes.AppByToken(ctx, "tok-plain"); ok != all || (ok && app != "plain") {
			t.Errorf("IndexAll %v: tok-plain -> %q %v", all, app, ok)
		}
		if _, ok := e.routes.AppByToken(ctx, "nobody's"); ok {
			t.Errorf("IndexAll %v: an unknown token found an app", all)
		}
		// The ticket route answers an app without tickets as before.
		if r := e.do(t, "GET", "/cgi-bin/ticket/getticket?type=jsapi&access_token=tok-plain", ""); errcodeOf(r) != 40001 {
			t.Errorf("IndexAll %v: ticket for an app without tickets: errcode %d, want 40001", all, errcodeOf(r))
		}
	}
}
