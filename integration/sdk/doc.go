// Package sdk runs real WeChat SDKs, unchanged, against tokend's
// WeChat-shaped routes; see sdk_test.go. It is a module of its own so that
// the tokend module gains no dependency on any SDK.
package sdk
