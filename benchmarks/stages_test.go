package benchmarks

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/tdewolff/minify/v2"
	mincss "github.com/tdewolff/minify/v2/css"
	minhtml "github.com/tdewolff/minify/v2/html"
	minjs "github.com/tdewolff/minify/v2/js"
	minsvg "github.com/tdewolff/minify/v2/svg"

	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/fixtures/gen"
)

// The stage benchmarks run each stage of the pipeline on the files of one
// generated theme (gen.DefaultSpec, one theme, 300 files of about 10 KB)
// and report MB/s over the bytes the stage reads.

var (
	stageOnce sync.Once
	stageRoot string // the generated corpus, removed by TestMain
	stageDir  string // its theme's web/ directory
	stageErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stageRoot != "" {
		os.RemoveAll(stageRoot)
	}
	os.Exit(code)
}

// stageCorpus returns the web/ directory of a generated theme, generated
// once per process.
func stageCorpus(b *testing.B) string {
	b.Helper()
	stageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scd-stages-")
		if err != nil {
			stageErr = err
			return
		}
		stageRoot = dir
		spec := gen.DefaultSpec
		spec.Themes, spec.Locales, spec.Files, spec.AvgSize = 1, 1, 300, 10000
		stageErr = gen.Generate(dir, spec)
		stageDir = filepath.Join(dir, "app/design/frontend/Acme/base/web")
	})
	if stageErr != nil {
		b.Fatal(stageErr)
	}
	return stageDir
}

// filesOf reads every file under dir whose name ends with ext.
func filesOf(b *testing.B, dir, ext string) ([][]byte, int64) {
	b.Helper()
	var out [][]byte
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ext) {
			return err
		}
		data, err := os.ReadFile(p)
		out = append(out, data)
		n += int64(len(data))
		return err
	})
	if err != nil || len(out) == 0 {
		b.Fatalf("no %s files in %s: %v", ext, dir, err)
	}
	return out, n
}

func BenchmarkStageMinify(b *testing.B) {
	m := minify.New()
	m.Add("js", &minjs.Minifier{})
	m.Add("css", &mincss.Minifier{})
	m.Add("html", &minhtml.Minifier{KeepDocumentTags: true, KeepEndTags: true, KeepQuotes: true, KeepDefaultAttrVals: true, TemplateDelims: [2]string{"{{", "}}"}})
	m.Add("svg", &minsvg.Minifier{})
	web := stageCorpus(b)
	for _, kind := range []string{"js", "css", "html", "svg"} {
		b.Run(kind, func(b *testing.B) {
			files, n := filesOf(b, web, "."+kind)
			b.SetBytes(n)
			for b.Loop() {
				for _, f := range files {
					if _, err := m.Bytes(kind, append([]byte(nil), f...)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

func BenchmarkStageBundle(b *testing.B) {
	web := stageCorpus(b)
	entries, _ := filepath.Glob(filepath.Join(web, "js", "*.js"))
	_, n := filesOf(b, web, ".js")
	lib := filepath.Join(stageRoot, "lib", "web")
	b.SetBytes(n) // all the theme's JS: the entries import most of it
	for b.Loop() {
		res := api.Build(api.BuildOptions{
			EntryPoints: entries, Bundle: true, Write: false, Outdir: "/out", NodePaths: []string{lib},
			MinifyWhitespace: true, MinifyIdentifiers: true, MinifySyntax: true, Format: api.FormatIIFE,
			LogLevel: api.LogLevelSilent,
		})
		if len(res.Errors) > 0 {
			b.Fatal(res.Errors[0].Text)
		}
	}
	b.ReportMetric(float64(len(entries))*float64(b.N)/b.Elapsed().Seconds(), "bundles/s")
}

func BenchmarkStageTranslate(b *testing.B) {
	files, n := filesOf(b, stageCorpus(b), ".js")
	var marked [][]byte
	for _, f := range files {
		if m, ok := i18n.MarkJS(f); ok {
			marked = append(marked, m)
		}
	}
	tr := func(p string) (string, bool) { return "«" + p + "»", true }
	b.Run("mark", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			for _, f := range files {
				i18n.MarkJS(f)
			}
		}
	})
	b.Run("substitute", func(b *testing.B) {
		var m int64
		for _, f := range marked {
			m += int64(len(f))
		}
		b.SetBytes(m)
		for b.Loop() {
			for _, f := range marked {
				i18n.TranslateJS(f, tr)
			}
		}
	})
}

func BenchmarkStageHash(b *testing.B) {
	files, n := filesOf(b, stageCorpus(b), "")
	b.SetBytes(n)
	for b.Loop() {
		for _, f := range files {
			sha256.Sum256(f)
		}
	}
}

func BenchmarkStageCompress(b *testing.B) {
	files, n := filesOf(b, stageCorpus(b), ".js")
	for _, e := range []precompress.Encoding{precompress.Gzip, precompress.Brotli, precompress.Zstd} {
		b.Run(string(e), func(b *testing.B) {
			o := precompress.Options{Encodings: []precompress.Encoding{e}}
			b.SetBytes(n)
			for b.Loop() {
				for _, f := range files {
					o.Compress(f)
				}
			}
		})
	}
}

// BenchmarkStageWrite creates one job directory of files and then a second
// one of hard links to them, as the builder does for a second locale.
func BenchmarkStageWrite(b *testing.B) {
	files, n := filesOf(b, stageCorpus(b), "")
	b.SetBytes(n)
	base := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		a, l := filepath.Join(base, fmt.Sprint("w", i)), filepath.Join(base, fmt.Sprint("l", i))
		os.Mkdir(a, 0o755)
		os.Mkdir(l, 0o755)
		for k, f := range files {
			p := filepath.Join(a, fmt.Sprint(k))
			if err := os.WriteFile(p, f, 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Link(p, filepath.Join(l, fmt.Sprint(k))); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(2*len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkStageLinkTree links every file of a built output into a new
// tree, its directories made first and not timed, on GOMAXPROCS
// goroutines: what a tree written whole from contents that already exist
// costs in system calls, the bound of a rebuild without a spare tree (the
// first after a cold build). The output is named by SCD_LINK_TREE, e.g.
//
//	SCD_LINK_TREE=/dev/shm/out go test -run '^$' -bench StageLinkTree ./benchmarks/
//
// and the new trees are made beside it (same file system).
func BenchmarkStageLinkTree(b *testing.B) {
	src := os.Getenv("SCD_LINK_TREE")
	if src == "" {
		b.Skip("SCD_LINK_TREE names no built output to link")
	}
	var dirs, files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			dirs = append(dirs, rel)
		} else {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)
	for b.Loop() {
		b.StopTimer()
		dst, err := os.MkdirTemp(filepath.Dir(src), ".scd-linktree-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dst) }) // (gone already unless the benchmark failed)
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(files) && errs[w] == nil; i += workers {
					errs[w] = os.Link(filepath.Join(src, files[i]), filepath.Join(dst, files[i]))
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(dst)
		b.StartTimer()
	}
	b.ReportMetric(float64(len(files)), "names")
}
