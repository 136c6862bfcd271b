package clients_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
)

func ExampleSet_Authorize() {
	set, err := clients.New(clients.Config{
		AppIDs: []string{"mp-main", "mp-pay", "wecom-hr"},
		Clients: []clients.Client{{
			Name:  "billing",
			Keys:  []clients.Digest{clients.KeyDigest("billing-key-0123456789")},
			Apps:  []string{"mp-*"},
			Allow: []clients.Action{clients.Token, clients.Refresh},
			CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		}},
	})
	if err != nil {
		panic(err)
	}
	src := netip.MustParseAddr("10.1.2.3")
	for _, q := range []struct {
		app    string
		action clients.Action
	}{{"mp-main", clients.Token}, {"mp-main:jsapi", clients.Token}, {"wecom-hr", clients.Token}, {"mp-pay", clients.Sign}} {
		d := set.Authorize(src, "billing-key-0123456789", q.app, q.action)
		fmt.Println(strings.TrimSpace(fmt.Sprint(q.app, " ", q.action, " ", d.Outcome, " ", d.Reason)))
	}
	d := set.Authorize(netip.MustParseAddr("192.0.2.1"), "billing-key-0123456789", "mp-main", clients.Token)
	fmt.Println("from 192.0.2.1:", d.Outcome, d.Reason)
	// Output:
	// mp-main token allowed
	// mp-main:jsapi token allowed
	// wecom-hr token denied app not in the client's apps
	// mp-pay sign denied action not allowed for the client
	// from 192.0.2.1: denied source address not in the client's cidrs
}
