package s3

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scdtool/scd/fixtures/gen"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

// The re-publish measurements use a generated corpus rather than the small
// sample, so that "1% of the files" is a meaningful number: 2 themes (a
// parent and its child) × 3 locales × 300 source files each.
var (
	corpusOnce sync.Once
	corpusA    string // the build of the generated source
	corpusB    string // the build after 1% of the source files changed
	corpusInfo string
	corpusErr  error
)

// corpusBuilds generates the corpus, builds it with the real builder,
// changes 1% of its source files (text files only: a change appended to a
// JS, CSS or HTML file always survives minification, so every edit reaches
// the output) and builds it again. The two builds are shared by the tests
// and the benchmark of this file and removed by TestMain.
func corpusBuilds(t testing.TB) (a, b string) {
	t.Helper()
	corpusOnce.Do(func() {
		root, err := os.MkdirTemp("", "scd-s3-corpus-*")
		if err != nil {
			corpusErr = err
			return
		}
		corpusRoot = root
		src := filepath.Join(root, "src")
		spec := gen.DefaultSpec
		spec.Themes, spec.Locales, spec.Files = 2, 3, 300
		if corpusErr = gen.Generate(src, spec); corpusErr != nil {
			return
		}
		corpusA = filepath.Join(root, "a")
		if corpusErr = buildTree(src, corpusA); corpusErr != nil {
			return
		}
		var all, text []string
		corpusErr = filepath.WalkDir(filepath.Join(src, "app/design"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.Contains(filepath.ToSlash(p), "/web/") {
				return err
			}
			all = append(all, p)
			switch filepath.Ext(p) {
			case ".js", ".css", ".html":
				text = append(text, p)
			}
			return nil
		})
		if corpusErr != nil {
			return
		}
		slices.Sort(text)
		rng := rand.New(rand.NewPCG(3, 4))
		n := max(1, len(all)/100)
		for i, k := range rng.Perm(len(text))[:n] {
			p := text[k]
			var add string
			switch filepath.Ext(p) {
			case ".js":
				add = fmt.Sprintf("\nglobalThis.__scdRepublish%d = %d;\n", i, i)
			case ".css":
				add = fmt.Sprintf("\n.scd-republish-%d{color:#%06x}\n", i, i)
			case ".html":
				add = fmt.Sprintf("\n<p>scd republish %d</p>\n", i)
			}
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				corpusErr = err
				return
			}
			_, corpusErr = f.WriteString(add)
			f.Close()
			if corpusErr != nil {
				return
			}
		}
		corpusB = filepath.Join(root, "b")
		corpusErr = buildTree(src, corpusB)
		corpusInfo = fmt.Sprintf("%d of %d source files changed", n, len(all))
	})
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	return corpusA, corpusB
}

var corpusRoot string

// buildStats are the files of a build as Stage sees them.
type buildStats struct {
	files map[string]manifest.File // build.json included
	bytes int64
}

