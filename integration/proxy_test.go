package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// proxyEnv is one tokend process in proxy mode in front of the fake
// upstream, with one WeChat app whose token it serves.
type proxyEnv struct {
	fake *wechattest.Server
	proc *harness.Process
	tok  string // the app's current token, from the compat route
}

const (
	proxyAppID  = "wxproxy0123456789"
	proxySecret = "proxy-secret-0123456789"
)

func newProxyEnv(t *testing.T) *proxyEnv {
	t.Helper()
	rs := redisserver.Start(t)
	fake := wechattest.NewServer(wechattest.Config{Lifetime: time.Hour, DailyQuota: -1})
	t.Cleanup(fake.Close)
	fake.AddApp(proxyAppID, proxySecret)
	c := harness.NewCluster(t, harness.Config{
		Redis:    harness.StandaloneRedis(rs.Addr, ""),
		Apps:     []harness.App{{ID: "mp", AppID: proxyAppID, Secret: proxySecret, BaseURL: fake.URL}},
		HTTP:     map[string]any{"proxy": true},
		LogLevel: "info",
	})
	e := &proxyEnv{fake: fake, proc: c.Start(1)[0]}
	wait.For(t, 10*time.Second, "the app's token through the compat route", func() bool {
		var ans struct {
			AccessToken string `json:"access_token"`
		}
		_, body := e.call(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid="+proxyAppID+"&secret="+proxySecret, "", nil)
		_ = json.Unmarshal(body, &ans)
		e.tok = ans.AccessToken
		return e.tok != ""
	})
	return e
}

var proxyClient = &http.Client{Timeout: 60 * time.Second}

// call sends a request to tokend and returns the status and body.
func (e *proxyEnv) call(t *testing.T, method, target, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.proc.Addr+target, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := proxyClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, strings.Split(target, "?")[0], err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// raw sends request text (line and headers) over a fresh connection, so
// the request line and Host are exactly as written, and returns the
// status and the errcode of the answer (-999 for none).
func (e *proxyEnv) raw(t *testing.T, text string) (int, int) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.proc.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, text+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ans := struct {
		Errcode *int `json:"errcode"`
	}{}
	body, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(body, &ans) != nil || ans.Errcode == nil {
		return resp.StatusCode, -999
	}
	return resp.StatusCode, *ans.Errcode
}

// TestProxy_rejectsLocally: bad input is answered by tokend and nothing
// reaches the upstream (the fake's audit counts every request it gets);
// a good call reaches it exactly once.
func TestProxy_rejectsLocally(t *testing.T) {
	t.Parallel()
	e := newProxyEnv(t)
	host := "Host: " + e.proc.Addr
	q := "access_token=" + url.QueryEscape(e.tok)
	fakeHost := strings.TrimPrefix(e.fake.URL, "http://")
	before := e.fake.Audit().Requests
	for _, tc := range []struct {
		name, text string
		status     int // 0: any non-2xx or an errcode answer
		code       int
	}{
		{"token of no app", "GET /cgi-bin/user/info?access_token=not-a-token&openid=o HTTP/1.1\r\n" + host, 200, 40001},
		{"path outside the prefixes", "GET /rotate?app=" + proxyAppID + "&" + q + " HTTP/1.1\r\n" + host, 404, 40066},
		{"sns path", "GET /sns/userinfo?" + q + " HTTP/1.1\r\n" + host, 404, 40066},
		{"Host elsewhere", "GET /cgi-bin/user/info?openid=o&" + q + " HTTP/1.1\r\nHost: api.weixin.qq.com", 400, 40097},
		{"Host of the upstream", "GET /cgi-bin/user/info?openid=o&" + q + " HTTP/1.1\r\nHost: " + fakeHost + ".example", 400, 40097},
		{"absolute-form URI", "GET " + e.fake.URL + "/cgi-bin/user/info?openid=o&" + q + " HTTP/1.1\r\nHost: " + fakeHost, 400, 40097},
		{"dot-dot", "GET /cgi-bin/../audit?" + q + " HTTP/1.1\r\n" + host, 0, 0},
		{"encoded dot-dot", "GET /cgi-bin/%2e%2e/audit?" + q + " HTTP/1.1\r\n" + host, 400, 40097},
		{"encoded slash", "GET /cgi-bin%2f..%2faudit?" + q + " HTTP/1.1\r\n" + host, 400, 40097},
		{"repeated token", "GET /cgi-bin/user/info?openid=o&" + q + "&access_token=x HTTP/1.1\r\n" + host, 400, 40097},
		{"method", "DELETE /cgi-bin/user/info?openid=o&" + q + " HTTP/1.1\r\n" + host, 405, 43001},
	} {
		status, code := e.raw(t, tc.text)
		switch {
		case tc.status == 0 && status >= 200 && status < 300 && code == 0:
			t.Errorf("%s: HTTP %d errcode %d, want a refusal", tc.name, status, code)
		case tc.status != 0 && (status != tc.status || code != tc.code):
			t.Errorf("%s: HTTP %d errcode %d, want HTTP %d errcode %d", tc.name, status, code, tc.status, tc.code)
		}
	}
	if got := e.fake.Audit().Requests; got != before {
		t.Fatalf("the upstream received %d requests from refused calls", got-before)
	}
	status, code := e.raw(t, "GET /cgi-bin/user/info?openid=o&"+q+" HTTP/1.1\r\n"+host)
	if status != 200 || (code != 0 && code != -999) || e.fake.Audit().Requests != before+1 { // user/info answers without errcode
		t.Fatalf("good call: HTTP %d errcode %d, upstream requests +%d", status, code, e.fake.Audit().Requests-before)
	}
	rejected, err := e.proc.Metric(context.Background(), "tokend_proxy_requests_total", `outcome="rejected_local"`)
	if err != nil || rejected < 1 {
		t.Fatalf("tokend_proxy_requests_total{outcome=rejected_local}: %v %v", rejected, err)
	}
	t.Logf("11 bad requests refused locally, upstream requests +0; one good call forwarded, +1")
}

// TestProxy_media: a 10 MiB download and a 5 MiB multipart upload pass
// through byte for byte.
func TestProxy_media(t *testing.T) {
	t.Parallel()
	e := newProxyEnv(t)
	const down, up = 10 << 20, 5 << 20
	status, body := e.call(t, "GET", "/cgi-bin/media/get?media_id="+wechattest.MediaID(down)+"&access_token="+url.QueryEscape(e.tok), "", nil)
	want, _ := io.ReadAll(wechattest.MediaReader(down))
	if status != 200 || !bytes.Equal(body, want) {
		t.Fatalf("download: HTTP %d, %d bytes, equal %v", status, len(body), bytes.Equal(body, want))
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	part, _ := mw.CreateFormFile("media", "up.jpg")
	_, _ = part.Write(want[:up])
	_ = mw.Close()
	status, body = e.call(t, "POST", "/cgi-bin/media/upload?type=image&access_token="+url.QueryEscape(e.tok), mw.FormDataContentType(), &mp)
	var ans struct {
		Errcode int    `json:"errcode"`
		Size    int    `json:"size"`
		SHA256  string `json:"sha256"`
	}
	_ = json.Unmarshal(body, &ans)
	sum := sha256.Sum256(want[:up])
	if status != 200 || ans.Errcode != 0 || ans.Size != up || ans.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("upload: HTTP %d %s", status, body)
	}
	t.Logf("10 MiB download and 5 MiB upload byte for byte (sha256 %s...)", ans.SHA256[:12])
}

// TestProxy_memoryBounded: 20 concurrent 10 MiB downloads grow tokend's
// RSS by less than 50 MB (the bodies stream).
func TestProxy_memoryBounded(t *testing.T) {
	t.Parallel()
	e := newProxyEnv(t)
	const n, size = 20, 10 << 20
	// Warm up: one small call, so connection pools and buffers exist.
	e.call(t, "GET", "/cgi-bin/media/get?media_id="+wechattest.MediaID(1<<10)+"&access_token="+url.QueryEscape(e.tok), "", nil)
	base, err := vmRSS(e.proc.Pid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	want, _ := io.ReadAll(wechattest.MediaReader(size))
	wantSum := sha256.Sum256(want)
	peak := base
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if rss, err := vmRSS(e.proc.Pid()); err == nil && rss > peak {
				peak = rss
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- download(e, size, wantSum) })
	}
	wg.Wait()
	close(done)
	sampler.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	growth := float64(peak-base) / 1e6
	t.Logf("%d concurrent %d MiB downloads: tokend RSS %.1f MB before, peak %.1f MB, growth %.1f MB (bound 50)", n, size>>20, float64(base)/1e6, float64(peak)/1e6, growth)
	if growth >= 50 {
		t.Fatalf("RSS grew %.1f MB, want < 50", growth)
	}
}

// download fetches a media file of size through the proxy and checks its
// digest.
func download(e *proxyEnv, size int, want [32]byte) error {
	resp, err := proxyClient.Get("http://" + e.proc.Addr + "/cgi-bin/media/get?media_id=" + wechattest.MediaID(int64(size)) + "&access_token=" + url.QueryEscape(e.tok))
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return fmt.Errorf("download body: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		return fmt.Errorf("download: HTTP %d, wrong bytes", resp.StatusCode)
	}
	return nil
}

// vmRSS reads a process's resident set size in bytes from
// /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
