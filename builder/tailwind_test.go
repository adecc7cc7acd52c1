package builder

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
	sl "github.com/scdtool/scd/source"
)

func writeTestFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestMirrorTheme: the work directory has the theme at its place relative
// to the root, as a copy (without node_modules and the file the build
// writes), and every other entry on the way as a link to the original;
// the cache the work directory is in is not linked.
func TestMirrorTheme(t *testing.T) {
	root := t.TempDir()
	theme := filepath.Join(root, "app/design/frontend/Acme/hyva")
	for _, f := range []string{
		"app/design/frontend/Acme/hyva/Magento_Theme/templates/a.phtml",
		"app/design/frontend/Acme/hyva/web/tailwind/package.json",
		"app/design/frontend/Acme/hyva/web/tailwind/node_modules/x/index.js",
		"app/design/frontend/Acme/hyva/web/css/styles.css",
		"app/design/frontend/Acme/hyva/web/css/print.css",
		"app/design/frontend/Acme/other/theme.xml",
		"app/etc/hyva-themes.json",
		"vendor/acme/module/a.phtml",
		"composer.json",
	} {
		writeTestFile(t, root, f, f)
	}
	if err := os.Symlink("print.css", filepath.Join(theme, "web/css/link.css")); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(root, ".scd-cache", "tailwind")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp(cache, "work-")
	if err != nil {
		t.Fatal(err)
	}
	dir, n, err := mirrorTheme(work, root, theme, filepath.Join(theme, "web/css/styles.css"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "app/design/frontend/Acme/hyva"); dir != want || n != 3 {
		t.Fatalf("copy at %s with %d files, want %s with 3", dir, n, want)
	}
	for rel, want := range map[string]string{
		"app/design/frontend/Acme/hyva/Magento_Theme/templates/a.phtml": "copy",
		"app/design/frontend/Acme/hyva/web/tailwind/package.json":       "copy",
		"app/design/frontend/Acme/hyva/web/css/print.css":               "copy",
		"app/design/frontend/Acme/hyva/web/css/link.css":                "link print.css",
		"app/design/frontend/Acme/hyva/web/tailwind/node_modules":       "none",
		"app/design/frontend/Acme/hyva/web/css/styles.css":              "none",
		"app/design/frontend/Acme/other":                                "link " + filepath.Join(root, "app/design/frontend/Acme/other"),
		"app/etc":                                                       "link " + filepath.Join(root, "app/etc"),
		"vendor":                                                        "link " + filepath.Join(root, "vendor"),
		"composer.json":                                                 "link " + filepath.Join(root, "composer.json"),
		".scd-cache":                                                    "none",
	} {
		p := filepath.Join(work, rel)
		fi, err := os.Lstat(p)
		got := "copy"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			got = "none"
		case err != nil:
			t.Fatal(err)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got = "link " + target
		case fi.IsDir():
			got = "dir"
		}
		if got != want {
			t.Errorf("%s: %s, want %s", rel, got, want)
		}
	}
	// What the build writes lands in the copy.
	writeTestFile(t, dir, "web/css/styles.css", "built")
	writeTestFile(t, dir, "web/css/print.css", "changed")
	if got := readTestFile(t, filepath.Join(theme, "web/css/styles.css")); got != "app/design/frontend/Acme/hyva/web/css/styles.css" {
		t.Errorf("the source's styles.css was changed: %q", got)
	}
	if got := readTestFile(t, filepath.Join(theme, "web/css/print.css")); got != "app/design/frontend/Acme/hyva/web/css/print.css" {
		t.Errorf("the source's print.css was changed: %q", got)
	}
	// Relative paths from the copy reach the root's files.
	if got := readTestFile(t, filepath.Join(dir, "web/tailwind", "../../../../../../../app/etc/hyva-themes.json")); got != "app/etc/hyva-themes.json" {
		t.Errorf("app/etc/hyva-themes.json through the copy: %q", got)
	}

	// A theme outside the root (a Composer path repository) is mirrored
	// from their common ancestor.
	outside := filepath.Join(filepath.Dir(root), filepath.Base(root)+"-packages", "theme")
	writeTestFile(t, outside, "web/tailwind/package.json", "{}")
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(outside)) })
	work2 := t.TempDir()
	dir, _, err = mirrorTheme(work2, root, outside, filepath.Join(outside, "web/css/styles.css"))
	if err != nil {
		t.Fatal(err)
	}
	if rel, _ := filepath.Rel(work2, dir); rel != filepath.Join(filepath.Base(root)+"-packages", "theme") {
		t.Errorf("outside the root: copy at %s", rel)
	}
	if _, err := os.Stat(filepath.Join(dir, "../..", filepath.Base(root), "app/etc/hyva-themes.json")); err != nil {
		t.Errorf("outside the root: the root through the copy: %v", err)
	}
}

