package serve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	appJS   = "console.log('app v1');"
	appBR   = "BR-BYTES"
	appZST  = "ZSTD-BYTES"
	appGZ   = "GZIP-BYTES"
	cartHTM = "<p>cart</p>"
	cartGZ  = "CART-GZ"
)

// fixtureVersion is r1's deployed_version.txt; vbase is its Magento static
// prefix.
const (
	fixtureVersion = "1733472000"
	vbase          = "/static/version" + fixtureVersion
)

// handlerFixture is a target with one active release r1 holding every kind
// of file, a symlink that stays inside and one that leads out, and a
// secret next to the target that must never be served.
func handlerFixture(t testing.TB, o Options) (root string, s *Server) {
	root = t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "secret.txt"), []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeRelease(t, root, "r1", map[string]string{
		"frontend/A/b/en_US/js/app.0123abcd.js":         appJS,
		"frontend/A/b/en_US/js/app.0123abcd.js.br":      appBR,
		"frontend/A/b/en_US/js/app.0123abcd.js.zst":     appZST,
		"frontend/A/b/en_US/js/app.0123abcd.js.gz":      appGZ,
		"frontend/A/b/en_US/template/cart.html":         cartHTM,
		"frontend/A/b/en_US/template/cart.html.gz":      cartGZ,
		"frontend/A/b/en_US/manifest.json":              `{"x":1}`,
		"frontend/A/b/en_US/images/logo.9d6c33eb.svg":   "<svg/>",
		"frontend/A/b/en_US/fonts/icons.319c1303.woff2": "wOF2",
		"frontend/A/b/en_US/data.unknownext":            "???",
		"frontend/A/b/en_US/js/app.0123ABCD.js":         "not hashed: uppercase",
		"frontend/A/b/en_US/js/app.0123abc.js":          "not hashed: 7 digits",
		versionFile:                                     fixtureVersion,
		"versionabc/plain.txt":                          "a directory named like a version",
	})
	rel := filepath.Join(root, releasesDir, "r1", "frontend", "A", "b", "en_US")
	if err := os.Symlink("js/app.0123abcd.js", filepath.Join(rel, "inside.js")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../secret.txt", filepath.Join(rel, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(rel, "etc")); err != nil {
		t.Fatal(err)
	}
	activateFake(t, root, "r1")
	return root, newTestServer(t, root, o)
}

// TestServeRules: every negotiation, caching and path rule, with small
// files served from memory and from disk.
func TestServeRules(t *testing.T) {
	for name, o := range map[string]Options{"memory": {}, "disk": {CacheBytes: -1}} {
		t.Run(name, func(t *testing.T) { testServeRules(t, o) })
	}
}

