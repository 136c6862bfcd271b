package platform

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/tokend/tokend/store"
)

// Authorizer tickets: a JS-SDK ticket (jsapi, wx_card) of an authorizer is
// the credential "<component>/<appid>:<kind>", with store's keys, fetch
// tickets and fenced writes (a raw reader GETs
// {prefix}:token:<component>/<appid>:jsapi), written only while the
// authorizer is stored. RemoveAuthorizer deletes it with the authorizer.

//go:embed lua/authorizer_ticket_write.lua
var luaAuthorizerTicketWrite string

var authorizerTicketWriteScript = store.NewWriteScript(luaAuthorizerTicketWrite)

// AuthorizerTicketID is the credential id of an authorizer's ticket of
// kind.
func AuthorizerTicketID(component, appid, kind string) string {
	return AuthorizerID(component, appid) + ":" + kind
}

// WriteAuthorizerTicket is store.WriteToken for an authorizer's ticket
// (w.App = "<component>/<appid>:<kind>"), fenced the same way, in one
// script that first checks the authorizer is still in its component's
// hash: ErrAuthorizerGone (nothing written) when it is not, so a ticket
// fetched before an unauthorized event is never written back.
func (s *Store) WriteAuthorizerTicket(ctx context.Context, w store.Write) (store.WriteResult, error) {
	parent, kind := store.Parent(w.App)
	component, appid, ok := SplitAuthorizer(parent)
	if !ok || kind == "" || !store.ValidCredential(w.App) {
		return store.WriteResult{}, fmt.Errorf("%w: an authorizer ticket is <component>/<appid>:<kind>", store.ErrInvalidApp)
	}
	res, err := s.Store.WriteTokenWith(ctx, w, authorizerTicketWriteScript, []string{AuthorizersKey(s.keys, component)}, appid)
	if errors.Is(err, store.ErrWriteRefused) {
		return res, ErrAuthorizerGone
	}
	return res, err
}
