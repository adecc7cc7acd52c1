package builder_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
)

const sampleDir = "../fixtures/sample"

// copySample copies the bundled sample into a temporary directory, so that a
// test may break it.
func copySample(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "sample")
	if err := fixtures.CopySample(dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// buildSample builds the matrix in dir into out.
func buildSample(t *testing.T, dir, out string, threads int) (*builder.Result, error) {
	t.Helper()
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		return nil, err
	}
	jobs, err := cfg.Jobs(matrix.Filter{})
	if err != nil {
		return nil, err
	}
	return builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: threads, WorkDir: dir})
}

func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required under CI to run the built JavaScript")
		}
		t.Skip("SKIPPED: node is not on PATH; the built JavaScript cannot be run")
	}
	return node
}

type expectedJob struct {
	Job     string            `json:"job"`
	Fixture map[string]string `json:"fixture"`
	JS      map[string][]string
	CSS     map[string]struct {
		Contains []string `json:"contains"`
		Excludes []string `json:"excludes"`
	} `json:"css"`
	HTML map[string]struct {
		Texts  []string `json:"texts"`
		Assets []string `json:"assets"`
	} `json:"html"`
	JSTranslation map[string]string `json:"js_translation"`
	Missing       []string          `json:"missing"`
}

func TestSampleBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "static")
	res, err := buildSample(t, sampleDir, out, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, out)

	var exp struct{ Jobs []expectedJob }
	data, err := os.ReadFile(filepath.Join(sampleDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Jobs) != len(res.Jobs) {
		t.Fatalf("built %d jobs, expected.json lists %d", len(res.Jobs), len(exp.Jobs))
	}
	node := needNode(t)
	for _, e := range exp.Jobs {
		t.Run(e.Job, func(t *testing.T) {
			dir := filepath.Join(out, filepath.FromSlash(e.Job))
			m, err := manifest.ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Written as encoding/json writes the map: keys sorted.
			raw, err := os.ReadFile(filepath.Join(dir, manifest.ManifestFile))
			if err != nil {
				t.Fatal(err)
			}
			if canon, err := manifest.Marshal(m); err != nil || !bytes.Equal(raw, canon) {
				t.Errorf("manifest.json is not manifest.Marshal of itself (%v):\n%s", err, raw)
			}
			read := func(logical string) string {
				a, ok := m[logical]
				if !ok {
					t.Fatalf("%s is not in the manifest", logical)
				}
				b, err := os.ReadFile(filepath.Join(dir, a.File))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}

			// The entry bundle runs and yields the job's strings.
			entry := "js/app.js"
			if strings.HasPrefix(e.Job, "adminhtml/") {
				entry = "js/admin.js"
			}
			got := runFixture(t, node, filepath.Join(dir, m[entry].File))
			if !reflect.DeepEqual(got, e.Fixture) {
				t.Errorf("%s under node:\n got %v\nwant %v", entry, got, e.Fixture)
			}
			for file, texts := range e.JS {
				src := read(file)
				for _, s := range texts {
					if !strings.Contains(src, s) {
						t.Errorf("%s does not contain %q", file, s)
					}
				}
			}
			for file, c := range e.CSS {
				src := read(file)
				for _, s := range c.Contains {
					if !strings.Contains(src, s) {
						t.Errorf("%s does not contain %q", file, s)
					}
				}
				for _, s := range c.Excludes {
					if strings.Contains(src, s) {
						t.Errorf("%s contains %q", file, s)
					}
				}
			}
			for file, h := range e.HTML {
				src := read(file)
				for _, s := range h.Texts {
					if !strings.Contains(src, htmlEscape(s)) && !strings.Contains(src, s) {
						t.Errorf("%s does not contain %q", file, s)
					}
				}
				for _, a := range h.Assets {
					rel, _ := filepath.Rel(path.Dir(file), m[a].File)
					if !strings.Contains(src, `"`+filepath.ToSlash(rel)+`"`) {
						t.Errorf("%s does not reference %s as %s", file, a, rel)
					}
				}
			}
			var tr map[string]string
			if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, manifest.TranslationFile))), &tr); err != nil {
				t.Fatal(err)
			}
			if e.JSTranslation == nil {
				e.JSTranslation = map[string]string{}
			}
			if !reflect.DeepEqual(tr, e.JSTranslation) {
				t.Errorf("js-translation.json:\n got %v\nwant %v", tr, e.JSTranslation)
			}
			for _, j := range res.Jobs {
				if j.ID == e.Job && strings.Join(j.Missing, "|") != strings.Join(e.Missing, "|") {
					t.Errorf("missing translations: got %q, want %q", j.Missing, e.Missing)
				}
			}
		})
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runFixture runs a built bundle under node and returns the
// globalThis.__scdFixture it sets.
func runFixture(t *testing.T, node, file string) map[string]string {
	t.Helper()
	script := `require(process.argv[1]); process.stdout.write(JSON.stringify(globalThis.__scdFixture))`
	out, err := exec.Command(node, "-e", script, file).CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", file, err, out)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node %s printed %q: %v", file, out, err)
	}
	return got
}