func testServeRules(t *testing.T, o Options) {
	_, s := handlerFixture(t, o)
	h := s.Handler()
	const base = "/frontend/A/b/en_US/"
	tests := []struct {
		name    string
		method  string
		path    string
		header  http.Header
		code    int
		body    string // exact, when not ""
		enc     string // Content-Encoding
		cache   string
		ctype   string
		etag    string
		noVary  bool
		extraCk func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{name: "identity without Accept-Encoding", path: base + "js/app.0123abcd.js", code: 200, body: appJS, cache: cacheImmutable, ctype: "text/javascript; charset=utf-8", etag: etagOf(appJS)},
		{name: "br preferred", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}, code: 200, body: appBR, enc: "br", cache: cacheImmutable, ctype: "text/javascript; charset=utf-8", etag: etagOf(appBR)},
		{name: "zstd by q", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"br;q=0.1, zstd"}}, code: 200, body: appZST, enc: "zstd", etag: etagOf(appZST)},
		{name: "gzip only", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"gzip"}}, code: 200, body: appGZ, enc: "gzip", etag: etagOf(appGZ)},
		{name: "html gets gzip, revalidated", path: base + "template/cart.html", header: http.Header{"Accept-Encoding": {"br, gzip"}}, code: 200, body: cartGZ, enc: "gzip", cache: cacheRevalidate, ctype: "text/html; charset=utf-8", etag: etagOf(cartGZ)},
		{name: "html identity when br only", path: base + "template/cart.html", header: http.Header{"Accept-Encoding": {"br"}}, code: 200, body: cartHTM, cache: cacheRevalidate},
		{name: "manifest revalidated", path: base + "manifest.json", code: 200, body: `{"x":1}`, cache: cacheRevalidate, ctype: "application/json"},
		{name: "svg immutable", path: base + "images/logo.9d6c33eb.svg", code: 200, cache: cacheImmutable, ctype: "image/svg+xml"},
		{name: "woff2 immutable", path: base + "fonts/icons.319c1303.woff2", code: 200, cache: cacheImmutable, ctype: "font/woff2"},
		{name: "uppercase hex is not a hash", path: base + "js/app.0123ABCD.js", code: 200, cache: cacheRevalidate},
		{name: "seven digits are not a hash", path: base + "js/app.0123abc.js", code: 200, cache: cacheRevalidate},
		{name: "unknown type not sniffed", path: base + "data.unknownext", code: 200, ctype: "application/octet-stream", cache: cacheRevalidate},
		{name: "sidecar directly", path: base + "js/app.0123abcd.js.gz", code: 200, body: appGZ, ctype: "application/gzip", cache: cacheRevalidate},
		{name: "304 on If-None-Match", path: base + "js/app.0123abcd.js", header: http.Header{"If-None-Match": {etagOf(appJS)}}, code: 304, body: "", etag: etagOf(appJS), cache: cacheImmutable},
		{name: "304 on a list with the variant's etag", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"br"}, "If-None-Match": {`"nope", ` + etagOf(appBR)}}, code: 304, etag: etagOf(appBR)},
		{name: "another variant's etag is no match", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {etagOf(appBR)}}, code: 200, body: appGZ, enc: "gzip"},
		{name: "If-None-Match star", path: base + "manifest.json", header: http.Header{"If-None-Match": {"*"}}, code: 304},
		{name: "range", path: base + "js/app.0123abcd.js", header: http.Header{"Range": {"bytes=0-6"}}, code: 206, body: appJS[:7], extraCk: func(t *testing.T, rec *httptest.ResponseRecorder) {
			if got := rec.Header().Get("Content-Range"); got != "bytes 0-6/22" {
				t.Errorf("Content-Range = %q", got)
			}
		}},
		{name: "range of the encoded variant", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=-4"}}, code: 206, body: appGZ[len(appGZ)-4:], enc: "gzip"},
		{name: "unsatisfiable range", path: base + "js/app.0123abcd.js", header: http.Header{"Range": {"bytes=100-"}}, code: 416},
		{name: "If-Range mismatch gives the whole file", path: base + "js/app.0123abcd.js", header: http.Header{"Range": {"bytes=0-1"}, "If-Range": {`"old"`}}, code: 200, body: appJS},
		{name: "HEAD has no body", method: "HEAD", path: base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"br"}}, code: 200, body: "", enc: "br", extraCk: func(t *testing.T, rec *httptest.ResponseRecorder) {
			if got := rec.Header().Get("Content-Length"); got != "8" {
				t.Errorf("Content-Length = %q, want 8", got)
			}
		}},
		{name: "POST refused", method: "POST", path: base + "manifest.json", code: 405, cache: cacheNever},
		{name: "406 when identity refused", path: base + "manifest.json", header: http.Header{"Accept-Encoding": {"br, identity;q=0"}}, code: 406},
		{name: "missing file", path: base + "js/nope.js", code: 404, cache: cacheNever},
		{name: "directory not listed", path: base + "js", code: 404},
		{name: "directory with slash", path: base + "js/", code: 404},
		{name: "root", path: "/", code: 404},
		{name: "dot dot", path: base + "../../../../../secret.txt", code: 404},
		{name: "dot segment", path: base + "./manifest.json", code: 404},
		{name: "double slash", path: "/frontend//A/b/en_US/manifest.json", code: 404},
		{name: "dotfile", path: "/.complete", code: 404},
		{name: "backslash", path: base + "js\\app.0123abcd.js", code: 404},
		{name: "symlink inside followed", path: base + "inside.js", code: 200, body: appJS},
		{name: "symlink out refused", path: base + "escape.txt", code: 404},
		{name: "absolute symlink out refused", path: base + "etc/passwd", code: 404},
		// Magento's static signing: /static/version<N>/ serves the
		// unversioned path; with the release's own N it is immutable.
		{name: "versioned logical name immutable", path: vbase + base + "template/cart.html", code: 200, body: cartHTM, cache: cacheImmutable, ctype: "text/html; charset=utf-8", etag: etagOf(cartHTM)},
		{name: "versioned gzip sidecar", path: vbase + base + "template/cart.html", header: http.Header{"Accept-Encoding": {"gzip"}}, code: 200, body: cartGZ, enc: "gzip", cache: cacheImmutable, etag: etagOf(cartGZ)},
		{name: "versioned without /static", path: "/version" + fixtureVersion + base + "template/cart.html", code: 200, body: cartHTM, cache: cacheImmutable},
		{name: "versioned manifest immutable", path: vbase + base + "manifest.json", code: 200, body: `{"x":1}`, cache: cacheImmutable},
		{name: "versioned hashed name", path: vbase + base + "js/app.0123abcd.js", header: http.Header{"Accept-Encoding": {"br"}}, code: 200, body: appBR, enc: "br", cache: cacheImmutable, etag: etagOf(appBR)},
		{name: "versioned 304", path: vbase + base + "template/cart.html", header: http.Header{"If-None-Match": {etagOf(cartHTM)}}, code: 304, cache: cacheImmutable},
		{name: "versioned range", path: vbase + base + "js/app.0123abcd.js", header: http.Header{"Range": {"bytes=0-6"}}, code: 206, body: appJS[:7]},
		{name: "versioned HEAD", method: "HEAD", path: vbase + base + "template/cart.html", code: 200, cache: cacheImmutable},
		{name: "versioned deployed_version.txt", path: vbase + "/" + versionFile, code: 200, body: fixtureVersion, cache: cacheImmutable},
		{name: "unversioned deployed_version.txt", path: "/" + versionFile, code: 200, body: fixtureVersion, cache: cacheRevalidate},
		{name: "another version served, revalidated", path: "/static/version1" + base + "template/cart.html", code: 200, body: cartHTM, cache: cacheRevalidate},
		{name: "version with leading zero is another version", path: "/static/version0" + fixtureVersion + base + "template/cart.html", code: 200, body: cartHTM, cache: cacheRevalidate},
		{name: "versioned POST refused", method: "POST", path: vbase + base + "manifest.json", code: 405, cache: cacheNever},
		{name: "versioned missing file", path: vbase + base + "js/nope.js", code: 404, cache: cacheNever},
		{name: "versioned directory", path: vbase + base + "js", code: 404},
		{name: "version prefix alone", path: vbase + "/", code: 404, cache: cacheNever},
		{name: "version prefix without slash", path: vbase, code: 404},
		{name: "version twice", path: vbase + vbase + base + "manifest.json", code: 404},
		{name: "version without digits", path: "/static/version" + base + "manifest.json", code: 404, cache: cacheNever},
		{name: "version with letters", path: "/static/versionabc" + base + "manifest.json", code: 404},
		{name: "version with digits then letters", path: vbase + "a" + base + "manifest.json", code: 404},
		{name: "version with a sign", path: "/static/version+1" + base + "manifest.json", code: 404},
		{name: "version too long", path: "/static/version" + strings.Repeat("1", 33) + base + "manifest.json", code: 404},
		{name: "not a version: looked up literally", path: "/versionabc/plain.txt", code: 200, cache: cacheRevalidate},
		{name: "not a version under /static: literal, missing", path: "/static/versionabc/plain.txt", code: 404},
		{name: "static without version is not stripped", path: "/static" + base + "manifest.json", code: 404},
		{name: "versioned dot dot", path: vbase + base + "../../../../../../secret.txt", code: 404},
		{name: "versioned dot dot right after prefix", path: vbase + "/../secret.txt", code: 404},
		{name: "versioned dot segment", path: vbase + base + "./manifest.json", code: 404},
		{name: "versioned double slash", path: vbase + "/" + base + "manifest.json", code: 404},
		{name: "versioned dotfile", path: vbase + "/.complete", code: 404},
		{name: "versioned backslash", path: vbase + base + "js\\app.0123abcd.js", code: 404},
		{name: "versioned symlink out refused", path: vbase + base + "escape.txt", code: 404},
		{name: "versioned absolute symlink out refused", path: vbase + base + "etc/passwd", code: 404},
		{name: "versioned admin path is a file path", path: vbase + "/-/healthz", code: 404},
		{name: "healthz", path: "/-/healthz", code: 200, noVary: true},
		{name: "admin paths hidden", path: "/-/release", code: 404, noVary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := httptest.NewRequest(method, "http://x"+tt.path, nil)
			if strings.Contains(tt.path, "\\") {
				req.URL.Path = tt.path
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tt.code, body)
			}
			if tt.body != "" || tt.code == 304 || method == "HEAD" {
				if string(body) != tt.body {
					t.Errorf("body %q, want %q", body, tt.body)
				}
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.enc {
				t.Errorf("Content-Encoding %q, want %q", got, tt.enc)
			}
			if tt.cache != "" && res.Header.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), tt.cache)
			}
			if tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.ctype)
			}
			if tt.etag != "" && res.Header.Get("ETag") != tt.etag {
				t.Errorf("ETag %q, want %q", res.Header.Get("ETag"), tt.etag)
			}
			if !tt.noVary && res.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q, want Accept-Encoding", res.Header.Get("Vary"))
			}
			if strings.Contains(string(body), "SECRET") {
				t.Errorf("served the secret")
			}
			if tt.extraCk != nil {
				tt.extraCk(t, rec)
			}
		})
	}
}

