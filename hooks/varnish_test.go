package hooks_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scdtool/scd/hooks/flush"
	"github.com/scdtool/scd/hooks/warmup"
	"github.com/scdtool/scd/internal/varnishtest"
	"github.com/scdtool/scd/manifest"
)

const (
	site = "shop.example"
	job  = "frontend/Acme/shop/en_US"
)

// release is one release of the test site: files by path relative to the
// release root, as scd would publish them.
type release struct {
	id    string
	files map[string]string
}

func newRelease(id, page, js string) release {
	return release{id: id, files: map[string]string{
		job + "/template/page.html":   page,
		job + "/manifest.json":        `{"js/app.js":{"file":"js/app.` + js + `.js"}}`,
		job + "/js/app." + js + ".js": "console.log('" + id + "')",
		job + "/css/x.c0ffee00.css":   "body{}",
	}}
}

// toBuild describes r as build.json and manifest would, for flush.Diff.
func (r release) toBuild() *flush.Release {
	m := manifest.Manifest{
		"template/page.html": {File: "template/page.html"},
		"css/x.css":          {File: "css/x.c0ffee00.css"},
	}
	files := map[string]manifest.File{}
	for p, body := range r.files {
		files[p] = manifest.File{SHA256: fmt.Sprintf("%x", body), Size: int64(len(body))}
		if strings.Contains(p, "/js/app.") {
			m["js/app.js"] = manifest.Asset{File: strings.TrimPrefix(p, job+"/")}
		}
	}
	return &flush.Release{
		Build:     &manifest.Build{ID: r.id, Jobs: []manifest.Job{{Area: "frontend", Theme: "Acme/shop", Locale: "en_US", Dir: job}}, Files: files},
		Manifests: map[string]manifest.Manifest{job: m},
	}
}

var hashedRe = regexp.MustCompile(`\.[0-9a-f]{8}\.[a-z]+$`)

// origin serves the active release at /static/…, a staged one to requests
// with X-Scd-Release or under /-/preview/<id>/, and — skew protection —
// hashed assets of every release it knows from any of them.
type origin struct {
	*httptest.Server
	mu       sync.Mutex
	releases map[string]release
	active   string
	fetches  sync.Map // "release path" → *atomic.Int32
}

func newOrigin(t *testing.T, rs ...release) *origin {
	o := &origin{releases: map[string]release{}}
	for _, r := range rs {
		o.releases[r.id] = r
	}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) activate(id string) {
	o.mu.Lock()
	o.active = id
	o.mu.Unlock()
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	id := o.active
	rels := o.releases
	o.mu.Unlock()
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/-/preview/"); ok {
		id, p, _ = strings.Cut(rest, "/")
		p = "/" + p
	} else if h := r.Header.Get("X-Scd-Release"); h != "" {
		id = h
	}
	rel, ok := strings.CutPrefix(p, "/static/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, found := rels[id].files[rel]
	if !found && hashedRe.MatchString(rel) {
		for _, other := range rels {
			if b, ok := other.files[rel]; ok {
				body, found = b, true
			}
		}
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	c, _ := o.fetches.LoadOrStore(id+" "+rel, new(atomic.Int32))
	c.(*atomic.Int32).Add(1)
	if hashedRe.MatchString(rel) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("X-Release", id)
	w.Header().Set("X-Origin-AE", r.Header.Get("Accept-Encoding"))
	io.WriteString(w, body)
}

func (o *origin) fetched(id, rel string) int32 {
	c, ok := o.fetches.Load(id + " " + rel)
	if !ok {
		return 0
	}
	return c.(*atomic.Int32).Load()
}

// vcl returns examples/varnish/scd.vcl pointed at the origin.
func vcl(t *testing.T, backend string) string {
	data, err := os.ReadFile("../examples/varnish/scd.vcl")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(backend)
	s := strings.Replace(string(data), `.host = "127.0.0.1";`, `.host = "`+host+`";`, 1)
	s = strings.Replace(s, `.port = "8080";`, `.port = "`+port+`";`, 1)
	// The test origin serves previews on the same address.
	s = strings.Replace(s, `.host = "127.0.0.1";`, `.host = "`+host+`";`, 1)
	s = strings.Replace(s, `.port = "8081";`, `.port = "`+port+`";`, 1)
	if s == string(data) && port != "8080" {
		t.Fatal("scd.vcl: backend not found to rewrite")
	}
	return s
}

type response struct {
	status        int
	body, cache   string
	releaseHeader string
	originAE      string // the Accept-Encoding the origin saw for this object
	vary          string
}

func get(t *testing.T, client *http.Client, u string, header ...string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Host = site
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header.Get("X-Cache"), resp.Header.Get("X-Release"), resp.Header.Get("X-Origin-AE"), resp.Header.Get("Vary")}
}

