package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/publish"
)

// Two builds of the bundled sample, made once per test binary: A as it
// is, B with a changed logo (so every page's hashed references change),
// stylesheet and template text.
var (
	buildsOnce sync.Once
	buildsDir  string
	buildsErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildsDir != "" {
		os.RemoveAll(buildsDir)
	}
	os.Exit(code)
}

func sampleBuilds(t testing.TB) (a, b string) {
	t.Helper()
	buildsOnce.Do(func() {
		buildsDir, buildsErr = os.MkdirTemp("", "scd-serve-builds-")
		if buildsErr != nil {
			return
		}
		for _, v := range []string{"a", "b"} {
			src := filepath.Join(buildsDir, "src-"+v)
			if buildsErr = fixtures.CopySample(src); buildsErr != nil {
				return
			}
			if v == "b" {
				web := filepath.Join(src, "app/design/frontend/Acme")
				for _, e := range []struct{ file, old, new string }{
					{"base/web/images/logo.svg", `fill="#1979c3"`, `fill="#c31979"`},
					{"base/web/css/_buttons.css", "", "\n.release-b { color: red; }\n"},
					{"shop/web/template/product.html", "Add to Cart", "Add to Basket"},
				} {
					if buildsErr = edit(filepath.Join(web, e.file), e.old, e.new); buildsErr != nil {
						return
					}
				}
			}
			cfg, err := matrix.Load(filepath.Join(src, "themes.yml"))
			if err != nil {
				buildsErr = err
				return
			}
			jobs, err := cfg.Jobs(matrix.Filter{})
			if err != nil {
				buildsErr = err
				return
			}
			_, buildsErr = builder.Build(context.Background(), builder.Options{
				Config: cfg, Jobs: jobs, Output: filepath.Join(buildsDir, "out-"+v), Threads: 2, WorkDir: src,
			})
			if buildsErr != nil {
				return
			}
		}
	})
	if buildsErr != nil {
		t.Fatalf("building the sample: %v", buildsErr)
	}
	return filepath.Join(buildsDir, "out-a"), filepath.Join(buildsDir, "out-b")
}

func edit(file, old, new string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	s := string(data)
	if old == "" {
		s += new
	} else if !strings.Contains(s, old) {
		return fmt.Errorf("%s: no %q", file, old)
	} else {
		s = strings.Replace(s, old, new, 1)
	}
	return os.WriteFile(file, []byte(s), 0o644)
}

// target is a local publish target holding releases of builds A and B,
// what each contains, and the URL paths a load test requests.
type target struct {
	root    string
	tg      *publish.Local
	ids     [2]string
	digests map[string]map[string]string // release id → path → sha256
	pages   []string                     // logical names: HTML, manifest.json, js-translation.json
	assets  []string                     // hashed names of both releases
}

