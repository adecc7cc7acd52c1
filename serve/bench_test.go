package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The comparisons below are measurements, not tests: they run only with
// SCD_SERVE_BENCH=1 (and nginx and wrk installed), e.g.
//
//	SCD_SERVE_BENCH=1 go test ./serve -run Bench -v -count=1

func needBench(t *testing.T) {
	if os.Getenv("SCD_SERVE_BENCH") != "1" {
		t.Skip("set SCD_SERVE_BENCH=1 to run the serve benchmarks")
	}
}

// startScd runs Run on loopback and returns the public and admin URLs.
func startScd(t testing.TB, root string, o Options) (*Server, string, string) {
	s := newTestServer(t, root, o)
	ctx, stop := context.WithCancel(context.Background())
	var addr, admin net.Addr
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		s.Run(ctx, Listeners{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			Ready: func(a, b, _ net.Addr) { addr, admin = a, b; close(ready) }})
		close(done)
	}()
	<-ready
	t.Cleanup(func() { stop(); <-done })
	return s, "http://" + addr.String(), "http://" + admin.String()
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

func wrk(t *testing.T, url string, args ...string) float64 {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk not installed (apt-get install -y wrk)")
	}
	out, err := exec.Command(bin, append([]string{"-t2", "-c64", "-d5s", "--latency"}, append(args, url)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk output: %s", out)
	}
	t.Logf("wrk %s %s:\n%s", strings.Join(args, " "), url, out)
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return rps
}

// TestBenchSmallAssetsVsNginx: requests per second for one small hashed
// asset (gzip sidecar) and one uncompressed hashed image, scd vs nginx on
// the same files, side by side.
func TestBenchSmallAssetsVsNginx(t *testing.T) {
	needBench(t)
	x := stageTarget(t)
	_, scd, _ := startScd(t, x.root, Options{PollInterval: -1})
	ngx := startNginx(t, x.root)
	var css, png string
	for _, a := range x.assets {
		if strings.HasPrefix(a, "/frontend/Acme/shop/en_US/css/styles.") {
			css = a
		}
		if strings.HasPrefix(a, "/frontend/Acme/shop/en_US/images/banner.") {
			png = a
		}
	}
	for _, c := range []struct {
		name, path string
		args       []string
	}{
		{"css, gzip sidecar", css, []string{"-H", "Accept-Encoding: gzip"}},
		{"png, identity", png, nil},
	} {
		n := wrk(t, ngx+c.path, c.args...)
		s := wrk(t, scd+c.path, c.args...)
		t.Logf("RESULT %s: scd %.0f req/s, nginx %.0f req/s, ratio %.2f", c.name, s, n, s/n)
	}
}

// TestBenchSwitchLatency: latency percentiles of a steady load (64
// keep-alive clients, small hashed assets and pages) in three phases: no
// switch, a switch every 100ms, and a switch every 100ms inside a hold
// (hold, activate, reload, release) — what a switch adds, with and
// without holding.
func TestBenchSwitchLatency(t *testing.T) {
	needBench(t)
	x := stageTarget(t)
	s, base, adminURL := startScd(t, x.root, Options{PollInterval: -1})
	paths := slices.Concat(x.assets, x.pages)
	phase := func(name string, switcher func(i int)) {
		var lat []time.Duration
		var mu sync.Mutex
		var errs atomic.Int64
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for c := range 64 {
			wg.Go(func() {
				cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
				var mine []time.Duration
				for i := c; ctx.Err() == nil; i++ {
					req, _ := http.NewRequest("GET", base+paths[i%len(paths)], nil)
					req.Header.Set("Accept-Encoding", "br, gzip")
					start := time.Now()
					res, err := cl.Do(req)
					if err != nil {
						errs.Add(1)
						continue
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						errs.Add(1)
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		end := time.Now().Add(4 * time.Second)
		for i := 0; time.Now().Before(end); i++ {
			time.Sleep(100 * time.Millisecond)
			if switcher != nil {
				switcher(i)
			}
		}
		stop()
		wg.Wait()
		t.Logf("RESULT %-28s %7d requests, %.0f req/s, errors %d, %s", name, len(lat), float64(len(lat))/4, errs.Load(), percentiles(lat))
	}
	activate := func(i int) {
		if err := x.tg.Activate(context.Background(), x.ids[(i+1)%2]); err != nil {
			t.Error(err)
		}
		if _, err := s.Reload(); err != nil {
			t.Error(err)
		}
	}
	admin := &Client{Addr: strings.TrimPrefix(adminURL, "http://")}
	phase("no switch", nil)
	phase("switch every 100ms", activate)
	phase("switch in a hold every 100ms", func(i int) {
		ctx := context.Background()
		if _, err := admin.Hold(ctx, 10*time.Second); err != nil {
			t.Error(err)
		}
		activate(i)
		if _, err := admin.ReleaseHold(ctx); err != nil {
			t.Error(err)
		}
	})
}

// BenchmarkHandler measures the handler alone (no network): a small
// hashed asset with a gzip sidecar.
func BenchmarkHandler(b *testing.B) {
	root := b.TempDir()
	writeRelease(b, root, "r1", map[string]string{
		"js/app.0123abcd.js": strings.Repeat("x", 2000), "js/app.0123abcd.js.gz": strings.Repeat("g", 500),
	})
	activateFake(b, root, "r1")
	s := newTestServer(b, root, Options{})
	h := s.Handler()
	req, _ := http.NewRequest("GET", "http://x/js/app.0123abcd.js", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
