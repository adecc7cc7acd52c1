package flush

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scdtool/scd/manifest"
)

const job = "frontend/Acme/shop/en_US"

func f(d string) manifest.File { return manifest.File{SHA256: d, Size: 1} }

// release builds a Release whose job has a hashed app.js (digest js), an
// HTML template (html) and its manifest/translations.
func release(id, js, html, tr string) *Release {
	jsName := "js/app." + js + ".js"
	m := manifest.Manifest{
		"js/app.js":          {File: jsName},
		"template/cart.html": {File: "template/cart.html"},
		"css/x.css":          {File: "css/x.c0ffee00.css"},
	}
	files := map[string]manifest.File{
		job + "/" + jsName:                   f(js),
		job + "/" + jsName + ".gz":           f(js + "gz"),
		job + "/css/x.c0ffee00.css":          f("css"),
		job + "/template/cart.html":          f(html),
		job + "/template/cart.html.br":       f(html + "br"),
		job + "/manifest.json":               f(js + html),
		job + "/" + manifest.TranslationFile: f(tr),
	}
	return &Release{
		Build:     &manifest.Build{ID: id, Jobs: []manifest.Job{{Area: "frontend", Theme: "Acme/shop", Locale: "en_US", Dir: job}}, Files: files},
		Manifests: map[string]manifest.Manifest{job: m},
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new *Release
		want     []string
		hashed   int
	}{
		{"same build", release("b1", "aaaa1111", "h1", "t1"), release("b1", "aaaa1111", "h1", "t1"), nil, 0},
		{"js changed: only the manifest", release("b1", "aaaa1111", "h1", "t1"), release("b2", "bbbb2222", "h1", "t1"),
			[]string{"build.json", job + "/manifest.json"}, 4},
		{"template changed, sidecar folded in", release("b1", "aaaa1111", "h1", "t1"), release("b2", "aaaa1111", "h2", "t1"),
			[]string{"build.json", job + "/manifest.json", job + "/template/cart.html"}, 0},
		{"translations changed", release("b1", "aaaa1111", "h1", "t1"), release("b2", "aaaa1111", "h1", "t2"),
			[]string{"build.json", job + "/" + manifest.TranslationFile}, 0},
		{"first deploy", nil, release("b1", "aaaa1111", "h1", "t1"),
			[]string{"build.json", job + "/" + manifest.TranslationFile, job + "/manifest.json", job + "/template/cart.html"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := Diff(tc.old, tc.new)
			if !slices.Equal(ch.Logical, tc.want) || ch.Hashed != tc.hashed {
				t.Errorf("got %v (hashed %d), want %v (hashed %d)", ch.Logical, ch.Hashed, tc.want, tc.hashed)
			}
		})
	}
}

func TestDiffRemovedAndAdded(t *testing.T) {
	old := release("b1", "aaaa1111", "h1", "t1")
	new := release("b2", "aaaa1111", "h1", "t1")
	delete(new.Build.Files, job+"/template/cart.html")
	delete(new.Build.Files, job+"/template/cart.html.br")
	new.Build.Files["robots.txt"] = f("r")
	ch := Diff(old, new)
	want := []string{"build.json", job + "/template/cart.html", "robots.txt"}
	if !slices.Equal(ch.Logical, want) {
		t.Errorf("got %v, want %v", ch.Logical, want)
	}
}

func TestURLPaths(t *testing.T) {
	ch := Changes{Logical: []string{"frontend/A/b/en_US/template/my cart.html", "build.json"}}
	for prefix, want := range map[string][]string{
		"":         {"/frontend/A/b/en_US/template/my%20cart.html", "/build.json"},
		"/static/": {"/static/frontend/A/b/en_US/template/my%20cart.html", "/static/build.json"},
		"static":   {"/static/frontend/A/b/en_US/template/my%20cart.html", "/static/build.json"},
	} {
		if got := ch.URLPaths(prefix); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", prefix, got, want)
		}
	}
}

func TestLoadRelease(t *testing.T) {
	dir := t.TempDir()
	r := release("b1", "aaaa1111", "h1", "t1")
	write := func(p string, v any) {
		data, err := manifest.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(manifest.BuildFile, r.Build)
	write(job+"/"+manifest.ManifestFile, r.Manifests[job])
	got, err := LoadRelease(context.Background(), DirReader(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got.Build.ID != "b1" || got.Manifests[job]["js/app.js"].File != "js/app.aaaa1111.js" {
		t.Errorf("loaded %+v", got)
	}
	if ch := Diff(got, r); len(ch.Logical) != 0 {
		t.Errorf("diff with itself: %v", ch.Logical)
	}
	os.Remove(filepath.Join(dir, job, manifest.ManifestFile))
	if _, err := LoadRelease(context.Background(), DirReader(dir)); err == nil {
		t.Error("missing manifest: no error")
	}
}