// stageTarget publishes builds A and B to a new local target with the real
// publisher, and activates A.
func stageTarget(t testing.TB) *target {
	t.Helper()
	a, b := sampleBuilds(t)
	root := filepath.Join(t.TempDir(), "static")
	tg, err := publish.OpenLocal(root, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := &target{root: root, tg: tg, digests: map[string]map[string]string{}}
	pages, assets := map[string]bool{}, map[string]bool{}
	for i, dir := range []string{a, b} {
		r, err := tg.Stage(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		x.ids[i] = r.ID
		meta, err := manifest.ReadBuild(dir)
		if err != nil {
			t.Fatal(err)
		}
		d := map[string]string{}
		for p, f := range meta.Files {
			d[p] = f.SHA256
		}
		x.digests[r.ID] = d
		for _, j := range meta.Jobs {
			m, err := manifest.ReadManifest(filepath.Join(dir, filepath.FromSlash(j.Dir)))
			if err != nil {
				t.Fatal(err)
			}
			pages["/"+j.Dir+"/"+manifest.ManifestFile] = true
			pages["/"+j.Dir+"/"+manifest.TranslationFile] = true
			for logical, asset := range m {
				if isHashed(asset.File) {
					assets["/"+j.Dir+"/"+asset.File] = true
				} else {
					pages["/"+j.Dir+"/"+logical] = true
				}
			}
		}
	}
	if x.digests[x.ids[0]]["frontend/Acme/shop/en_US/template/product.html"] == x.digests[x.ids[1]]["frontend/Acme/shop/en_US/template/product.html"] {
		t.Fatal("builds A and B have the same product page")
	}
	for p := range pages {
		x.pages = append(x.pages, p)
	}
	for p := range assets {
		x.assets = append(x.assets, p)
	}
	sort.Strings(x.pages)
	sort.Strings(x.assets)
	// B then A: after that, skew protection has linked each release's
	// hashed assets into the other, so any asset of either answers 200
	// whichever is active — what a browser holding a page of either
	// release relies on.
	for _, id := range []string{x.ids[1], x.ids[0]} {
		if err := tg.Activate(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// load is a load generator with checks: many clients on keep-alive
// connections, each requesting pages, manifests and assets with varied
// Accept-Encoding and conditional requests, and following every
// reference of each HTML page and a few entries of each manifest.
type load struct {
	base    string // http://host:port
	x       *target
	strict  bool // responses name their release (X-Scd-Release): check against it
	clients int

	requests, conns, bad atomic.Int64
	mu                   sync.Mutex
	failures             []string
	latencies            []time.Duration // of page requests, for percentiles
	seenReleases         map[string]int
}

var refRE = regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)

var encodings = []string{"", "gzip", "br, gzip", "zstd, br;q=0.9, gzip;q=0.8", "gzip, deflate, br, zstd"}

func (l *load) fail(format string, args ...any) {
	l.bad.Add(1)
	l.mu.Lock()
	if len(l.failures) < 20 {
		l.failures = append(l.failures, fmt.Sprintf(format, args...))
	}
	l.mu.Unlock()
}

// run loads until ctx is done.
func (l *load) run(ctx context.Context) {
	l.seenReleases = map[string]int{}
	var wg sync.WaitGroup
	for c := range l.clients {
		wg.Go(func() {
			tr := &http.Transport{
				MaxIdleConnsPerHost: 4, DisableCompression: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					l.conns.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
			}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			etags := map[string]string{}
			for ctx.Err() == nil {
				var p string
				if rng.IntN(3) == 0 {
					p = l.x.assets[rng.IntN(len(l.x.assets))]
				} else {
					p = l.x.pages[rng.IntN(len(l.x.pages))]
				}
				l.fetch(cl, rng, etags, p, true)
			}
		})
	}
	wg.Wait()
}

// fetch requests p and checks the answer; follow makes it request what a
// page or manifest references, from the same release. It reports whether
// the answer was right.
func (l *load) fetch(cl *http.Client, rng *rand.Rand, etags map[string]string, p string, follow bool) bool {
	enc := encodings[rng.IntN(len(encodings))]
	req, _ := http.NewRequest("GET", l.base+p, nil)
	if enc != "" {
		req.Header.Set("Accept-Encoding", enc)
	}
	key := p + "|" + enc
	if et := etags[key]; et != "" && rng.IntN(2) == 0 {
		req.Header.Set("If-None-Match", et)
	}
	start := time.Now()
	res, err := cl.Do(req)
	l.requests.Add(1)
	if err != nil {
		l.fail("%s: %v", p, err)
		return false
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		l.fail("%s: reading: %v", p, err)
		return false
	}
	if follow {
		l.mu.Lock()
		l.latencies = append(l.latencies, time.Since(start))
		l.mu.Unlock()
	}
	switch res.StatusCode {
	case http.StatusNotModified:
		return true
	case http.StatusOK:
	default:
		l.fail("%s (%s): status %d", p, enc, res.StatusCode)
		return false
	}
	if et := res.Header.Get("ETag"); et != "" {
		etags[key] = et
	}
	file := strings.TrimPrefix(p, "/") + map[string]string{"": "", "gzip": ".gz", "br": ".br", "zstd": ".zst"}[res.Header.Get("Content-Encoding")]
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	rel := res.Header.Get(ReleaseHeader)
	if l.strict {
		l.mu.Lock()
		l.seenReleases[rel]++
		l.mu.Unlock()
		want, ok := l.x.digests[rel][file]
		if !ok && isHashed(p) {
			// A skew-protection asset: the other release's file.
			for _, d := range l.x.digests {
				if d[file] == got {
					want, ok = got, true
				}
			}
		}
		if !ok || want != got {
			l.fail("%s as %s from release %q: digest %s, want %s", p, file, rel, got[:12], want)
			return false
		}
	} else {
		match := ""
		for id, d := range l.x.digests {
			if d[file] == got {
				match = id
			}
		}
		if match == "" {
			l.fail("%s as %s: digest %s matches no release", p, file, got[:12])
			return false
		}
		rel = match
	}
	if !follow || res.Header.Get("Content-Encoding") != "" {
		return true
	}
	switch {
	case strings.HasSuffix(p, ".html"):
		for _, m := range refRE.FindAllStringSubmatch(string(data), -1) {
			ref := path.Join(path.Dir(p), m[1])
			l.fetchRef(cl, rng, ref, p, rel)
		}
	case strings.HasSuffix(p, "/"+manifest.ManifestFile):
		var m manifest.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			l.fail("%s: %v", p, err)
			return false
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for range 2 {
			a := m[keys[rng.IntN(len(keys))]]
			if isHashed(a.File) {
				l.fetchRef(cl, rng, path.Join(path.Dir(p), a.File), p, rel)
			}
		}
	}
	return true
}

// fetchRef requests an asset that a page of release rel referenced: it
// must answer 200 whatever is active by now.
func (l *load) fetchRef(cl *http.Client, rng *rand.Rand, ref, from, rel string) {
	if !l.fetch(cl, rng, map[string]string{}, ref, false) {
		l.fail("  (%s referenced by %s of release %s)", ref, from, rel)
	}
}

func (l *load) report(t testing.TB) {
	t.Helper()
	t.Logf("%d requests on %d connections, %d failures; releases seen: %v; page latency %s",
		l.requests.Load(), l.conns.Load(), l.bad.Load(), l.seenReleases, percentiles(l.latencies))
	for _, f := range l.failures {
		t.Error(f)
	}
	if l.bad.Load() > 0 {
		t.Errorf("%d failed responses", l.bad.Load())
	}
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return fmt.Sprintf("p50 %s p99 %s max %s", q(.5), q(.99), s[len(s)-1])
}

// freePort returns a loopback address nobody listens on (for servers, such
// as nginx, that must be told their port).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
