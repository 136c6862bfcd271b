package openplatform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// ErrNoComponentToken: no valid component token is stored to make a call
// with (api_query_auth, api_create_preauthcode on any replica): the
// component waits for a verify ticket, or Redis lost its token.
var ErrNoComponentToken = errors.New("openplatform: no valid component token stored")

// PreAuthCode is a pre-authorization code from api_create_preauthcode:
// it opens WeChat's authorization page for one authorization flow. It is
// minted per flow and never cached or stored. String never shows it.
type PreAuthCode struct {
	Value     string
	ExpiresIn time.Duration
}

func (c PreAuthCode) String() string {
	return fmt.Sprintf("pre_auth_code(%s, %s)", store.Fingerprint(c.Value), c.ExpiresIn)
}

// GoString is String, so that %#v never shows the code.
func (c PreAuthCode) GoString() string { return c.String() }

// CreatePreAuthCode calls api_create_preauthcode with the component
// token: a new pre-authorization code on every call (each costs one
// upstream call; WeChat documents 600 s and 1800 s of life).
func (p *Component) CreatePreAuthCode(ctx context.Context, componentToken string) (PreAuthCode, error) {
	if componentToken == "" {
		return PreAuthCode{}, &upstream.Error{Message: "api_create_preauthcode needs a component token", Class: upstream.ClassInput}
	}
	var ans struct {
		Code      string      `json:"pre_auth_code"`
		ExpiresIn json.Number `json:"expires_in"`
	}
	body := map[string]string{"component_appid": p.appID}
	if err := p.c.Decode(ctx, p.withComponentToken("api_create_preauthcode", componentToken, body), &ans); err != nil {
		return PreAuthCode{}, err
	}
	if err := upstream.ValidateValue("pre_auth_code", ans.Code); err != nil {
		return PreAuthCode{}, err
	}
	d, err := upstream.ParseExpiresIn("expires_in", ans.ExpiresIn, time.Second)
	if err != nil {
		return PreAuthCode{}, err
	}
	return PreAuthCode{Value: ans.Code, ExpiresIn: d}, nil
}
