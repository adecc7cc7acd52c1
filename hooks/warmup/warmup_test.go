package warmup

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scdtool/scd/manifest"
)

// site is an origin whose pages answer per a path table: status and a
// delay before the headers.
type site struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []string // "METHOD path AE host"
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

type route struct {
	status int
	delay  time.Duration
	body   string
	header map[string]string
}

func newSite(t *testing.T, routes map[string]route) *site {
	s := &site{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxSeen.Load()
			if n <= m || s.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		s.mu.Lock()
		s.seen = append(s.seen, fmt.Sprintf("%s %s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Accept-Encoding"), r.Host, r.Header.Get("X-Scd-Release")))
		s.mu.Unlock()
		rt, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rt.delay > 0 {
			select {
			case <-time.After(rt.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range rt.header {
			w.Header().Set(k, v)
		}
		if rt.status == 0 {
			rt.status = 200
		}
		w.WriteHeader(rt.status)
		fmt.Fprint(w, rt.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func TestPagesStatusSizeTTFB(t *testing.T) {
	s := newSite(t, map[string]route{
		"/a.html": {body: "hello", header: map[string]string{"X-Cache": "MISS", "Age": "0"}},
		"/b.html": {body: "0123456789", delay: 30 * time.Millisecond},
	})
	rep, err := Run(context.Background(), Options{Base: s.URL, Pages: []string{"/a.html", "b.html"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pages) != 2 {
		t.Fatalf("pages %+v", rep.Pages)
	}
	a, b := rep.Pages[0], rep.Pages[1]
	if a.Status != 200 || a.Size != 5 || a.Cache != "MISS" || a.Age != "0" || a.TTFB <= 0 || a.Err != nil {
		t.Errorf("a: %+v", a)
	}
	if b.Size != 10 || b.TTFB < 30*time.Millisecond || b.Duration < b.TTFB {
		t.Errorf("b: %+v", b)
	}
	if rep.P95 != b.TTFB || rep.P50 != a.TTFB {
		t.Errorf("p50 %s p95 %s; a %s b %s", rep.P50, rep.P95, a.TTFB, b.TTFB)
	}
	if Hits(rep.Pages) != 0 {
		t.Error("hits")
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 95, 7 * time.Millisecond},
		{"p50 of 4", ms(40, 10, 30, 20), 50, 20 * time.Millisecond},
		{"p95 of 20 is the 19th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 200), 95, 19 * time.Millisecond},
		{"p95 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 100), 95, 100 * time.Millisecond},
		{"p50 of 5", ms(5, 1, 4, 2, 3), 50, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.q); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExpectedStatuses(t *testing.T) {
	s := newSite(t, map[string]route{
		"/ok":   {},
		"/gone": {status: 410},
		"/move": {status: 301, header: map[string]string{"Location": "https://elsewhere.example/"}},
	})
	rep, err := Run(context.Background(), Options{Base: s.URL, Pages: []string{"/ok", "/gone", "/move", "/missing"}})
	if !errors.Is(err, ErrPageFailed) {
		t.Fatalf("err = %v", err)
	}
	if len(rep.Failures) != 3 || !strings.Contains(err.Error(), "3 of 4 requests failed") || !strings.Contains(err.Error(), "status 410, expected 200") {
		t.Errorf("err %v, failures %d", err, len(rep.Failures))
	}
	// The redirect was not followed.
	for _, l := range s.Seen() {
		if strings.Contains(l, "elsewhere") {
			t.Error("followed a redirect")
		}
	}
	// Expected statuses and AllowFailures.
	_, err = Run(context.Background(), Options{Base: s.URL, Pages: []string{"/ok", "/gone", "/move"}, Expect: []int{200, 301, 410}})
	if err != nil {
		t.Errorf("with expect: %v", err)
	}
	rep, err = Run(context.Background(), Options{Base: s.URL, Pages: []string{"/ok", "/missing"}, AllowFailures: true})
	if err != nil || len(rep.Failures) != 1 {
		t.Errorf("allowed failures: err %v, failures %d", err, len(rep.Failures))
	}
}

func TestTimeout(t *testing.T) {
	s := newSite(t, map[string]route{"/slow": {delay: 2 * time.Second}})
	start := time.Now()
	rep, err := Run(context.Background(), Options{Base: s.URL, Pages: []string{"/slow"}, Timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrPageFailed) || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Fatalf("err = %v", err)
	}
	if rep.Pages[0].Status != 0 || time.Since(start) > time.Second {
		t.Errorf("page %+v after %s", rep.Pages[0], time.Since(start))
	}
}

func TestConcurrencyLimit(t *testing.T) {
	routes := map[string]route{}
	var pages []string
	for i := range 20 {
		p := fmt.Sprintf("/p%d", i)
		routes[p] = route{delay: 20 * time.Millisecond}
		pages = append(pages, p)
	}
	s := newSite(t, routes)
	if _, err := Run(context.Background(), Options{Base: s.URL, Pages: pages, Concurrency: 3}); err != nil {
		t.Fatal(err)
	}
	if m := s.maxSeen.Load(); m != 3 {
		t.Errorf("max in flight %d, want 3", m)
	}
}

func TestBudget(t *testing.T) {
	s := newSite(t, map[string]route{
		"/fast": {},
		"/slow": {delay: 80 * time.Millisecond},
	})
	o := Options{Base: s.URL, Pages: []string{"/fast", "/slow"}, Budget: Budget{Page: 40 * time.Millisecond}}
	rep, err := Run(context.Background(), o)
	if !errors.Is(err, ErrOverBudget) || errors.Is(err, ErrPageFailed) {
		t.Fatalf("err = %v", err)
	}
	if len(rep.OverBudget) != 1 || !strings.HasSuffix(rep.OverBudget[0].URL, "/slow") || len(rep.Failures) != 0 {
		t.Errorf("over %+v failures %+v", rep.OverBudget, rep.Failures)
	}
	o.Budget = Budget{P95: 40 * time.Millisecond}
	rep, err = Run(context.Background(), o)
	if !errors.Is(err, ErrOverBudget) || !rep.P95Over || !strings.Contains(err.Error(), "p95") {
		t.Errorf("p95 budget: err %v, report %+v", err, rep)
	}
	o.AllowOverBudget = true
	if _, err := Run(context.Background(), o); err != nil {
		t.Errorf("allowed: %v", err)
	}
	// With TTFB_TESTED_PAGES only those are measured: the slow page is
	// warmed but does not count.
	o = Options{Base: s.URL, Pages: []string{"/fast", "/slow"}, TTFBPages: []string{"/fast"}, Budget: Budget{Page: 40 * time.Millisecond, P95: 40 * time.Millisecond}}
	rep, err = Run(context.Background(), o)
	if err != nil || len(rep.Tested) != 1 || rep.P95 != rep.Tested[0].TTFB {
		t.Errorf("tested: err %v, report %+v", err, rep)
	}
}

func TestHostRestriction(t *testing.T) {
	s := newSite(t, map[string]route{"/x": {}})
	u, _ := url.Parse(s.URL)
	for _, tc := range []struct {
		name  string
		pages []string
		hosts []string
		ok    bool
	}{
		{"relative", []string{"/x"}, nil, true},
		{"base host", []string{s.URL + "/x"}, nil, true},
		{"other host", []string{"https://someone-else.example/"}, nil, false},
		{"protocol-relative other host", []string{"//someone-else.example/x"}, nil, false},
		{"configured host", []string{"http://shop.example/x"}, []string{"shop.example"}, true},
		{"configured host, other port", []string{"http://shop.example:8443/x"}, []string{"shop.example:9000"}, false},
		{"other scheme", []string{"ftp://" + u.Host + "/x"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Seen())
			// Rebase so that the configured-host case reaches the test site.
			_, err := Run(context.Background(), Options{Base: s.URL, Pages: tc.pages, Hosts: tc.hosts, Rebase: true})
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatal("no error")
				}
				if len(s.Seen()) != before {
					t.Error("a request was sent before the error")
				}
			}
		})
	}
	if _, err := Run(context.Background(), Options{Base: "/relative", Pages: []string{"/x"}}); err == nil {
		t.Error("relative base accepted")
	}
}

func TestBasePrefixHeadersAndEncodings(t *testing.T) {
	s := newSite(t, map[string]route{"/-/preview/r2/static/a.html": {}, "/-/preview/r2/sitemap.xml": {}})
	o := Options{
		Base:      s.URL + "/-/preview/r2/",
		Pages:     []string{"/static/a.html", "http://shop.example/static/a.html?x=1"},
		Hosts:     []string{"shop.example"},
		Rebase:    true,
		Host:      "shop.example",
		Header:    http.Header{"X-Scd-Release": {"r2"}},
		Encodings: []string{"br", "gzip", Identity},
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pages) != 6 {
		t.Fatalf("%d requests, want 2 pages × 3 encodings", len(rep.Pages))
	}
	seen := s.Seen()
	slices.Sort(seen)
	want := []string{
		"GET /-/preview/r2/static/a.html  shop.example r2",
		"GET /-/preview/r2/static/a.html br shop.example r2",
		"GET /-/preview/r2/static/a.html gzip shop.example r2",
		"GET /-/preview/r2/static/a.html?x=1  shop.example r2",
		"GET /-/preview/r2/static/a.html?x=1 br shop.example r2",
		"GET /-/preview/r2/static/a.html?x=1 gzip shop.example r2",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("requests\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestSitemaps(t *testing.T) {
	var base string
	index := `<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>%[1]s/sitemap-pages.xml</loc></sitemap>
  <sitemap><loc> %[1]s/sitemap-products.xml.gz </loc></sitemap>
</sitemapindex>`
	pagesXML := `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>%[1]s/</loc><lastmod>2026-01-01</lastmod></url>
  <url><loc>%[1]s/about.html</loc></url>
</urlset>`
	products := `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>%[1]s/p/1.html</loc></url></urlset>`
	routes := map[string]route{}
	s := newSite(t, routes)
	base = s.URL
	routes["/sitemap.xml"] = route{body: fmt.Sprintf(index, base)}
	routes["/sitemap-pages.xml"] = route{body: fmt.Sprintf(pagesXML, base)}
	routes["/sitemap-products.xml.gz"] = route{body: gz(fmt.Sprintf(products, base))}
	routes["/"] = route{}
	routes["/about.html"] = route{}
	routes["/p/1.html"] = route{}

	rep, err := Run(context.Background(), Options{Base: base, Sitemaps: []string{"/sitemap.xml"}, Pages: []string{"/about.html"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rep.Pages {
		got = append(got, strings.TrimPrefix(p.URL, base))
	}
	if want := []string{"/about.html", "/", "/about.html", "/p/1.html"}; !slices.Equal(got, want) {
		t.Errorf("pages %v, want %v", got, want)
	}

	// The cap.
	rep, err = Run(context.Background(), Options{Base: base, Sitemaps: []string{"/sitemap.xml"}, SitemapLimit: 2})
	if err != nil || len(rep.Pages) != 2 {
		t.Errorf("limit: err %v, %d pages", err, len(rep.Pages))
	}

	// A sitemap naming another host is an error, before any page request.
	routes["/foreign.xml"] = route{body: `<urlset><url><loc>https://someone-else.example/</loc></url></urlset>`}
	if _, err := Run(context.Background(), Options{Base: base, Sitemaps: []string{"/foreign.xml"}}); !errors.Is(err, ErrHostNotAllowed) {
		t.Errorf("foreign sitemap: %v", err)
	}
	routes["/bad.xml"] = route{body: `<html>not a sitemap</html>`}
	if _, err := Run(context.Background(), Options{Base: base, Sitemaps: []string{"/bad.xml"}}); err == nil || !strings.Contains(err.Error(), "<html>") {
		t.Errorf("bad sitemap: %v", err)
	}
	if _, err := Run(context.Background(), Options{Base: base, Sitemaps: []string{"/none.xml"}}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing sitemap: %v", err)
	}
}

func TestExpand(t *testing.T) {
	jobs := []manifest.Job{
		{Area: "frontend", Theme: "Acme/shop", Locale: "en_US", Dir: "frontend/Acme/shop/en_US"},
		{Area: "frontend", Theme: "Acme/shop", Locale: "fr_FR", Dir: "frontend/Acme/shop/fr_FR"},
	}
	man := manifest.Manifest{
		"template/cart.html":   {File: "template/cart.html"},
		"template/a/list.html": {File: "template/a/list.html"},
		"js/app.js":            {File: "js/app.1234abcd.js"},
	}
	manifests := map[string]manifest.Manifest{jobs[0].Dir: man, jobs[1].Dir: man}
	got, err := Expand([]string{
		"/",
		"/static/{area}/{theme}/{locale}/manifest.json",
		"/static/{dir}/{template}",
		"/",
	}, jobs, manifests)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/",
		"/static/frontend/Acme/shop/en_US/manifest.json",
		"/static/frontend/Acme/shop/fr_FR/manifest.json",
		"/static/frontend/Acme/shop/en_US/template/a/list.html",
		"/static/frontend/Acme/shop/en_US/template/cart.html",
		"/static/frontend/Acme/shop/fr_FR/template/a/list.html",
		"/static/frontend/Acme/shop/fr_FR/template/cart.html",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Expand([]string{"/{template}"}, jobs, nil); err == nil {
		t.Error("missing manifest: no error")
	}
	if _, err := Expand([]string{"/{locale}/"}, nil, nil); err == nil {
		t.Error("no jobs: no error")
	}
	// Run refuses a pattern that was not expanded.
	if _, err := Run(context.Background(), Options{Base: "http://127.0.0.1:1", Pages: []string{"/{locale}/"}}); err == nil {
		t.Error("unexpanded pattern accepted")
	}
}

func FuzzParseSitemap(f *testing.F) {
	f.Add([]byte(`<urlset><url><loc>http://a/</loc></url></urlset>`))
	f.Add([]byte(`<sitemapindex><sitemap><loc>http://a/s.xml</loc></sitemap></sitemapindex>`))
	f.Add([]byte(gz(`<urlset/>`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		pages, maps, err := ParseSitemap(bytes.NewReader(data))
		if err != nil && (pages != nil || maps != nil) {
			t.Fatal("results with an error")
		}
	})
}
