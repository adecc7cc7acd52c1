// Package benchmarks measures scd on generated corpora. Run with
//
//	go test -run '^$' -bench . -benchtime 3x ./benchmarks/
//
// Results and the commands behind them are kept in RESULTS.md.
package benchmarks

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures/gen"
	"github.com/scdtool/scd/matrix"
)

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// generate writes a corpus for spec into a temporary directory and
// rewrites its themes.yml with the given extra top-level lines.
func generate(b *testing.B, spec gen.Spec, extra ...string) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "corpus")
	if err := gen.Generate(dir, spec); err != nil {
		b.Fatal(err)
	}
	if len(extra) > 0 {
		p := filepath.Join(dir, "themes.yml")
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		data = append([]byte(strings.Join(extra, "\n")+"\n"), data...)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// build runs one cold build of the matrix in dir into a fresh output and
// returns its wall and CPU time.
func build(b *testing.B, dir string, threads int, filter matrix.Filter) (wall, cpu time.Duration) {
	b.Helper()
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := cfg.Jobs(filter)
	if err != nil {
		b.Fatal(err)
	}
	// SCD_BENCH_OUT puts the output on another file system (a tmpfs, to
	// leave out the cost of creating inodes on disk).
	base := os.Getenv("SCD_BENCH_OUT")
	if base == "" {
		base = b.TempDir()
	}
	work, err := os.MkdirTemp(base, "out-")
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(work, "out") // its lock file goes beside it, in work
	runtime.GC()
	c0, t0 := cpuTime(), time.Now()
	if _, err := builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: threads}); err != nil {
		b.Fatal(err)
	}
	wall, cpu = time.Since(t0), cpuTime()-c0
	b.StopTimer()
	os.RemoveAll(work)
	b.StartTimer()
	return wall, cpu
}

// BenchmarkPoolUtilization builds 3 themes × 4 locales at one thread per
// core and reports how busy the cores were: CPU time / (wall time × cores).
func BenchmarkPoolUtilization(b *testing.B) {
	spec := gen.DefaultSpec // 3 themes × 4 locales × 200 files
	dir := generate(b, spec)
	cores := runtime.NumCPU()
	var wall, cpu time.Duration
	for b.Loop() {
		w, c := build(b, dir, cores, matrix.Filter{})
		wall += w
		cpu += c
	}
	b.ReportMetric(cpu.Seconds()/(wall.Seconds()*float64(cores)), "utilization")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/op")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkLocaleScaling builds one theme for 1 and for 20 locales, in
// the same run, and reports the ratio of their CPU times. The theme's
// translatable strings sit in 5% of its source bytes: 3% in JS modules with
// $t() calls, 2% in templates with {{t}} helpers (13% of the templates).
func BenchmarkLocaleScaling(b *testing.B) {
	spec := gen.DefaultSpec
	spec.Themes, spec.Locales, spec.Files, spec.AvgSize = 1, 20, 300, 10000
	spec.TranslatableShare, spec.TranslatedTemplates = 0.03, 0.13
	for _, tc := range []struct{ name, strategy, compression string }{
		{"embedded", "embedded", ""},
		{"dictionary", "dictionary", ""},
		// Without sidecars: the build's own work, which is what is shared
		// between locales; a translated bundle must be compressed per locale.
		{"embedded/no-compression", "embedded", "compression: []"},
		{"dictionary/no-compression", "dictionary", "compression: []"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := generate(b, spec, "i18n_strategy: "+tc.strategy, tc.compression)
			var one, twenty time.Duration
			for b.Loop() {
				_, c1 := build(b, dir, runtime.NumCPU(), matrix.Filter{Languages: []string{"en_US"}})
				_, c20 := build(b, dir, runtime.NumCPU(), matrix.Filter{})
				one += c1
				twenty += c20
			}
			b.ReportMetric(one.Seconds()/float64(b.N), "cpu-s-1-locale")
			b.ReportMetric(twenty.Seconds()/float64(b.N), "cpu-s-20-locales")
			b.ReportMetric(twenty.Seconds()/one.Seconds(), "ratio-20/1")
		})
	}
}