// TestServeReal checks over a real connection what the recorder cannot:
// encoded traversal in the raw request line.
func TestServeRawPaths(t *testing.T) {
	_, s := handlerFixture(t, Options{CacheBytes: -1})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, p := range []string{
		"/frontend/A/b/en_US/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
		"/frontend/A/b/en_US/..%2f..%2f..%2f..%2f..%2fsecret.txt",
		"/frontend/A/b/en_US/%2E%2E%5C..%5Csecret.txt",
		"/frontend/A/b/en_US/escape.txt",
		"/%00/secret.txt",
		"/../secret.txt",
		"/releases/../secret.txt",
		"/static/version1733472000/%2e%2e/secret.txt",
		"/static/version1733472000/..%2fsecret.txt",
		"/static/version1733472000/frontend/A/b/en_US/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
		"/static/version1733472000%2f..%2f..%2fsecret.txt",
		"/static/version1733472000/%2fsecret.txt",
		"/version1733472000/../secret.txt",
		"/static/version1733472000/frontend/A/b/en_US/escape.txt",
	} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", ts.URL, nil)
		req.URL.Opaque = p // sent as is, not cleaned by the client
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 || strings.Contains(string(body), "SECRET") {
			t.Errorf("%s: %d %q", p, res.StatusCode, body)
		}
	}
}
