package serve

import (
	"strings"
	"testing"
)

func TestSplitVersion(t *testing.T) {
	tests := []struct {
		in, version, rest string
		ok                bool
	}{
		{"/static/version1733472000/frontend/A/b/en_US/js/a.js", "1733472000", "/frontend/A/b/en_US/js/a.js", true},
		{"/version1733472000/frontend/A/b/en_US/js/a.js", "1733472000", "/frontend/A/b/en_US/js/a.js", true},
		{"/static/version1/x", "1", "/x", true},
		{"/static/version0/x", "0", "/x", true},
		{"/static/version1/", "1", "/", true},                     // cleanPath refuses "/"
		{"/static/version1//x", "1", "//x", true},                 // and "//x"
		{"/static/version1/../x", "1", "/../x", true},             // and "/../x"
		{"/static/version1/version2/x", "1", "/version2/x", true}, // one prefix only
		{"/static/version" + strings.Repeat("9", 32) + "/x", strings.Repeat("9", 32), "/x", true},
		// Not a version: the path comes back as it is.
		{"/static/version" + strings.Repeat("9", 33) + "/x", "", "/static/version" + strings.Repeat("9", 33) + "/x", false},
		{"/static/version/x", "", "/static/version/x", false},
		{"/static/versionabc/x", "", "/static/versionabc/x", false},
		{"/static/version12a/x", "", "/static/version12a/x", false},
		{"/static/version-1/x", "", "/static/version-1/x", false},
		{"/static/version١/x", "", "/static/version١/x", false}, // Arabic-Indic digit
		{"/static/version1", "", "/static/version1", false},
		{"/static/Version1/x", "", "/static/Version1/x", false},
		{"/static/x/version1/x", "", "/static/x/version1/x", false},
		{"/staticversion1/x", "", "/staticversion1/x", false},
		{"/static/static/version1/x", "", "/static/static/version1/x", false},
		{"/static/frontend/x", "", "/static/frontend/x", false},
		{"/frontend/x", "", "/frontend/x", false},
		{"/static", "", "/static", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		v, rest, ok := splitVersion(tt.in)
		if v != tt.version || rest != tt.rest || ok != tt.ok {
			t.Errorf("splitVersion(%q) = %q, %q, %v; want %q, %q, %v", tt.in, v, rest, ok, tt.version, tt.rest, tt.ok)
		}
	}
}

func TestRequestPath(t *testing.T) {
	tests := []struct {
		in, rel, version string
		ok               bool
	}{
		{"/static/version7/frontend/a.js", "frontend/a.js", "7", true},
		{"/version7/frontend/a.js", "frontend/a.js", "7", true},
		{"/frontend/a.js", "frontend/a.js", "", true},
		{"/versionx/a.js", "versionx/a.js", "", true},
		{"/static/version/a.js", "static/version/a.js", "", true},
		{"/static/version7/", "", "", false},
		{"/static/version7/../a.js", "", "", false},
		{"/static/version7/./a.js", "", "", false},
		{"/static/version7//a.js", "", "", false},
		{"/static/version7/.complete", "", "", false},
		{"/static/version7/a\\b", "", "", false},
		{"/static/version7/a\x00b", "", "", false},
	}
	for _, tt := range tests {
		rel, v, ok := requestPath(tt.in)
		if rel != tt.rel || v != tt.version || ok != tt.ok {
			t.Errorf("requestPath(%q) = %q, %q, %v; want %q, %q, %v", tt.in, rel, v, ok, tt.rel, tt.version, tt.ok)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"1733472000": "1733472000", "1733472000\n": "1733472000", " 42\r\n": "42",
		"": "", "\n": "", "abc": "", "12a": "", "-1": "", "1 2": "", "0x1f": "",
		strings.Repeat("1", 33): "",
	} {
		if got := parseVersion([]byte(in)); got != want {
			t.Errorf("parseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestVersionNeedsTheFile: without a usable deployed_version.txt a
// release has no content version, so versioned paths are served but
// never as immutable (nothing says the URL's N is this content).
func TestVersionNeedsTheFile(t *testing.T) {
	for name, content := range map[string]string{"missing": "", "not digits": "v1\n"} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{"page.html": "one", "a.11111111.js": "asset one"}
			if content != "" {
				files[versionFile] = content
			}
			writeRelease(t, root, "r1", files)
			activateFake(t, root, "r1")
			h := newTestServer(t, root, Options{}).Handler()
			for _, tt := range []struct{ path, want, cache string }{
				{"/static/version1/page.html", "one", cacheRevalidate},
				{"/static/version1/a.11111111.js", "asset one", cacheImmutable}, // hashed anyway
				{"/page.html", "one", cacheRevalidate},
			} {
				res := get(t, h, tt.path)
				if b := body(t, res); res.StatusCode != 200 || b != tt.want {
					t.Errorf("%s: %d %q", tt.path, res.StatusCode, b)
				}
				if cc := res.Header.Get("Cache-Control"); cc != tt.cache {
					t.Errorf("%s: Cache-Control %q, want %q", tt.path, cc, tt.cache)
				}
			}
		})
	}
}

// versionedReleases is twoReleases with content versions: r1 (active) is
// version 100, r2 (staged) version 200.
func versionedReleases(t testing.TB) string {
	root := t.TempDir()
	writeRelease(t, root, "r1", map[string]string{"page.html": "one", "a.11111111.js": "asset one", versionFile: "100"})
	writeRelease(t, root, "r2", map[string]string{"page.html": "two", "a.22222222.js": "asset two", versionFile: "200"})
	activateFake(t, root, "r1")
	return root
}

// TestVersionAcrossSwitch: after an activation the new version is
// immutable and the old one (an old page's URLs) is served from the active
// release, revalidated, never pinned as immutable.
func TestVersionAcrossSwitch(t *testing.T) {
	root := versionedReleases(t)
	s := newTestServer(t, root, Options{})
	h := s.Handler()
	check := func(path, want, cache string) {
		t.Helper()
		res := get(t, h, path)
		if b := body(t, res); res.StatusCode != 200 || b != want {
			t.Errorf("%s: %d %q, want %q", path, res.StatusCode, b, want)
		}
		if cc := res.Header.Get("Cache-Control"); cc != cache {
			t.Errorf("%s: Cache-Control %q, want %q", path, cc, cache)
		}
	}
	check("/static/version100/page.html", "one", cacheImmutable)
	check("/static/version200/page.html", "one", cacheRevalidate) // r2 is not being served
	activateFake(t, root, "r2")
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	check("/static/version200/page.html", "two", cacheImmutable)
	check("/version200/page.html", "two", cacheImmutable)
	check("/static/version100/page.html", "two", cacheRevalidate)
	check("/page.html", "two", cacheRevalidate)
}

// TestVersionCanary: during a canary a versioned path is served by the
// side whose version it names, whatever the client's bucket (the page
// that holds the URL was rendered for that content), immutable; a version
// of neither side is the bucket's side, private.
func TestVersionCanary(t *testing.T) {
	root := versionedReleases(t)
	s := newTestServer(t, root, Options{})
	h := s.Handler()
	if _, err := s.StartCanary("r2", 30); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, bucket, want, release, cache string
	}{
		{"/static/version200/page.html", "99", "two", "r2", cacheImmutable}, // stable client, canary URL
		{"/static/version200/page.html", "0", "two", "r2", cacheImmutable},
		{"/static/version100/page.html", "0", "one", "r1", cacheImmutable}, // canary client, stable URL
		{"/static/version100/page.html", "99", "one", "r1", cacheImmutable},
		{"/version200/page.html", "99", "two", "r2", cacheImmutable},
		{"/static/version300/page.html", "0", "two", "r2", cacheRevalidatePrivate},
		{"/static/version300/page.html", "99", "one", "r1", cacheRevalidatePrivate},
		{"/page.html", "0", "two", "r2", cacheRevalidatePrivate},
		// Hashed names still fall back to the other side, from the side
		// the version chose.
		{"/static/version200/a.11111111.js", "99", "asset one", "r1", cacheImmutable},
		{"/static/version100/a.22222222.js", "0", "asset two", "r2", cacheImmutable},
	} {
		res := get(t, h, tt.path, "Cookie", "scd_bucket="+tt.bucket)
		if b := body(t, res); res.StatusCode != 200 || b != tt.want {
			t.Errorf("%s bucket %s: %d %q, want %q", tt.path, tt.bucket, res.StatusCode, b, tt.want)
		}
		if got := res.Header.Get(ReleaseHeader); got != tt.release {
			t.Errorf("%s bucket %s: release %q, want %q", tt.path, tt.bucket, got, tt.release)
		}
		if cc := res.Header.Get("Cache-Control"); cc != tt.cache {
			t.Errorf("%s bucket %s: Cache-Control %q, want %q", tt.path, tt.bucket, cc, tt.cache)
		}
	}
	if res := get(t, h, "/static/version200/nope.js", "Cookie", "scd_bucket=99"); res.StatusCode != 404 {
		t.Errorf("missing file on the canary side: %d", res.StatusCode)
	}
}

// TestVersionPreview: a preview of a staged release answers its own
// version as immutable, so a deploy can warm the URLs pages will use.
func TestVersionPreview(t *testing.T) {
	root := versionedReleases(t)
	s := newTestServer(t, root, Options{})
	for _, h := range []struct {
		path, hdr, want, cache string
	}{
		{"/-/preview/r2/static/version200/page.html", "", "two", cacheImmutable},
		{"/-/preview/r2/static/version100/page.html", "", "two", cacheRevalidate},
		{"/static/version200/page.html", "r2", "two", cacheImmutable},
		{"/-/preview/r2/static/version200/../page.html", "", "", ""},
	} {
		var hdr []string
		if h.hdr != "" {
			hdr = []string{ReleaseHeader, h.hdr}
		}
		res := get(t, s.PreviewHandler(), h.path, hdr...)
		b := body(t, res)
		if h.want == "" {
			if res.StatusCode != 404 {
				t.Errorf("%s: %d, want 404", h.path, res.StatusCode)
			}
			continue
		}
		if res.StatusCode != 200 || b != h.want {
			t.Errorf("%s: %d %q, want %q", h.path, res.StatusCode, b, h.want)
		}
		if cc := res.Header.Get("Cache-Control"); cc != h.cache {
			t.Errorf("%s: Cache-Control %q, want %q", h.path, cc, h.cache)
		}
	}
}
