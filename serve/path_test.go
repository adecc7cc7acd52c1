package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/a/b.js", "a/b.js", true},
		{"/frontend/Acme/shop/en_US/js/app.1234abcd.js", "frontend/Acme/shop/en_US/js/app.1234abcd.js", true},
		{"/a b/c%d.js", "a b/c%d.js", true},
		{"", "", false},
		{"/", "", false},
		{"a/b", "", false},
		{"/a/../b", "", false},
		{"/..", "", false},
		{"/a/./b", "", false},
		{"/a//b", "", false},
		{"/a/", "", false},
		{"/.git/config", "", false},
		{"/a/.complete", "", false},
		{"/releases/.x.tmp/a", "", false},
		{"/a\\..\\b", "", false},
		{"/a\x00b", "", false},
		{"/" + strings.Repeat("a", 5000), "", false},
	}
	for _, tt := range tests {
		got, ok := cleanPath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIsHashed(t *testing.T) {
	for p, want := range map[string]bool{
		"js/app.0123abcd.js":         true,
		"css/styles.d6fa50bb.css":    true,
		"fonts/icons.319c1303.woff2": true,
		"a.b/app.js":                 false,
		"js/app.js":                  false,
		"js/app.0123abcd":            false,
		"js/app.0123abcde.js":        false, // nine digits
		"js/app0123abcd.js":          false,
		"js/app.0123ABCD.js":         false,
		"0123abcd.js/x.html":         false,
		"template/cart.html":         false,
		"manifest.json":              false,
	} {
		if got := isHashed(p); got != want {
			t.Errorf("isHashed(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestValidReleaseID(t *testing.T) {
	for id, want := range map[string]bool{
		"20260102T150405Z-1a2b3c4d": true, "r1": true,
		"": false, ".r1.tmp": false, "..": false, "a/b": false, "a b": false, "a\x00": false,
	} {
		if got := validReleaseID(id); got != want {
			t.Errorf("validReleaseID(%q) = %v, want %v", id, got, want)
		}
	}
}

// FuzzCleanPath: whatever the input, an accepted path is local to the
// release (no "..", not absolute, no dot segment) — also once Magento's
// version prefix is taken off (requestPath), which takes it off only
// before digits and a slash, and leaves the rest to cleanPath.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/a/b.js", "/../x", "/a/%2e%2e/b", "/a//b", "/.x", "/a\\b", "/\x00",
		"/static/version1733472000/a/b.js", "/version1/a/b.js", "/static/version1/../x", "/static/version1//x",
		"/static/version1/.x", "/static/version/x", "/static/versionabc/x", "/static/version1", "/static/version1/",
		"/static/version1/version2/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		checkLocal := func(what, rel string) {
			if !filepath.IsLocal(rel) || strings.HasPrefix(rel, "/") || filepath.Clean(rel) != rel {
				t.Fatalf("%s(%q) = %q: not a clean local path", what, p, rel)
			}
			for _, seg := range strings.Split(rel, "/") {
				if seg == "" || seg[0] == '.' {
					t.Fatalf("%s(%q) = %q: segment %q", what, p, rel, seg)
				}
			}
		}
		if rel, ok := cleanPath(p); ok {
			checkLocal("cleanPath", rel)
		}
		rel, version, ok := requestPath(p)
		if !ok {
			return
		}
		checkLocal("requestPath", rel)
		if version == "" {
			if c, _ := cleanPath(p); c != rel {
				t.Fatalf("requestPath(%q) = %q unversioned, cleanPath gives %q", p, rel, c)
			}
			return
		}
		if len(version) > maxVersionLen || strings.Trim(version, "0123456789") != "" {
			t.Fatalf("requestPath(%q): version %q", p, version)
		}
		if p != "/static/version"+version+"/"+rel && p != "/version"+version+"/"+rel {
			t.Fatalf("requestPath(%q) = %q, %q: not a prefix taken off", p, rel, version)
		}
	})
}

// FuzzServePath sends arbitrary raw request paths to the handler over the
// fixture, whose release has symlinks leading out and a secret beside the
// target: nothing outside the release is ever served.
func FuzzServePath(f *testing.F) {
	for _, s := range []string{
		"/frontend/A/b/en_US/js/app.0123abcd.js", "/frontend/A/b/en_US/escape.txt",
		"/frontend/A/b/en_US/etc/passwd", "/%2e%2e/secret.txt", "/frontend/A/b/en_US/..%2f..%2fsecret.txt",
		"/frontend/A/b/en_US/inside.js", "/./secret.txt", "//secret.txt",
		vbase + "/frontend/A/b/en_US/template/cart.html", "/version" + fixtureVersion + "/frontend/A/b/en_US/manifest.json",
		"/static/version1/frontend/A/b/en_US/template/cart.html", vbase + "/%2e%2e/secret.txt", vbase + "/..%2fsecret.txt",
		vbase + "/frontend/A/b/en_US/escape.txt", vbase + "//secret.txt", "/static/version/frontend/A/b/en_US/manifest.json",
		"/versionabc/plain.txt", vbase + "/.complete",
	} {
		f.Add(s)
	}
	_, s := handlerFixture(f, Options{})
	h := s.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil || u.Path == "" {
			return
		}
		req := httptest.NewRequest("GET", "http://x/", nil)
		req.URL = u
		req.RequestURI = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Result().Body)
		if strings.Contains(string(body), "SECRET") || strings.Contains(string(body), "root:") {
			t.Fatalf("%q served something outside the release: %q", raw, body)
		}
		if rec.Code == http.StatusOK || rec.Code == http.StatusPartialContent || rec.Code == http.StatusNotModified {
			rel, version, ok := requestPath(u.Path)
			if !ok && !strings.HasPrefix(u.Path, "/-/") {
				t.Fatalf("%q answered %d for a refused path", raw, rec.Code)
			}
			// Immutable only where the bytes can never change: a hashed
			// name, or the release's own version prefix.
			if cc := rec.Header().Get("Cache-Control"); cc == cacheImmutable && !isHashed(rel) && version != fixtureVersion {
				t.Fatalf("%q (%q, version %q) answered immutable", raw, rel, version)
			}
		}
	})
}
