// Package publishtest is the behavioural suite every publish.Target must
// pass (Run), and the build fixtures it uses (Builds).
package publishtest

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/publish"
)

// editedCSS is the source the second fixture build changes, and the rule
// it appends: a CSS entry of Acme/base, so its hashed name changes in the
// jobs of Acme/base and Acme/shop, while most other files stay identical.
const (
	editedCSS  = "app/design/frontend/Acme/base/web/css/styles.css"
	appendRule = "\n.publishtest-edit { color: #c0ffee; }\n"
)

// SampleDir is fixtures/sample of this module, found from this source file.
func SampleDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("publishtest: cannot locate the source tree")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "fixtures", "sample")
	if _, err := os.Stat(filepath.Join(dir, "themes.yml")); err != nil {
		t.Fatalf("publishtest: the sample is not available: %v", err)
	}
	return dir
}

// Builds runs the real builder on the sample twice, the second time with
// one stylesheet edited, and returns the two build directories (under
// t.TempDir()). The builds differ in a few files — among them hashed
// assets present in one and not the other — and share most.
func Builds(t testing.TB) (a, b string) {
	t.Helper()
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if err := os.CopyFS(src, os.DirFS(SampleDir(t))); err != nil {
		t.Fatal(err)
	}
	a = filepath.Join(tmp, "build-a")
	build(t, src, a)
	f, err := os.OpenFile(filepath.Join(src, filepath.FromSlash(editedCSS)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(appendRule); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b = filepath.Join(tmp, "build-b")
	build(t, src, b)
	return a, b
}

func build(t testing.TB, dir, out string) {
	t.Helper()
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := cfg.Jobs(matrix.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := builder.Build(context.Background(), builder.Options{
		Config: cfg, Jobs: jobs, Output: out, Threads: 2, WorkDir: dir, Version: "publishtest",
	}); err != nil {
		t.Fatalf("building the fixture: %v", err)
	}
}

// CopyBuild copies a build directory, for a test to damage the copy.
func CopyBuild(t testing.TB, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ReadBuild reads build.json of a build directory.
func ReadBuild(t testing.TB, dir string) *manifest.Build {
	t.Helper()
	b, err := manifest.ReadBuild(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hashed lists the hashed assets of a build directory (see
// publish.HashedAssets).
func Hashed(t testing.TB, dir string) []string {
	t.Helper()
	out, err := publish.HashedAssets(ReadBuild(t, dir), func(p string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// OnlyIn returns the hashed assets of build a that build b does not have.
func OnlyIn(t testing.TB, a, b string) []string {
	t.Helper()
	bFiles := ReadBuild(t, b).Files
	var out []string
	for _, p := range Hashed(t, a) {
		if _, ok := bFiles[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// Changed returns the logical files (manifests, say) that both builds have
// with different content: what must come from the active release.
func Changed(t testing.TB, a, b string) []string {
	t.Helper()
	fa, fb := ReadBuild(t, a).Files, ReadBuild(t, b).Files
	var out []string
	for p, f := range fa {
		if g, ok := fb[p]; ok && g.SHA256 != f.SHA256 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// jobManifests lists the manifest.json paths of a build.
func jobManifests(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, j := range ReadBuild(t, dir).Jobs {
		out = append(out, path.Join(j.Dir, manifest.ManifestFile))
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