// TestLineLog: lines of both streams logged with the prefix, colours
// removed, a last line without newline flushed, the tail kept.
func TestLineLog(t *testing.T) {
	var logged []string
	l := &lineLog{log: func(msg string, _ ...any) { logged = append(logged, msg) }, prefix: "tailwind A/b: "}
	l.Write([]byte("one\n\x1b[31mtw"))
	l.Write([]byte("o\x1b[0m\r\n\n"))
	for range tailLines {
		l.Write([]byte("more\n"))
	}
	l.Write([]byte("last"))
	l.flush()
	if len(logged) != tailLines+3 || logged[0] != "tailwind A/b: one" || logged[1] != "tailwind A/b: two" || logged[len(logged)-1] != "tailwind A/b: last" {
		t.Errorf("logged %q", logged)
	}
	tail := l.tail()
	if !strings.HasPrefix(tail, "; its last lines:\n    | more\n") || !strings.HasSuffix(tail, "\n    | last") || strings.Count(tail, "\n") != tailLines {
		t.Errorf("tail %q", tail)
	}
}

// TestTailwindDigest: the digest follows the templates and configuration
// of the inputs, not node_modules nor the stylesheet the build writes.
func TestTailwindDigest(t *testing.T) {
	root := t.TempDir()
	theme := filepath.Join(root, "app/design/frontend/Acme/hyva")
	writeTestFile(t, theme, "Magento_Theme/templates/a.phtml", `<p class="p-4">`)
	writeTestFile(t, theme, "web/tailwind/package.json", "{}")
	writeTestFile(t, theme, "web/css/styles.css", "stale")
	writeTestFile(t, root, "app/code/Acme/Hello/view/frontend/templates/b.phtml", `<p class="m-2">`)
	tw := &sl.TailwindTheme{Theme: &matrix.Theme{Name: "Acme/hyva", Path: theme}, Dir: filepath.Join(theme, "web/tailwind"),
		Output: filepath.Join(theme, "web/css/styles.css"), Root: root,
		Inputs: []string{theme, filepath.Join(root, "app/code/Acme/Hello")}}
	digest := func() string {
		t.Helper()
		d, _, err := tailwindDigest(tw)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d0 := digest()
	writeTestFile(t, theme, "web/css/styles.css", "built")
	writeTestFile(t, theme, "web/tailwind/node_modules/tailwindcss/index.js", "x")
	if d := digest(); d != d0 {
		t.Error("the digest changed with web/css/styles.css or node_modules")
	}
	writeTestFile(t, root, "app/code/Acme/Hello/view/frontend/templates/b.phtml", `<p class="m-3">`)
	d1 := digest()
	if d1 == d0 {
		t.Error("the digest did not change with a module's template")
	}
	writeTestFile(t, theme, "Magento_Theme/templates/c.phtml", "")
	d2 := digest()
	if d2 == d1 {
		t.Error("the digest did not change with a new template")
	}
	// The same tree elsewhere (a CI cache restored in another directory):
	// the same digest, paths being the root's.
	moved := filepath.Join(t.TempDir(), "root")
	if err := os.Rename(root, moved); err != nil {
		t.Fatal(err)
	}
	re := func(p string) string { return filepath.Join(moved, strings.TrimPrefix(p, root)) }
	tw.Dir, tw.Output, tw.Root, tw.Theme.Path = re(tw.Dir), re(tw.Output), moved, re(theme)
	tw.Inputs = []string{re(tw.Inputs[0]), re(tw.Inputs[1])}
	if d := digest(); d != d2 {
		t.Error("the digest changed with the root's place")
	}
}

// hyvaProject copies fixtures/hyva into a temporary directory.
func hyvaProject(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := fixtures.CopyDir(fixtures.Dir("hyva"), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// buildHyva builds the themes of the project at root, in every locale.
func buildHyva(t *testing.T, root string, opts Options, themes ...string) (string, error) {
	t.Helper()
	m, err := sl.LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := matrix.Parse("themes.yml", root, []byte("magento_root: .\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	jobs, err := cfg.Jobs(matrix.Filter{Themes: themes})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "pub", "static")
	opts.Config, opts.Jobs, opts.Layout, opts.Output, opts.WorkDir = cfg, jobs, m, out, root
	opts.Threads = 2
	_, err = Build(context.Background(), opts)
	return out, err
}

func needNpm(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("SKIPPED: %s is not on PATH; a Hyvä theme's stylesheet is built with node and npm", bin)
		}
	}
}

// TestTailwindChildThemes: a child theme without web/tailwind/ publishes
// its parent's built stylesheet (one build for both), one with its own
// web/css/styles.css publishes that; both have no LESS.
func TestTailwindChildThemes(t *testing.T) {
	needNpm(t)
	root := hyvaProject(t)
	runs := filepath.Join(t.TempDir(), "runs.log")
	t.Setenv("SCD_TEST_TAILWIND_LOG", runs)
	writeTestFile(t, root, "app/design/frontend/Acme/child/theme.xml", "<theme><title>Child</title><parent>Acme/hyva</parent></theme>")
	writeTestFile(t, root, "app/design/frontend/Acme/child/Magento_Theme/templates/x.phtml", `<p class="p-9">`)
	writeTestFile(t, root, "app/design/frontend/Acme/own/theme.xml", "<theme><title>Own</title><parent>Acme/hyva</parent></theme>")
	writeTestFile(t, root, "app/design/frontend/Acme/own/web/css/styles.css", ".own { color: red; }\n")
	out, err := buildHyva(t, root, Options{CacheDir: filepath.Join(root, ".scd-cache")}, "Acme/hyva", "Acme/child", "Acme/own")
	if err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, runs); got != "ci Acme/hyva\nbuild Acme/hyva\n" {
		t.Errorf("runs:\n%s", got)
	}
	parent := readTestFile(t, filepath.Join(out, "frontend/Acme/hyva/fr_FR/css/styles.css"))
	if !strings.Contains(parent, ".p-4{padding:1rem}") || strings.Contains(parent, "p-9") {
		t.Errorf("Acme/hyva's stylesheet: %s", parent)
	}
	if got := readTestFile(t, filepath.Join(out, "frontend/Acme/child/de_DE/css/styles.css")); got != parent {
		t.Errorf("Acme/child's stylesheet: %s", got)
	}
	if got := readTestFile(t, filepath.Join(out, "frontend/Acme/own/en_US/css/styles.css")); got != ".own{color:red}" {
		t.Errorf("Acme/own's stylesheet: %s", got)
	}
	for _, p := range []string{"frontend/Acme/child/en_US/mage/gallery/gallery.css", "frontend/Acme/own/en_US/mage/gallery/gallery.css",
		"frontend/Acme/own/en_US/tailwind/package.json"} {
		if _, err := os.Stat(filepath.Join(out, p)); err == nil {
			t.Errorf("%s is published", p)
		}
	}
}

// TestTailwindWithoutNpm: without npm on PATH a Hyvä theme's build is a
// configuration error naming the theme; --no-tailwind needs no npm.
func TestTailwindWithoutNpm(t *testing.T) {
	root := hyvaProject(t)
	t.Setenv("PATH", t.TempDir())
	_, err := buildHyva(t, root, Options{}, "Acme/hyva")
	var de *diag.Error
	if !errors.As(err, &de) || de.Kind != diag.Config || !strings.Contains(de.Msg, "tailwind Acme/hyva: npm is not on PATH") ||
		!strings.HasPrefix(de.Scope, "frontend/Acme/hyva/") {
		t.Fatalf("err = %#v, want a configuration error naming Acme/hyva", err)
	}
	out, err := buildHyva(t, root, Options{NoTailwind: true}, "Acme/hyva")
	if err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, filepath.Join(out, "frontend/Acme/hyva/en_US/css/styles.css")); got != ".stale-build{color:red}" {
		t.Errorf("--no-tailwind: %s", got)
	}
}

// TestTailwindLockfile: without a lockfile, a project without dependencies
// builds (nothing to install); one with dependencies is an error that says
// what to do.
func TestTailwindLockfile(t *testing.T) {
	needNpm(t)
	root := hyvaProject(t)
	runs := filepath.Join(t.TempDir(), "runs.log")
	t.Setenv("SCD_TEST_TAILWIND_LOG", runs)
	tw := filepath.Join(root, "app/design/frontend/Acme/hyva/web/tailwind")
	if err := os.Remove(filepath.Join(tw, "package-lock.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := buildHyva(t, root, Options{}, "Acme/hyva"); err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, runs); got != "build Acme/hyva\n" {
		t.Errorf("runs:\n%s", got)
	}
	pkg := strings.Replace(readTestFile(t, filepath.Join(tw, "package.json")), `"private": true,`,
		`"private": true, "devDependencies": {"tailwindcss": "^4.1.17"},`, 1)
	writeTestFile(t, tw, "package.json", pkg)
	_, err := buildHyva(t, root, Options{}, "Acme/hyva")
	if err == nil || !strings.Contains(err.Error(), "package.json: tailwind Acme/hyva: no package-lock.json beside package.json") {
		t.Fatalf("err = %v", err)
	}
}