var (
	htmlRef = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	cssRef  = regexp.MustCompile(`url\(\s*["']?([^"')]+)["']?\s*\)`)
)

// checkTree makes the checks a user would make of an output tree: build.json
// matches the files, every manifest entry exists with its digest, every
// sidecar decompresses to its original, and every reference in HTML and CSS
// points at a published file.
func checkTree(t *testing.T, out string) {
	t.Helper()
	bm, err := manifest.ReadBuild(out)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return nil
	})
	var listed []string
	for p := range bm.Files {
		listed = append(listed, p)
	}
	listed = append(listed, manifest.BuildFile)
	sort.Strings(listed)
	sort.Strings(onDisk)
	if !reflect.DeepEqual(listed, onDisk) {
		t.Fatalf("build.json lists %d files, the tree has %d", len(listed), len(onDisk))
	}
	for p, f := range bm.Files {
		data, err := os.ReadFile(filepath.Join(out, p))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Size {
			t.Errorf("%s does not match build.json", p)
		}
	}
	for _, j := range bm.Jobs {
		dir := filepath.Join(out, filepath.FromSlash(j.Dir))
		m, err := manifest.ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		for logical, a := range m {
			data, err := os.ReadFile(filepath.Join(dir, a.File))
			if err != nil {
				t.Errorf("%s: manifest names %s: %v", j.Dir, a.File, err)
				continue
			}
			sum := sha256.Sum256(data)
			if a.Integrity != "sha256-"+base64.StdEncoding.EncodeToString(sum[:]) || a.Size != int64(len(data)) {
				t.Errorf("%s: %s: integrity or size does not match the file", j.Dir, logical)
			}
			for _, enc := range a.Encodings {
				e, _ := precompress.ParseEncoding(enc)
				side, err := os.ReadFile(filepath.Join(dir, a.File+e.Ext()))
				if err != nil {
					t.Errorf("%s: %v", j.Dir, err)
					continue
				}
				plain, err := precompress.Decompress(e, side)
				if err != nil || !bytes.Equal(plain, data) {
					t.Errorf("%s: %s%s does not decompress to %s (%v)", j.Dir, a.File, e.Ext(), a.File, err)
				}
				if len(side) >= len(data) {
					t.Errorf("%s: %s%s is not smaller than the original", j.Dir, a.File, e.Ext())
				}
			}
			var refs [][]string
			switch path.Ext(a.File) {
			case ".html":
				refs = htmlRef.FindAllStringSubmatch(string(data), -1)
			case ".css":
				refs = cssRef.FindAllStringSubmatch(string(data), -1)
			}
			for _, r := range refs {
				u := r[1]
				if strings.Contains(u, ":") || strings.HasPrefix(u, "#") || strings.HasPrefix(u, "/") || strings.Contains(u, "{{") {
					continue
				}
				u, _, _ = strings.Cut(u, "?")
				u, _, _ = strings.Cut(u, "#")
				target := filepath.Join(dir, filepath.FromSlash(path.Dir(a.File)), filepath.FromSlash(u))
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s: %s references %s, which is not published", j.Dir, a.File, r[1])
				}
			}
		}
	}
}

