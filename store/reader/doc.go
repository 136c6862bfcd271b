// Package reader is tokend's library mode: a Reader serves any credential
// tokend keeps (an app's access token "mp-main", a ticket "mp-main:jsapi")
// from memory to a business app, kept current by the events channel and
// periodic re-reads of Redis, sends the refresh reports of values the
// upstream rejected, and signs JS-SDK configs with a cached ticket
// (Signature). It reads the keys tokend's leader writes (package store's
// layout) and never writes a token.
//
// What reader does NOT promise: that a token it serves is still honoured
// by the upstream (a token may be rejected before its expiry: report it
// with ReportInvalid or ReportAndWait), or any token while Redis has none;
// nor that the browser accepts a signature (a stale ticket shows only as
// "invalid signature" there: report the ticket like a token).
package reader
