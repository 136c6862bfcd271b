// Package reader is tokend's library mode: a Reader serves an app's
// access token from memory to a business app, kept current by the events
// channel and periodic re-reads of Redis, and sends the refresh reports
// of tokens the upstream rejected. It reads the keys tokend's leader
// writes (package store's layout) and never writes a token.
//
// What reader does NOT promise: that a token it serves is still honoured
// by the upstream (a token may be rejected before its expiry: report it
// with ReportInvalid or ReportAndWait), or any token while Redis has none.
package reader