// treeDigest digests every file's path and bytes.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel + "\x00"))
		h.Write(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestOutputGuards checks that a build never replaces a directory that is
// not a previous build, and that a second build of the same output fails
// instead of interleaving with the first.
func TestOutputGuards(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "home")
	if err := os.MkdirAll(precious, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(precious, "notes.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := buildSample(t, sampleDir, precious, 2)
	if err == nil || !strings.Contains(err.Error(), "holds no build.json") || diag.KindOf(err) != diag.Config {
		t.Fatalf("building into a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(precious, "notes.txt")); err != nil {
		t.Fatal("the foreign directory was touched")
	}

	out := filepath.Join(dir, "static")
	lock, err := os.OpenFile(filepath.Join(dir, ".static.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := buildSample(t, sampleDir, out, 2); !errors.Is(err, builder.ErrLocked) {
		t.Fatalf("a build while the output is locked: %v", err)
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if err := os.MkdirAll(filepath.Join(dir, ".static.tmp-123", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := buildSample(t, sampleDir, out, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".static.tmp-123")); !os.IsNotExist(err) {
		t.Error("a killed build's temporary directory was left in place")
	}
}

func TestDeterministic(t *testing.T) {
	base := t.TempDir()
	var digests []string
	for _, threads := range []int{1, 8, 8} {
		out := filepath.Join(base, "out")
		if _, err := buildSample(t, sampleDir, out, threads); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, treeDigest(t, out))
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("builds differ: %v", digests)
	}
}

// TestFailuresKeepPreviousOutput breaks the sample in the ways users do and
// checks the located message, the error kind, and that the previous output
// is exactly as it was with nothing left beside it.
func TestFailuresKeepPreviousOutput(t *testing.T) {
	base := "app/design/frontend/Acme/base/"
	shop := "app/design/frontend/Acme/shop/"
	cases := []struct {
		name  string
		file  string
		edit  func(string) string
		kind  diag.Kind
		match string // regexp over the error text
	}{
		{
			name:  "js syntax error",
			file:  shop + "web/js/cart.js",
			edit:  func(s string) string { return s + "\nexport const broken = {;\n" },
			kind:  diag.Build,
			match: `^frontend/Acme/shop/[a-z]{2}_[A-Z]{2}: app/design/frontend/Acme/shop/web/js/cart.js:\d+:24: Expected identifier but found ";"`,
		},
		{
			name:  "missing import",
			file:  base + "web/js/app.js",
			edit:  func(s string) string { return "import './nowhere.js';\n" + s },
			kind:  diag.Build,
			match: `^frontend/Acme/base/ar_SA: app/design/frontend/Acme/base/web/js/app.js:1:8: cannot resolve "./nowhere.js"`,
		},
		{
			name: "unknown asset",
			file: base + "web/template/minicart.html",
			edit: func(s string) string {
				return "<link rel=\"stylesheet\" href=\"{{asset \"css/nope.css\"}}\">\n" + s
			},
			kind:  diag.Build,
			match: `^frontend/Acme/[a-z]+/[a-z]{2}_[A-Z]{2}: app/design/frontend/Acme/base/web/template/minicart.html:1:30: \{\{asset "css/nope.css"\}\}: cannot find css/nope.css`,
		},
		{
			name:  "malformed csv line",
			file:  base + "i18n/fr_FR.csv",
			edit:  func(s string) string { return s + "\"Unclosed,Fermé\n" },
			kind:  diag.Build,
			match: `^frontend/Acme/base/fr_FR: app/design/frontend/Acme/base/i18n/fr_FR.csv:\d+:\d+: `,
		},
		{
			name:  "unknown css url",
			file:  base + "web/css/styles.css",
			edit:  func(s string) string { return s + "\n.x{background:url(../images/none.png)}\n" },
			kind:  diag.Build,
			match: `^frontend/Acme/base/ar_SA: app/design/frontend/Acme/base/web/css/styles.css:\d+:\d+: cannot find "../images/none.png"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copySample(t)
			out := filepath.Join(t.TempDir(), "static")
			if _, err := buildSample(t, dir, out, 2); err != nil {
				t.Fatal(err)
			}
			before := treeDigest(t, out)
			p := filepath.Join(dir, filepath.FromSlash(tc.file))
			if err := os.WriteFile(p, []byte(tc.edit(mustRead(t, p))), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := buildSample(t, dir, out, 2)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			if !regexp.MustCompile(tc.match).MatchString(err.Error()) {
				t.Errorf("error:\n%v\ndoes not match\n%s", err, tc.match)
			}
			if k := diag.KindOf(err); k != tc.kind {
				t.Errorf("kind %v, want %v", k, tc.kind)
			}
			var de *diag.Error
			if errors.As(diag.Flatten(err)[0], &de) && de.Source == "" {
				t.Errorf("error has no source line: %v", err)
			}
			if after := treeDigest(t, out); after != before {
				t.Error("the previous output changed")
			}
			entries, _ := os.ReadDir(filepath.Dir(out))
			for _, e := range entries {
				if e.Name() != "static" && e.Name() != ".static.lock" {
					t.Errorf("left beside the output: %s", e.Name())
				}
			}
		})
	}
}