// bigBundle writes a theme whose only published file is js/app.js, an
// entry importing n partial modules (about 5 KB each), and returns the
// matrix directory.
func bigBundle(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "bundle")
	web := filepath.Join(dir, "frontend/Acme/big/web/js")
	if err := os.MkdirAll(filepath.Join(web, "_lib"), 0o755); err != nil {
		b.Fatal(err)
	}
	var entry strings.Builder
	for i := range n {
		var m strings.Builder
		if i > 0 {
			fmt.Fprintf(&m, "import { helper%d } from './m%03d.js';\n", i-1, i-1)
		}
		fmt.Fprintf(&m, "export class Widget%d {\n  constructor(element, options) {\n    this.element = element;\n    this.options = Object.assign({}, Widget%d.defaults, options);\n    this.state = { open: false, items: [], count: %d };\n  }\n", i, i, i)
		for k := range 12 {
			fmt.Fprintf(&m, "  method%d(value, index) {\n    const label = 'widget-%d-method-%d';\n    if (value == null || index < 0) {\n      return this.state.items.filter(function (item) { return item.id !== index; });\n    }\n    this.state.count += index * %d;\n    return { label: label, value: String(value).trim().toLowerCase(), count: this.state.count };\n  }\n", k, i, k, k+1)
		}
		fmt.Fprintf(&m, "}\nWidget%d.defaults = { selector: '.widget-%d', delay: %d, animate: true, title: 'Widget number %d' };\n", i, i, i*10, i)
		fmt.Fprintf(&m, "export function helper%d(x) { return new Widget%d(x, { delay: x.length }).method0(x, %d); }\n", i, i, i)
		if i > 0 {
			fmt.Fprintf(&m, "export const chained%d = (y) => helper%d(y);\n", i, i-1)
		}
		if err := os.WriteFile(filepath.Join(web, "_lib", fmt.Sprintf("m%03d.js", i)), []byte(m.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&entry, "import { helper%d } from './_lib/m%03d.js';\n", i, i)
	}
	entry.WriteString("globalThis.widgets = [")
	for i := range n {
		fmt.Fprintf(&entry, "helper%d, ", i)
	}
	entry.WriteString("];\n")
	if err := os.WriteFile(filepath.Join(web, "app.js"), []byte(entry.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	yml := "compression: []\nthemes:\n  - name: Acme/big\n"
	if err := os.WriteFile(filepath.Join(dir, "themes.yml"), []byte(yml), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkBundleOverhead compares scd building a job that is one large
// bundle with calling esbuild's API directly on the same files, with the
// same minification, writing the result.
func BenchmarkBundleOverhead(b *testing.B) {
	dir := bigBundle(b, 300)
	entry := filepath.Join(dir, "frontend/Acme/big/web/js/app.js")
	var scd, direct time.Duration
	for b.Loop() {
		w, _ := build(b, dir, 1, matrix.Filter{})
		scd += w
		out := b.TempDir()
		t0 := time.Now()
		res := api.Build(api.BuildOptions{
			EntryPoints: []string{entry}, Bundle: true, Write: true, Outdir: out,
			MinifyWhitespace: true, MinifyIdentifiers: true, MinifySyntax: true,
			LegalComments: api.LegalCommentsNone, Charset: api.CharsetUTF8, Format: api.FormatIIFE,
			LogLevel: api.LogLevelSilent,
		})
		direct += time.Since(t0)
		if len(res.Errors) > 0 {
			b.Fatal(res.Errors[0].Text)
		}
	}
	b.ReportMetric(scd.Seconds()/float64(b.N), "scd-s/op")
	b.ReportMetric(direct.Seconds()/float64(b.N), "esbuild-s/op")
	b.ReportMetric(scd.Seconds()/direct.Seconds(), "ratio")
}

// BenchmarkIncremental measures rebuilds with the persistent cache on a
// generated corpus (3 themes × 4 locales × 300 files): a cold build (empty
// cache, no previous output), a rebuild with nothing changed, and a
// rebuild after one JS module of the root theme changed (a module that
// bundles import, so the bundles of every theme and locale, the templates
// that point at them, translations and sidecars are all affected), then
// after a second change of the same module. It reports
// each rebuild's wall time as a share of the cold build's; the targets
// are 5% and 15%. The first rebuild after a cold build has no spare tree
// to update (see the builder's package documentation) and writes a whole
// tree (first-change); every later one updates the spare tree
// (one-change), which is the case of an edit-and-rebuild loop.
//
// That module is the worst single file to change: every job's bundles
// take it in. The other edits of the loop change one file of another
// kind each, rebuilt one after the other (each rebuild sees exactly one
// changed file): a template of the root theme (template-change), a
// stylesheet partial the root theme's CSS entries import
// (stylesheet-change), one translation in one locale's dictionary
// of the root theme (phrase-change), and an override of that template
// added to a child theme (override-change; removed again before the next
// round).
func BenchmarkIncremental(b *testing.B) {
	spec := gen.DefaultSpec
	spec.Files = 300
	dir := generate(b, spec)
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := cfg.Jobs(matrix.Filter{})
	if err != nil {
		b.Fatal(err)
	}
	mods, _ := filepath.Glob(filepath.Join(dir, "app/design/frontend/*/*/web/js/*/*.js"))
	if len(mods) == 0 {
		b.Fatal("no JS module in the corpus")
	}
	changed := mods[0]
	orig, err := os.ReadFile(changed)
	if err != nil {
		b.Fatal(err)
	}
	kinds := []*changeKind{
		{name: "template", glob: "web/template/*/*.html", edit: func(src []byte, n string) []byte {
			return fmt.Appendf(slices.Clip(src), "\n<p>%s</p>\n", n)
		}},
		{name: "stylesheet", glob: "web/css/source/_*.css", edit: func(src []byte, n string) []byte {
			return fmt.Appendf(slices.Clip(src), "\n.%s{color:red}\n", strings.Join(strings.Fields(n), "-"))
		}},
		{name: "phrase", glob: "i18n/fr_FR.csv", edit: func(src []byte, n string) []byte {
			// The first row's translation (its last field) gets a suffix.
			line, rest, _ := strings.Cut(string(src), "\n")
			if q, ok := strings.CutSuffix(line, "\""); ok {
				line = q + " " + n + "\""
			} else {
				line += " " + n
			}
			return []byte(line + "\n" + rest)
		}},
	}
	theme := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(changed)))) // <theme>/web/js/<dir>/<module>
	for _, k := range kinds {
		k.load(b, theme)
	}
	// The override: the template above, added to a child theme (a theme
	// of the same vendor; the corpus groups a root with its children).
	siblings, _ := filepath.Glob(filepath.Join(filepath.Dir(theme), "*"))
	child := ""
	for _, d := range siblings {
		if d != theme {
			child = d
			break
		}
	}
	if child == "" {
		b.Fatal("no child theme in the corpus")
	}
	tpl, _ := filepath.Rel(theme, kinds[0].file)
	tplSrc := kinds[0].orig
	kinds = append(kinds, &changeKind{name: "override", file: filepath.Join(child, tpl), added: true,
		edit: func(_ []byte, n string) []byte { return fmt.Appendf(slices.Clip(tplSrc), "\n<p>override %s</p>\n", n) }})
	// Sources older than the stat cache's racy window, as in real use.
	old := time.Now().Add(-time.Minute)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	base := os.Getenv("SCD_BENCH_OUT")
	if base == "" {
		base = b.TempDir()
	}
	// work sums, per kind of build, the time of its own work: the stages
	// that compile, translate, render and compress (task time over the
	// threads, the least wall time that work takes on them). What a
	// rebuild takes beyond it is bookkeeping.
	work := map[string]time.Duration{}
	run := func(out, cache, kind string) time.Duration {
		runtime.GC()
		t0 := time.Now()
		res, err := builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out,
			Threads: runtime.NumCPU(), CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		var w time.Duration
		for _, st := range []string{builder.StageBundle, builder.StageMinify, builder.StageAssemble, builder.StageCompress, builder.StageLess} {
			w += res.Stages[st]
		}
		work[kind] += w / time.Duration(runtime.NumCPU())
		return d
	}
	var cold, noop, first, one time.Duration
	i := 0
	for b.Loop() {
		i++
		work, err := os.MkdirTemp(base, "inc-")
		if err != nil {
			b.Fatal(err)
		}
		out, cache := filepath.Join(work, "out"), filepath.Join(work, "cache")
		if err := os.WriteFile(changed, orig, 0o644); err != nil {
			b.Fatal(err)
		}
		os.Chtimes(changed, old, old)
		for _, k := range kinds {
			k.restore(b, old)
		}
		cold += run(out, cache, "cold")
		noop += run(out, cache, "noop")
		for k, d := range []*time.Duration{&first, &one} {
			kind := []string{"first-change", "one-change"}[k]
			// A statement with an effect: it survives tree shaking, so
			// every bundle that imports the module changes (an unused
			// export would leave the output as it was).
			edit := append(slices.Clip(orig), fmt.Sprintf("\nconsole.log(%q);\n", fmt.Sprintf("bench change %d.%d", i, k))...)
			if err := os.WriteFile(changed, edit, 0o644); err != nil {
				b.Fatal(err)
			}
			*d += run(out, cache, kind)
		}
		for _, k := range kinds {
			if k.added {
				if err := os.MkdirAll(filepath.Dir(k.file), 0o755); err != nil {
					b.Fatal(err)
				}
			}
			if err := os.WriteFile(k.file, k.edit(k.orig, fmt.Sprintf("bench change %d", i)), 0o644); err != nil {
				b.Fatal(err)
			}
			k.took += run(out, cache, k.name+"-change")
			// The same file edited again: the spare tree then has only
			// this kind's own change to catch up with, where the first
			// edit also catches up with the kind before it.
			if err := os.WriteFile(k.file, k.edit(k.orig, fmt.Sprintf("bench change %d again", i)), 0o644); err != nil {
				b.Fatal(err)
			}
			k.again += run(out, cache, k.name+"-again")
		}
		b.StopTimer()
		os.RemoveAll(work)
		b.StartTimer()
	}
	os.WriteFile(changed, orig, 0o644)
	for _, k := range kinds {
		k.restore(b, old)
	}
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()/n, "cold-s/op")
	b.ReportMetric(noop.Seconds()/n, "noop-s/op")
	b.ReportMetric(first.Seconds()/n, "first-change-s/op")
	b.ReportMetric(one.Seconds()/n, "one-change-s/op")
	b.ReportMetric(noop.Seconds()/cold.Seconds(), "noop/cold")
	b.ReportMetric(first.Seconds()/cold.Seconds(), "first-change/cold")
	b.ReportMetric(one.Seconds()/cold.Seconds(), "one-change/cold")
	for _, k := range kinds {
		b.ReportMetric(k.took.Seconds()/cold.Seconds(), k.name+"-change/cold")
		b.ReportMetric(k.again.Seconds()/cold.Seconds(), k.name+"-again/cold")
	}
	// The change's own work, against the same cold build: the share of
	// each ratio above that is not bookkeeping.
	for kind, w := range work {
		if kind != "cold" && kind != "noop" {
			b.ReportMetric(w.Seconds()/cold.Seconds(), kind+"-work/cold")
		}
	}
}

// changeKind is an edit of one file of a kind, for BenchmarkIncremental.
type changeKind struct {
	name string
	glob string // under the theme directory; the first match is edited
	edit func(src []byte, n string) []byte

	file  string
	orig  []byte
	added bool          // file is created by the edit, removed by restore
	took  time.Duration // the first edit's rebuilds
	again time.Duration // the second edit's, right after the first
}

func (k *changeKind) load(b *testing.B, theme string) {
	m, _ := filepath.Glob(filepath.Join(theme, filepath.FromSlash(k.glob)))
	if len(m) == 0 {
		b.Fatalf("no %s in %s", k.glob, theme)
	}
	k.file = m[0]
	var err error
	if k.orig, err = os.ReadFile(k.file); err != nil {
		b.Fatal(err)
	}
}

func (k *changeKind) restore(b *testing.B, mtime time.Time) {
	if k.added {
		if err := os.Remove(k.file); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(k.file, k.orig, 0o644); err != nil {
		b.Fatal(err)
	}
	os.Chtimes(k.file, mtime, mtime)
}
