// Package browser drives the tokend console (GET /ui/) in a real headless
// Chromium (/usr/bin/chromium, through chromedp) against tokend replicas
// run as OS processes on a real redis-server and the fake WeChat
// upstream. It is a separate module so that the main module does not
// depend on chromedp. Without Chromium the tests skip, or fail when CI is
// set.
package browser
