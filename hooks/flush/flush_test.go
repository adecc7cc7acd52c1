package flush

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type hit struct {
	Method, Path, Host string
	Header             http.Header
	Body               string
}

// recorder is an httptest server that records requests and answers with
// the statuses in plan, one per request (the last one repeats).
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []hit
	plan  []int
	delay time.Duration
}

func newRecorder(t *testing.T, plan ...int) *recorder {
	r := &recorder{plan: plan}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits = append(r.hits, hit{req.Method, req.URL.RequestURI(), req.Host, req.Header.Clone(), string(body)})
		status := 200
		if len(r.plan) > 0 {
			status = r.plan[0]
			if len(r.plan) > 1 {
				r.plan = r.plan[1:]
			}
		}
		delay := r.delay
		r.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-req.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) Hits() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits)
}

func quick(t Target) Target {
	t.Backoff = time.Millisecond
	t.MaxBackoff = 4 * time.Millisecond
	return t
}

var paths = []string{"/static/frontend/Acme/shop/en_US/template/cart.html", "/static/frontend/Acme/shop/en_US/manifest.json"}

func TestPurgeEveryPath(t *testing.T) {
	srv := newRecorder(t)
	rep, err := Run(context.Background(), []Target{{Kind: Purge, Base: srv.URL, Host: "shop.example"}}, Request{Release: "r2", Paths: paths}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if r.Requests != 2 || r.Attempts != 2 || r.Status != 200 || !r.OK() {
		t.Errorf("result %+v", r)
	}
	var got []string
	for _, h := range srv.Hits() {
		if h.Method != "PURGE" || h.Host != "shop.example" {
			t.Errorf("request %+v", h)
		}
		got = append(got, h.Path)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(paths))
	if !slices.Equal(got, want) {
		t.Errorf("purged %v, want %v", got, want)
	}
}

func TestBanHeaders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target
		method string
		check  func(t *testing.T, h hit)
	}{
		{"varnish", Target{Kind: Ban, Headers: map[string]string{"X-Ban-Url": "{pattern}", "X-Ban-Host": "shop.example"}}, "BAN",
			func(t *testing.T, h hit) {
				re := regexp.MustCompile(h.Header.Get("X-Ban-Url"))
				for _, p := range paths {
					if !re.MatchString(p) || !re.MatchString(p+"?v=1") {
						t.Errorf("pattern %s does not match %s", re, p)
					}
				}
				if re.MatchString("/static/frontend/Acme/shop/en_US/template/cartXhtml") || re.MatchString("/x"+paths[0]) {
					t.Errorf("pattern %s matches too much", re)
				}
				if h.Header.Get("X-Ban-Host") != "shop.example" {
					t.Errorf("X-Ban-Host %q", h.Header.Get("X-Ban-Host"))
				}
			}},
		{"magento", Target{Kind: Ban, Method: "PURGE", Headers: map[string]string{"X-Magento-Tags-Pattern": ".*"}}, "PURGE",
			func(t *testing.T, h hit) {
				if h.Header.Get("X-Magento-Tags-Pattern") != ".*" {
					t.Errorf("header %v", h.Header)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRecorder(t)
			tc.target.URL = srv.URL + "/"
			if _, err := Run(context.Background(), []Target{tc.target}, Request{Paths: paths}, Options{}); err != nil {
				t.Fatal(err)
			}
			hits := srv.Hits()
			if len(hits) != 1 || hits[0].Method != tc.method {
				t.Fatalf("hits %+v", hits)
			}
			tc.check(t, hits[0])
		})
	}
}