// TestVarnish runs a deploy's cache steps against a real Varnish running
// examples/varnish/scd.vcl in front of an origin with three releases.
func TestVarnish(t *testing.T) {
	if testing.Short() {
		t.Skip("real Varnish: skipped with -short")
	}
	r1 := newRelease("r1", "<p>one</p>", "aaaa1111")
	r2 := newRelease("r2", "<p>two</p>", "bbbb2222")
	r3 := newRelease("r3", "<p>three</p>", "bbbb2222") // only the page changes
	org := newOrigin(t, r1, r2, r3)
	org.activate("r1")
	v := varnishtest.Start(t, vcl(t, org.Listener.Addr().String()))
	ctx := context.Background()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	page := "/static/" + job + "/template/page.html"
	man := "/static/" + job + "/manifest.json"
	oldJS := "/static/" + job + "/js/app.aaaa1111.js"
	newJS := "/static/" + job + "/js/app.bbbb2222.js"
	css := "/static/" + job + "/css/x.c0ffee00.css"

	warm := func(t *testing.T, o warmup.Options) *warmup.Report {
		t.Helper()
		o.Base, o.Host = v.URL, site
		o.Hosts = []string{site}
		o.Encodings = []string{"br, gzip"}
		rep, err := warmup.Run(ctx, o)
		if err != nil {
			t.Fatalf("warm-up: %v", err)
		}
		return rep
	}
	livePages := []string{page, man, oldJS, css}

	// 1. Live warm-up of r1: everything is cached, the measured pass hits.
	rep := warm(t, warmup.Options{Pages: livePages, TTFBPages: livePages})
	if warmup.Hits(rep.Pages) != 0 || warmup.Hits(rep.Tested) != len(livePages) {
		t.Fatalf("live warm-up: %d hits in the warm pass, %d of %d in the tested pass", warmup.Hits(rep.Pages), warmup.Hits(rep.Tested), len(livePages))
	}
	t.Logf("live warm-up r1: p50 %s p95 %s (tested pass, cache hits)", rep.P50, rep.P95)

	// 2. Preview warm-up of staged r2, by header and by path: live
	// clients still get r1, from the cache.
	pageFetches := org.fetched("r1", strings.TrimPrefix(page, "/static/"))
	rep = warm(t, warmup.Options{Pages: []string{page, man, newJS}, Header: http.Header{"X-Scd-Release": {"r2"}}, TTFBPages: []string{page}})
	if warmup.Hits(rep.Tested) != 1 {
		t.Errorf("preview (header) not cached: %+v", rep.Tested)
	}
	rep = warm(t, warmup.Options{Pages: []string{"/-/preview/r2" + page}})
	if rep.Pages[0].Status != 200 {
		t.Errorf("preview (path): %+v", rep.Pages[0])
	}
	if got := get(t, client, v.URL+"/-/preview/r2"+page, "Accept-Encoding", "br"); got.body != "<p>two</p>" || got.cache != "HIT" {
		t.Errorf("preview path: %+v", got)
	}
	if n := org.fetched("r1", strings.TrimPrefix(page, "/static/")); n != pageFetches {
		t.Errorf("the preview warm-up fetched the live page %d times", n-pageFetches)
	}
	if got := get(t, client, v.URL+page, "Accept-Encoding", "gzip, br"); got.body != "<p>one</p>" || got.cache != "HIT" || got.originAE != "br" {
		t.Errorf("live object disturbed by the preview: %+v", got)
	}
	// Encodings are separate variants: an identity client never gets the
	// br object (nor gzip).
	for enc, want := range map[string]string{"": "", "gzip, deflate": "gzip", "br": "br", "zstd, gzip": "zstd"} {
		if got := get(t, client, v.URL+page, "Accept-Encoding", enc); got.body != "<p>one</p>" || got.originAE != want || got.vary != "Accept-Encoding" {
			t.Errorf("live with Accept-Encoding %q: %+v, want the %q variant", enc, got, want)
		}
	}

	// 3. Switch to r2 without a flush: the cache serves stale HTML. This is
	// what the flush is for.
	org.activate("r2")
	if got := get(t, client, v.URL+page, "Accept-Encoding", "br"); got.body != "<p>one</p>" {
		t.Fatalf("expected the stale page before the flush, got %+v", got)
	}

	// 4. Flush what changed between r1 and r2 with a Varnish BAN.
	ch := flush.Diff(r1.toBuild(), r2.toBuild())
	paths := ch.URLPaths("/static")
	if want := []string{"/static/build.json", man}; !slices.Equal(paths, want) && !slices.Equal(paths, []string{"/static/build.json", man, page}) {
		t.Fatalf("changes %v", paths)
	}
	for _, p := range paths {
		if hashedRe.MatchString(p) {
			t.Fatalf("hashed asset %s in the flush set", p)
		}
	}
	ban := flush.Target{Name: "varnish-ban", Kind: flush.Ban, URL: v.URL + "/", Headers: map[string]string{"X-Ban-Url": "{pattern}", "X-Ban-Host": site}}
	frep, err := flush.Run(ctx, []flush.Target{ban}, flush.Request{Release: "r2", Paths: paths}, flush.Options{})
	if err != nil {
		t.Fatalf("ban: %v", err)
	}
	t.Logf("ban: %s in %s", frep.Results[0].StatusText(), frep.Results[0].Duration)
	for _, enc := range []string{"br", "gzip", ""} {
		if got := get(t, client, v.URL+page, "Accept-Encoding", enc); got.body != "<p>two</p>" {
			t.Errorf("after the ban (%q): stale page %+v", enc, got)
		}
	}
	if got := get(t, client, v.URL+man, "Accept-Encoding", "br"); !strings.Contains(got.body, "bbbb2222") {
		t.Errorf("after the ban: stale manifest %+v", got)
	}

	// 5. Live warm-up after the flush: the pages are hits again.
	rep = warm(t, warmup.Options{Pages: []string{page, man, newJS}, TTFBPages: []string{page, man, newJS}})
	if warmup.Hits(rep.Tested) != 3 {
		t.Errorf("live warm-up after flush: %+v", rep.Tested)
	}

	// 6. The old release's hashed asset stayed cached (no origin fetch)
	// and reachable; the new one is reachable.
	before := org.fetched("r1", strings.TrimPrefix(oldJS, "/static/"))
	if got := get(t, client, v.URL+oldJS, "Accept-Encoding", "br, gzip"); got.status != 200 || got.cache != "HIT" || got.body != "console.log('r1')" {
		t.Errorf("old hashed asset: %+v", got)
	}
	if n := org.fetched("r1", strings.TrimPrefix(oldJS, "/static/")); n != before {
		t.Errorf("old hashed asset refetched from the origin")
	}
	if got := get(t, client, v.URL+css, "Accept-Encoding", "br"); got.cache != "HIT" {
		t.Errorf("unchanged hashed asset evicted: %+v", got)
	}

	// 7. r3 changes only the page: a PURGE of each changed URL.
	warm(t, warmup.Options{Pages: []string{page}})
	org.activate("r3")
	ch = flush.Diff(r2.toBuild(), r3.toBuild())
	purge := flush.Target{Name: "varnish-purge", Kind: flush.Purge, Base: v.URL, Host: site}
	if _, err := flush.Run(ctx, []flush.Target{purge}, flush.Request{Release: "r3", Paths: ch.URLPaths("/static")}, flush.Options{}); err != nil {
		t.Fatalf("purge: %v", err)
	}
	for _, enc := range []string{"br", "gzip", ""} {
		if got := get(t, client, v.URL+page, "Accept-Encoding", enc); got.body != "<p>three</p>" {
			t.Errorf("after the purge (%q): stale page %+v", enc, got)
		}
	}

	// 8. Only localhost may purge, ban or preview.
	foreign := &http.Client{Transport: &http.Transport{DisableCompression: true, DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")},
	}).DialContext}}
	fr, err := flush.Run(ctx, []flush.Target{{Kind: flush.Ban, URL: v.URL + "/", Headers: map[string]string{"X-Ban-Url": ".*"}, Retries: -1}, {Kind: flush.Purge, Base: v.URL, Host: site, Retries: -1}},
		flush.Request{Paths: []string{page}}, flush.Options{Client: foreign})
	if err == nil || fr.Results[0].Status != 405 || fr.Results[1].Status != 405 {
		t.Errorf("purge from 127.0.0.2: err %v, results %+v", err, fr.Results)
	}
	if got := get(t, foreign, v.URL+page, "X-Scd-Release", "r1"); got.body != "<p>three</p>" {
		t.Errorf("preview header honoured from 127.0.0.2: %+v", got)
	}
	if got := get(t, foreign, v.URL+"/-/preview/r1"+page); got.status != 404 {
		t.Errorf("preview path served to 127.0.0.2: %+v", got)
	}
	if got := get(t, client, v.URL+page, "Accept-Encoding", "br"); got.cache != "HIT" {
		t.Errorf("a refused purge evicted the page: %+v", got)
	}
}
