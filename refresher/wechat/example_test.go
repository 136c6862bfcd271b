package wechat_test

import (
	"context"
	"fmt"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// A stable-token provider against the fake upstream: normal mode returns
// the same token; reporting it as invalid forces a new one.
func ExampleStable_Fetch() {
	fake := wechattest.NewServer(wechattest.Config{})
	defer fake.Close()
	fake.AddApp("wx0123456789abcdef", "app-secret")

	p, err := wechat.NewStable(wechat.Config{AppID: "wx0123456789abcdef", Secret: "app-secret", BaseURL: fake.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	first, _ := p.Fetch(ctx, upstream.FetchRequest{})
	again, _ := p.Fetch(ctx, upstream.FetchRequest{})
	fresh, _ := p.Fetch(ctx, upstream.FetchRequest{Invalid: first.Value})
	fmt.Println("same token in normal mode:", first.Value == again.Value)
	fmt.Println("new token after a report:", fresh.Value != first.Value)
	fmt.Println("old token now answers:", fake.Check(first.Value))
	// Output:
	// same token in normal mode: true
	// new token after a report: true
	// old token now answers: 40001
}

// Errors never carry the secret; the class tells the refresher what to do.
func ExampleClassic_Fetch_error() {
	fake := wechattest.NewServer(wechattest.Config{})
	defer fake.Close()
	fake.AddApp("wx0123456789abcdef", "app-secret")

	p, _ := wechat.NewClassic(wechat.Config{AppID: "wx0123456789abcdef", Secret: "wrong-secret", BaseURL: fake.URL})
	_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
	fmt.Println(upstream.ClassOf(err))
	// Output:
	// config
}