func statsOf(t testing.TB, dir string) buildStats {
	t.Helper()
	p, err := (&Target{cfg: Config{Workers: 4}, opt: publish.Options{}.WithDefaults()}).verify(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s := buildStats{files: map[string]manifest.File{manifest.BuildFile: p.buildFile}}
	for n, f := range p.build.Files {
		s.files[n] = f
	}
	for _, f := range s.files {
		s.bytes += f.Size
	}
	return s
}

// changedFiles counts the files of b that a has not under the same path
// with the same digest, and their bytes.
func changedFiles(a, b buildStats) (n int, bytes int64) {
	for p, f := range b.files {
		if a.files[p] != f {
			n++
			bytes += f.Size
		}
	}
	return n, bytes
}

// TestRepublish measures the PUTs of re-publishing (a) the same build and
// (b) a build in which 1% of the source files changed, against a release
// of the original build: only changed files (plus a few control objects)
// are uploaded; every unchanged file of the release directory is a
// server-side copy.
func TestRepublish(t *testing.T) {
	a, b := corpusBuilds(t)
	sa, sb := statsOf(t, a), statsOf(t, b)
	cnt := &counter{base: http.DefaultTransport}
	tg, _ := openTarget(t, func(c *Config) { c.Transport = cnt })
	ctx := context.Background()
	if _, err := tg.Stage(ctx, a); err != nil {
		t.Fatal(err)
	}
	first, _ := cnt.uploads("/")
	t.Logf("corpus: %s; build: %d files, %d bytes; first publish: %d uploads", corpusInfo, len(sa.files), sa.bytes, first)

	for _, c := range []struct {
		name string
		dir  string
		st   buildStats
	}{{"same build", a, sa}, {"1% of sources changed", b, sb}} {
		cnt.reset()
		if _, err := tg.Stage(ctx, c.dir); err != nil {
			t.Fatal(err)
		}
		changed, changedBytes := changedFiles(sa, c.st)
		up, upBytes := cnt.uploads("/static/")
		files, _ := cnt.uploads("/static/releases/")
		assets, _ := cnt.uploads("/static/assets/")
		copies := cnt.copied("/")
		t.Logf("%s: %d of %d files differ (%.2f%%, %d bytes); PUTs: %d uploads (%.2f%% of the files; %d asset files, %d release files, %d control objects), %d bytes (%.2f%%), %d server-side copies",
			c.name, changed, len(c.st.files), 100*float64(changed)/float64(len(c.st.files)), changedBytes,
			up, 100*float64(up)/float64(len(c.st.files)), assets, files-1, up-assets-files+1, upBytes, 100*float64(upBytes)/float64(c.st.bytes), copies)
		// Content: exactly the changed files (release.json is the one
		// release-directory object that is not a build file).
		if assets+files-1 != changed {
			t.Errorf("%s: %d files uploaded, want the %d changed ones", c.name, assets+files-1, changed)
		}
		// Control objects: index, release.json, history, assets.json
		// (when assets were uploaded). The lock is counted apart: it is
		// taken once and refreshed every StaleLock/4 while the upload
		// runs, so how often it is written depends on the machine's speed.
		locks, _ := cnt.uploads("/" + keyLock)
		if locks < 1 {
			t.Errorf("%s: the lock was never written", c.name)
		}
		if up-changed-locks > 4 {
			t.Errorf("%s: %d uploads beyond the changed files and the lock", c.name, up-changed-locks)
		}
	}
	// What the copies hold is what the build holds.
	if err := tg.Activate(ctx, mustNewest(t, tg)); err != nil {
		t.Fatal(err)
	}
	for p := range sb.files {
		if !strings.HasSuffix(p, "manifest.json") && !strings.HasSuffix(p, ".html") && p != manifest.BuildFile {
			continue
		}
		got, err := tg.Read(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(b, filepath.FromSlash(p)))
		if string(got) != string(want) {
			t.Fatalf("%s differs from the build", p)
		}
	}
}

func mustNewest(t testing.TB, tg *Target) string {
	t.Helper()
	rs, err := tg.Releases(context.Background())
	if err != nil || len(rs) == 0 {
		t.Fatal("no releases", err)
	}
	return rs[len(rs)-1].ID
}

// BenchmarkRepublish1PctS3 alternately stages the corpus build and the one
// with 1% of its sources changed, so that each staged build differs from
// the newest release in 1% of its sources, and reports per stage:
// uploaded-objects-% (PUTs with a body, control objects included, per file
// of the build), uploaded-bytes-% (request bodies, control objects
// included, per byte of the build), content-bytes-% (the build's files
// alone) and copies/op (server-side copies).
//
//	CI=true PATH=$PATH:/root/go/bin go test -run '^$' -bench BenchmarkRepublish1PctS3 -benchtime 4x ./publish/s3/
func BenchmarkRepublish1PctS3(b *testing.B) {
	a, bb := corpusBuilds(b)
	builds := []string{a, bb}
	stats := []buildStats{statsOf(b, a), statsOf(b, bb)}
	cnt := &counter{base: http.DefaultTransport}
	tg, _ := openTarget(b, func(c *Config) { c.Transport = cnt })
	ctx := context.Background()
	if _, err := tg.Stage(ctx, a); err != nil {
		b.Fatal(err)
	}
	var objects, copies, files, runs int
	var upBytes, contentBytes, total int64
	for i := 0; b.Loop(); i++ {
		runs++
		k := (i + 1) % 2
		cnt.reset()
		if _, err := tg.Stage(ctx, builds[k]); err != nil {
			b.Fatal(err)
		}
		n, by := cnt.uploads("/static/")
		objects += n
		upBytes += by
		copies += cnt.copied("/")
		_, cb := changedFiles(stats[1-k], stats[k])
		contentBytes += cb
		files += len(stats[k].files)
		total += stats[k].bytes
	}
	b.ReportMetric(100*float64(objects)/float64(files), "uploaded-objects-%")
	b.ReportMetric(100*float64(upBytes)/float64(total), "uploaded-bytes-%")
	b.ReportMetric(100*float64(contentBytes)/float64(total), "content-bytes-%")
	b.ReportMetric(float64(copies)/float64(runs), "copies/op")
	b.ReportMetric(float64(files)/float64(runs), "files/op")
}