func TestHTTPTemplateAndBatches(t *testing.T) {
	srv := newRecorder(t)
	target := Target{
		Kind:    HTTP,
		URL:     srv.URL + "/zones/z1/purge_cache?release={release}",
		Base:    "https://shop.example/",
		Headers: map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json"},
		Body:    `{"files": {urls}, "release": "{release}", "re": "{pattern}"}`,
		Batch:   2,
	}
	p := []string{"/a.html", "/b.html", "/c.html"}
	if _, err := Run(context.Background(), []Target{target}, Request{Release: `r"2`, Paths: p}, Options{}); err != nil {
		t.Fatal(err)
	}
	hits := srv.Hits()
	if len(hits) != 2 {
		t.Fatalf("%d requests, want 2 batches", len(hits))
	}
	var files []string
	for _, h := range hits {
		if h.Method != "POST" || h.Header.Get("Authorization") != "Bearer tok" || h.Path != `/zones/z1/purge_cache?release=r%222` && h.Path != `/zones/z1/purge_cache?release=r"2` {
			t.Errorf("request %+v", h)
		}
		var body struct {
			Files   []string
			Release string
			Re      string
		}
		if err := json.Unmarshal([]byte(h.Body), &body); err != nil {
			t.Fatalf("body %s: %v", h.Body, err)
		}
		if body.Release != `r"2` || !regexp.MustCompile(body.Re).MatchString(strings.TrimPrefix(body.Files[0], "https://shop.example")) {
			t.Errorf("body %+v", body)
		}
		files = append(files, body.Files...)
	}
	slices.Sort(files)
	if want := []string{"https://shop.example/a.html", "https://shop.example/b.html", "https://shop.example/c.html"}; !slices.Equal(files, want) {
		t.Errorf("files %v", files)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	srv := newRecorder(t, 503, 502, 200)
	rep, err := Run(context.Background(), []Target{quick(Target{Kind: Ban, URL: srv.URL})}, Request{Paths: paths}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Attempts != 3 || r.Status != 200 {
		t.Errorf("result %+v", r)
	}
	// Exponential: with a 20ms start, three failures take ≥ 20+40+80 ms.
	srv = newRecorder(t, 503)
	start := time.Now()
	rep, err = Run(context.Background(), []Target{{Kind: Ban, URL: srv.URL, Retries: 3, Backoff: 20 * time.Millisecond}}, Request{Paths: paths}, Options{})
	if err == nil || rep.Results[0].Attempts != 4 || rep.Results[0].Status != 503 {
		t.Fatalf("err %v, result %+v", err, rep.Results[0])
	}
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("4 attempts took %s: no backoff", d)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	srv := newRecorder(t, 405)
	rep, err := Run(context.Background(), []Target{quick(Target{Kind: Ban, URL: srv.URL})}, Request{Paths: paths}, Options{})
	if err == nil || rep.Results[0].Attempts != 1 || rep.Results[0].Status != 405 {
		t.Errorf("err %v, result %+v", err, rep.Results[0])
	}
}

func TestTimeoutIsRetriedAndReported(t *testing.T) {
	srv := newRecorder(t)
	srv.delay = time.Second
	start := time.Now()
	rep, err := Run(context.Background(), []Target{quick(Target{Kind: Ban, URL: srv.URL, Timeout: 50 * time.Millisecond, Retries: 1})}, Request{Paths: paths}, Options{})
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("err = %v", err)
	}
	if rep.Results[0].Attempts != 2 {
		t.Errorf("attempts %d", rep.Results[0].Attempts)
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("took %s", d)
	}
}

// Every target is attempted whatever happened before it; the error names
// only the targets whose policy is fail, and the continue target is still
// reported and logged.
func TestEveryTargetAndPolicies(t *testing.T) {
	down := newRecorder(t, 503)
	up := newRecorder(t)
	var log bytes.Buffer
	targets := []Target{
		quick(Target{Name: "cdn", Kind: HTTP, URL: down.URL, Retries: 1, Policy: Continue}),
		quick(Target{Name: "varnish-a", Kind: Ban, URL: down.URL, Retries: 1}),
		quick(Target{Name: "varnish-b", Kind: Ban, URL: up.URL}),
		{Name: "broken", Kind: "bogus"},
	}
	rep, err := Run(context.Background(), targets, Request{Paths: paths}, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if len(rep.Results) != 4 {
		t.Fatalf("%d results", len(rep.Results))
	}
	if len(up.Hits()) != 1 {
		t.Error("target after a failed one was not attempted")
	}
	if err == nil || strings.Contains(err.Error(), "cdn") || !strings.Contains(err.Error(), "varnish-a") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("err = %v", err)
	}
	if f := rep.Failed(); len(f) != 3 || f[0].Target != "cdn" || f[0].Attempts != 2 || f[0].Policy != Continue {
		t.Errorf("failed %+v", f)
	}
	if !strings.Contains(log.String(), "on_failure: continue") || !strings.Contains(log.String(), "cdn") {
		t.Errorf("continue failure not logged:\n%s", log.String())
	}

	// Only continue targets failing: no error, but the report says so.
	rep, err = Run(context.Background(), targets[:1], Request{Paths: paths}, Options{})
	if err != nil || len(rep.Failed()) != 1 {
		t.Errorf("err %v, failed %v", err, rep.Failed())
	}
}

func TestNothingToFlush(t *testing.T) {
	srv := newRecorder(t)
	rep, err := Run(context.Background(), []Target{{Kind: Ban, URL: srv.URL}}, Request{}, Options{})
	if err != nil || len(rep.Results) != 0 || len(srv.Hits()) != 0 {
		t.Errorf("err %v, rep %+v, hits %d", err, rep, len(srv.Hits()))
	}
}

func TestCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	target := Target{Kind: Command, Command: []string{"/bin/sh", "-c", `printf '%s\n' "$@" > "$0"`, out, "--release={release}", "{urls}"}, Base: "http://cdn.example"}
	if _, err := Run(context.Background(), []Target{target}, Request{Release: "r2", Paths: []string{"/a b.html", "/c;rm -rf x.html"}}, Options{}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	want := "--release=r2\nhttp://cdn.example/a b.html\nhttp://cdn.example/c;rm -rf x.html\n"
	if string(data) != want {
		t.Errorf("args %q, want %q", data, want)
	}
	// A failing command is retried.
	count := filepath.Join(t.TempDir(), "count")
	fail := quick(Target{Kind: Command, Command: []string{"/bin/sh", "-c", `echo x >> "$0"; exit 1`, count}, Retries: 2})
	rep, err := Run(context.Background(), []Target{fail}, Request{Paths: paths}, Options{})
	data, _ = os.ReadFile(count)
	if err == nil || rep.Results[0].Attempts != 3 || strings.Count(string(data), "x") != 3 {
		t.Errorf("err %v, result %+v, runs %q", err, rep.Results[0], data)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Kind: Purge}, "needs base"},
		{Target{Kind: Ban}, "needs url"},
		{Target{Kind: HTTP, URL: "x", Policy: "ignore"}, "unknown on_failure"},
		{Target{Kind: Command}, "needs command"},
		{Target{}, "needs type"},
		{Target{Kind: Ban, URL: "x", Body: "{}"}, "only used by http"},
		{Target{Kind: Ban, URL: "x", Expect: []int{99}}, "not an HTTP status"},
	} {
		if p := strings.Join(tc.t.Check(), "; "); !strings.Contains(p, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.t, p, tc.want)
		}
	}
	if p := (Target{Kind: Purge, Base: "http://x"}).Check(); len(p) != 0 {
		t.Errorf("valid target: %v", p)
	}
}

func TestStatusText(t *testing.T) {
	if got := (Result{Status: 200, Requests: 2, Attempts: 3}).StatusText(); got != "ok 200 (2 requests, 3 attempts)" {
		t.Error(got)
	}
}
