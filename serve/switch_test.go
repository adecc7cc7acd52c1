package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// twoReleases is a target with r1 active and r2 staged: the same logical
// page, different content, and one hashed asset each.
func twoReleases(t testing.TB) string {
	root := t.TempDir()
	writeRelease(t, root, "r1", map[string]string{"page.html": "one", "a.11111111.js": "asset one"})
	writeRelease(t, root, "r2", map[string]string{"page.html": "two", "a.22222222.js": "asset two"})
	activateFake(t, root, "r1")
	return root
}

func get(t testing.TB, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", "http://x"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t testing.TB, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWatchNoticesActivation(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{PollInterval: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Watch(ctx) }()
	defer func() { cancel(); <-done }()
	h := s.Handler()
	if got := body(t, get(t, h, "/page.html")); got != "one" {
		t.Fatalf("before: %q", got)
	}
	time.Sleep(50 * time.Millisecond) // let the watch start
	activateFake(t, root, "r2")
	deadline := time.Now().Add(5 * time.Second)
	for body(t, get(t, h, "/page.html")) != "two" {
		if time.Now().After(deadline) {
			t.Fatal("the switch to r2 was not noticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPollNoticesActivation(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx)
	activateFake(t, root, "r2")
	deadline := time.Now().Add(5 * time.Second)
	for s.ActiveID() != "r2" {
		if time.Now().After(deadline) {
			t.Fatal("the switch to r2 was not noticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInFlightKeepsItsRelease: a request that took r1 keeps reading r1
// after the switch, after r1 has left the server's cache, until it is
// done; then r1's root is closed.
func TestInFlightKeepsItsRelease(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{})
	rel, _ := s.pick(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	activateFake(t, root, "r2")
	if id, err := s.Reload(); err != nil || id != "r2" {
		t.Fatalf("Reload = %q, %v", id, err)
	}
	s.expire(time.Now().Add(time.Hour)) // drops the server's reference to r1
	data, err := rel.root.ReadFile("page.html")
	if err != nil || string(data) != "one" {
		t.Fatalf("in-flight read: %q, %v", data, err)
	}
	rel.decref()
	if _, err := rel.root.ReadFile("page.html"); err == nil {
		t.Error("r1's root still open after its last reference")
	}
	if rel.acquire() {
		t.Error("acquired a closed release")
	}
}

func TestReloadErrors(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{})
	activateFake(t, root, "gone")
	if _, err := s.Reload(); err == nil {
		t.Fatal("Reload to a missing release succeeded")
	}
	if s.ActiveID() != "r1" {
		t.Errorf("a failed reload changed the release to %q", s.ActiveID())
	}
	if got := body(t, get(t, s.Handler(), "/page.html")); got != "one" {
		t.Errorf("after a failed reload: %q", got)
	}
}

func TestNoReleaseYet(t *testing.T) {
	root := t.TempDir()
	s := newTestServer(t, root, Options{})
	if res := get(t, s.Handler(), "/page.html"); res.StatusCode != 503 {
		t.Errorf("status %d, want 503", res.StatusCode)
	}
	if res := get(t, s.Handler(), "/-/healthz"); res.StatusCode != 503 {
		t.Errorf("healthz %d, want 503", res.StatusCode)
	}
	writeRelease(t, root, "r1", map[string]string{"page.html": "one"})
	activateFake(t, root, "r1")
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := body(t, get(t, s.Handler(), "/page.html")); got != "one" {
		t.Errorf("got %q", got)
	}
}

func TestHold(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{HoldTimeout: 10 * time.Second})
	h := s.Handler()
	if _, err := s.Hold(0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold(0); !errors.Is(err, ErrHeld) {
		t.Fatalf("second hold: %v, want ErrHeld", err)
	}
	got := make(chan string)
	go func() { got <- body(t, get(t, h, "/page.html")) }()
	select {
	case b := <-got:
		t.Fatalf("answered %q during the hold", b)
	case <-time.After(100 * time.Millisecond):
	}
	// Health checks are not held.
	if res := get(t, h, "/-/healthz"); res.StatusCode != 200 {
		t.Errorf("healthz during a hold: %d", res.StatusCode)
	}
	if n := s.hold.Load().waiting.Load(); n != 1 {
		t.Errorf("waiting = %d, want 1", n)
	}
	activateFake(t, root, "r2")
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if !s.ReleaseHold() {
		t.Fatal("no hold to release")
	}
	if b := <-got; b != "two" {
		t.Errorf("held request got %q, want the new release", b)
	}
	if s.ReleaseHold() {
		t.Error("released a hold twice")
	}
}

func TestHoldDeadline(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{HoldTimeout: 150 * time.Millisecond})
	st, err := s.Hold(time.Hour) // capped by HoldTimeout
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Deadline.Sub(st.Since); d != 150*time.Millisecond {
		t.Errorf("hold of %s, want the 150ms cap", d)
	}
	start := time.Now()
	if got := body(t, get(t, s.Handler(), "/page.html")); got != "one" {
		t.Errorf("got %q", got)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("held for %s, want about 150ms", d)
	}
	if s.hold.Load() != nil {
		t.Error("the hold outlived its deadline")
	}
	if _, err := s.Hold(10 * time.Millisecond); err != nil {
		t.Errorf("a new hold after the deadline: %v", err)
	}
}

func TestHoldClientGone(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{})
	s.Hold(time.Minute)
	defer s.ReleaseHold()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("GET", "http://x/page.html", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req) // returns once the client is gone
	if s.hold.Load().waiting.Load() != 0 {
		t.Error("a gone client still counted as waiting")
	}
}

func TestCanary(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{})
	h := s.Handler()
	if _, err := s.StartCanary("r1", 10); err == nil {
		t.Error("canary of the active release accepted")
	}
	if _, err := s.StartCanary("nope", 10); err == nil {
		t.Error("canary of an unknown release accepted")
	}
	if _, err := s.StartCanary("r2", 0); err == nil {
		t.Error("canary of 0% accepted")
	}
	if _, err := s.StartCanary("r2", 30); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		bucket, want string
	}{{"0", "two"}, {"29", "two"}, {"30", "one"}, {"99", "one"}} {
		res := get(t, h, "/page.html", "Cookie", "scd_bucket="+tt.bucket)
		if got := body(t, res); got != tt.want {
			t.Errorf("bucket %s: %q, want %q", tt.bucket, got, tt.want)
		}
		if cc := res.Header.Get("Cache-Control"); cc != cacheRevalidatePrivate {
			t.Errorf("Cache-Control during a canary: %q", cc)
		}
		if res.Header.Get("Set-Cookie") != "" {
			t.Errorf("bucket %s: cookie set again", tt.bucket)
		}
	}
	// A client without a bucket gets one, and the answer that goes with it.
	res := get(t, h, "/page.html")
	ck := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "scd_bucket=") || !strings.Contains(ck, "HttpOnly") {
		t.Fatalf("Set-Cookie %q", ck)
	}
	// Hashed names are found on the other side.
	if got := body(t, get(t, h, "/a.22222222.js", "Cookie", "scd_bucket=99")); got != "asset two" {
		t.Errorf("stable client, canary asset: %q", got)
	}
	if got := body(t, get(t, h, "/a.11111111.js", "Cookie", "scd_bucket=0")); got != "asset one" {
		t.Errorf("canary client, stable asset: %q", got)
	}
	// Growing the share keeps canary clients on it.
	s.StartCanary("r2", 60)
	if got := body(t, get(t, h, "/page.html", "Cookie", "scd_bucket=29")); got != "two" {
		t.Errorf("after growing: %q", got)
	}
	if !s.AbortCanary() {
		t.Fatal("no canary to abort")
	}
	res = get(t, h, "/page.html", "Cookie", "scd_bucket=0")
	if got := body(t, res); got != "one" {
		t.Errorf("after abort: %q", got)
	}
	if cc := res.Header.Get("Cache-Control"); cc != cacheRevalidate {
		t.Errorf("Cache-Control after abort: %q", cc)
	}
	if res := get(t, h, "/a.22222222.js"); res.StatusCode != 404 {
		t.Errorf("canary asset after abort: %d", res.StatusCode)
	}
}

func TestPreview(t *testing.T) {
	root := twoReleases(t)
	writeRelease(t, root, ".r3.tmp", map[string]string{"page.html": "tmp"})
	s := newTestServer(t, root, Options{})
	for _, h := range []http.Handler{s.PreviewHandler(), s.AdminHandler("")} {
		for _, tt := range []struct {
			path, hdr string
			code      int
			want      string
		}{
			{"/-/preview/r2/page.html", "", 200, "two"},
			{"/-/preview/r1/page.html", "", 200, "one"},
			{"/-/preview/r2/a.11111111.js", "", 404, ""},
			{"/-/preview/nope/page.html", "", 404, ""},
			{"/-/preview/.r3.tmp/page.html", "", 404, ""},
			{"/-/preview/../secret", "", 404, ""},
			{"/-/preview/r2/../r1/page.html", "", 404, ""},
		} {
			res := get(t, h, tt.path)
			if b := body(t, res); res.StatusCode != tt.code || (tt.want != "" && b != tt.want) {
				t.Errorf("%s: %d %q, want %d %q", tt.path, res.StatusCode, b, tt.code, tt.want)
			}
		}
	}
	ph := s.PreviewHandler()
	if got := body(t, get(t, ph, "/page.html", ReleaseHeader, "r2")); got != "two" {
		t.Errorf("by header: %q", got)
	}
	if got := body(t, get(t, ph, "/page.html")); got != "one" {
		t.Errorf("no release named: %q", got)
	}
	// Preview never leaks into the public listener.
	if got := body(t, get(t, s.Handler(), "/page.html", ReleaseHeader, "r2")); got != "one" {
		t.Errorf("public listener honoured the header: %q", got)
	}
	if res := get(t, s.Handler(), "/-/preview/r2/page.html"); res.StatusCode != 404 {
		t.Errorf("public listener served a preview: %d", res.StatusCode)
	}
}

func TestAdminAPI(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{})
	ts := httptest.NewServer(s.AdminHandler("sekrit"))
	defer ts.Close()
	call := func(method, path, body, token string) (int, map[string]any) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		json.NewDecoder(res.Body).Decode(&v)
		return res.StatusCode, v
	}
	if code, _ := call("GET", "/-/release", "", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := call("GET", "/-/release", "", "wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, v := call("POST", "/-/hold", `{"timeout":"1m"}`, "sekrit"); code != 200 || v["deadline"] == nil {
		t.Errorf("hold: %d %v", code, v)
	}
	if code, _ := call("POST", "/-/hold", ``, "sekrit"); code != 409 {
		t.Errorf("second hold: %d", code)
	}
	if code, _ := call("POST", "/-/hold", `{"timeout":"soon"}`, "sekrit"); code != 400 {
		t.Errorf("bad timeout: %d", code)
	}
	if code, _ := call("POST", "/-/hold", `{"timout":"1m"}`, "sekrit"); code != 400 {
		t.Errorf("unknown field: %d", code)
	}
	if code, v := call("POST", "/-/canary", `{"release":"r2","percent":10}`, "sekrit"); code != 200 || v["release"] != "r2" {
		t.Errorf("canary: %d %v", code, v)
	}
	if code, _ := call("POST", "/-/canary", `{"release":"zz","percent":10}`, "sekrit"); code != 404 {
		t.Errorf("canary of unknown: %d", code)
	}
	code, v := call("GET", "/-/release", "", "sekrit")
	if code != 200 || v["active"] != "r1" || v["hold"] == nil || v["canary"] == nil {
		t.Errorf("release: %d %v", code, v)
	}
	if code, v := call("DELETE", "/-/hold", "", "sekrit"); code != 200 || v["released"] != true {
		t.Errorf("unhold: %d %v", code, v)
	}
	if code, v := call("POST", "/-/canary/abort", "", "sekrit"); code != 200 || v["aborted"] != true {
		t.Errorf("abort: %d %v", code, v)
	}
	if code, _ := call("POST", "/-/canary/promote", "", "sekrit"); code != 409 {
		t.Errorf("promote without canary: %d", code)
	}
	activateFake(t, root, "r2")
	if code, v := call("POST", "/-/reload", "", "sekrit"); code != 200 || v["active"] != "r2" {
		t.Errorf("reload: %d %v", code, v)
	}
	get(t, s.Handler(), "/page.html", "Accept-Encoding", "gzip")
	req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer sekrit")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := body(t, res)
	for _, want := range []string{
		`scd_serve_requests_total{code="200",encoding="identity",release="r2"} 1`,
		`scd_serve_switches_total 2`,
		`scd_serve_active_release{release="r2"} 1`,
		`scd_serve_request_duration_seconds_bucket`,
		`scd_serve_holds_total 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRunGracefulShutdown(t *testing.T) {
	root := twoReleases(t)
	s := newTestServer(t, root, Options{})
	if err := s.Run(context.Background(), Listeners{Addr: "127.0.0.1:0", AdminAddr: "0.0.0.0:0"}); !errors.Is(err, ErrAdminToken) {
		t.Fatalf("public admin without token: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var addr, admin net.Addr
	ready := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		runErr <- s.Run(ctx, Listeners{
			Addr: "127.0.0.1:0", AdminAddr: "unix:" + t.TempDir() + "/admin.sock",
			Ready: func(a, b, _ net.Addr) { addr, admin = a, b; close(ready) },
		})
	}()
	<-ready
	if admin.Network() != "unix" {
		t.Errorf("admin on %s", admin.Network())
	}
	s.Hold(time.Minute)
	var wg sync.WaitGroup
	var code int
	wg.Go(func() {
		res, err := http.Get("http://" + addr.String() + "/page.html")
		if err != nil {
			t.Error(err)
			return
		}
		res.Body.Close()
		code = res.StatusCode
	})
	time.Sleep(100 * time.Millisecond) // the request is held now
	cancel()                           // as SIGTERM does
	wg.Wait()
	if code != 200 {
		t.Errorf("held request during shutdown: %d", code)
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestIsLocalAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"127.0.0.1:9180": true, "[::1]:80": true, "localhost:1": true, "unix:/run/scd.sock": true,
		":9180": false, "0.0.0.0:1": false, "10.0.0.1:1": false, "example.com:1": false, "junk": false,
	} {
		if got := IsLocalAddr(a); got != want {
			t.Errorf("IsLocalAddr(%q) = %v", a, got)
		}
	}
}
