// Package sdk runs real WeChat SDKs, unchanged, against tokend's
// WeChat-shaped routes (sdk_test.go): github.com/silenceper/wechat/v2 in
// process, co-wechat-api and wechat-jssdk from npm through node/run.js,
// each as 4 instances against 3 tokend processes on a real redis-server
// and the fake upstream, beside the same SDKs straight at the fake
// upstream. It is a module of its own, replacing github.com/tokend/tokend
// with the enclosing checkout, so that the tokend module gains no
// dependency on any SDK. `npm ci` in node/ installs the Node SDKs; without
// them (or node) the test skips, unless CI is set.
//
// What it does NOT cover: other SDKs; the WeCom, Feishu and DingTalk
// routes (their envelopes and refusals are table-tested in
// cmd/tokend/internal/httpapi); ticket rollovers (integration's TestKinds).
package sdk
