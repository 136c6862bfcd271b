package wechat_test

import (
	"context"
	"fmt"

	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// A stable-token provider against the fake upstream: normal mode returns
// the same token; reporting it as invalid forces a new one.
func ExampleStable_Fetch() {
	upstream := wechattest.NewServer(wechattest.Config{})
	defer upstream.Close()
	upstream.AddApp("wx0123456789abcdef", "app-secret")

	p, err := wechat.NewStable(wechat.Config{AppID: "wx0123456789abcdef", Secret: "app-secret", BaseURL: upstream.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	first, _ := p.Fetch(ctx, refresher.FetchRequest{})
	again, _ := p.Fetch(ctx, refresher.FetchRequest{})
	fresh, _ := p.Fetch(ctx, refresher.FetchRequest{Invalid: first.Value})
	fmt.Println("same token in normal mode:", first.Value == again.Value)
	fmt.Println("new token after a report:", fresh.Value != first.Value)
	fmt.Println("old token now answers:", upstream.Check(first.Value))
	// Output:
	// same token in normal mode: true
	// new token after a report: true
	// old token now answers: 40001
}

// Errors never carry the secret; the class tells the refresher what to do.
func ExampleClassic_Fetch_error() {
	upstream := wechattest.NewServer(wechattest.Config{})
	defer upstream.Close()
	upstream.AddApp("wx0123456789abcdef", "app-secret")

	p, _ := wechat.NewClassic(wechat.Config{AppID: "wx0123456789abcdef", Secret: "wrong-secret", BaseURL: upstream.URL})
	_, err := p.Fetch(context.Background(), refresher.FetchRequest{})
	fmt.Println(refresher.ClassOf(err))
	// Output:
	// config
}
