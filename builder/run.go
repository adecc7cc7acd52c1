package builder

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/builder/less"
	"github.com/scdtool/scd/builder/requirejs"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/matrix"
)

// job is the builder's state for one matrix job.
type job struct {
	matrix.Job
	id   string
	fs   *fileset
	dict *i18n.Dictionary // set by parseDictionaries
	// dictFiles are the job's dictionaries in merge order.
	dictFiles []string
	entries   []string           // logical paths of the entries it bundles
	leaves    []jobLeaf          // files it publishes on their own
	private   map[string]*bundle // entry → the job's own bundle, when it needs one
	// lessRoots are the LESS roots the job compiles; styles[i] is the
	// stylesheet of lessRoots[i], set by its task.
	lessRoots []string
	styles    []*styleOut
	// sheets are the job's other built stylesheets (a Tailwind build's).
	sheets   []sheet
	outputs  []output // filled by assemble, sorted by logical path
	manifest *blob    // manifest.json, made before writing
	missing  []string // phrases without translation
	dur      time.Duration
	nested   time.Duration // per-job bundles run by assemble
	mu       sync.Mutex    // guards dur
}

type jobLeaf struct {
	logical string
	leaf    *leafOnce
}

// output is one published file of a job.
type output struct {
	logical string
	name    string // relative to the job directory
	blob    *blob
}

func (j *job) addTime(d time.Duration) {
	j.mu.Lock()
	j.dur += d
	j.mu.Unlock()
}

// themeState is what the jobs of one theme share.
type themeState struct {
	theme *matrix.Theme
	chain []*matrix.Theme
	base  *fileset
	jobs  []*job
	// bundles holds the theme's base bundle of each entry.
	bundles map[string]*bundle
	// styles is the theme's LESS state, nil when the layout has no LESS.
	styles *styleState
	// requirejs lists the theme's requirejs-config.js inputs (read at
	// plan time); rjsBlob is their merge, published by every job.
	requirejs []requirejs.File
	rjsData   [][]byte
	rjsBlob   *blob
}

// run is the pipeline (see the package documentation): plan, with the
// cache's up-to-date check; compile; assemble; store. Each stage ends when
// its tasks have, and a failure in any ends the build with the output as
// it was.
func (b *build) run() (_ *Result, err error) {
	if b.cache != nil {
		// Checking the previous output needs a walk of it, which does
		// not depend on the plan: the two run side by side.
		b.prevWalk = startOutputWalk(b.ctx, b.opts.Output)
		defer b.prevWalk.stop()
	}
	jobs, themes, upToDate, err := b.planStage()
	if err != nil || upToDate != nil {
		return upToDate, err
	}
	if b.cache != nil {
		succeeded := false
		defer func() { b.savePack(succeeded) }()
		defer func() { succeeded = err == nil }()
	}
	if err := b.compileStage(jobs, themes); err != nil {
		return nil, err
	}
	if err := b.assembleStage(jobs, themes); err != nil {
		return nil, err
	}
	return b.storeStage(jobs, themes)
}

// planStage plans every job (plan); with the cache, it then checks the
// previous output and returns its result when it is up to date. Last, the
// dictionaries are parsed.
func (b *build) planStage() ([]*job, map[string]*themeState, *Result, error) {
	b.setStage("plan")
	jobs, themes, err := b.plan()
	if err != nil {
		return nil, nil, nil, err
	}
	b.phase("plan")
	if b.cache != nil {
		// Hashing the sources and checking the previous output (reading
		// it back when it changed) run before there are tasks to count.
		b.setStage("cache")
		res, err := b.prepareIncremental()
		b.phase("cache check")
		if b.ctx.Err() != nil {
			return nil, nil, nil, b.failed()
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if res != nil {
			res.Output, res.PreviousOutput = b.opts.Output, b.prevUse
			return nil, nil, res, nil
		}
		b.memoNew = map[string]memoRec{}
	}
	if err := b.parseDictionaries(jobs); err != nil {
		return nil, nil, nil, err
	}
	return jobs, themes, nil, nil
}

// compileStage makes everything that does not depend on the job's locale
// but through its overrides: the bundles (base bundles, parents before
// children so that a child whose overrides do not touch an entry's inputs
// reuses the parent's; those the last build made for a child itself start
// in the first round, see planOwnBundles), the stylesheets (LESS,
// Tailwind), the leaves of every job and the requirejs configurations.
// Final contents go to the store as they are made.
func (b *build) compileStage(jobs []*job, themes map[string]*themeState) error {
	b.compressGroup = b.pool.NewGroupContext(b.ctx)
	spill, err := os.MkdirTemp(filepath.Dir(b.opts.Output), "."+filepath.Base(b.opts.Output)+".tmp-blobs-")
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	b.store.spillDir = spill // removed by Build once the pool has stopped

	b.setStage("bundle")
	leavesGroup := b.pool.NewGroupContext(b.ctx)
	byDepth := map[int][]*themeState{}
	maxDepth := 0
	for _, key := range slices.Sorted(maps.Keys(themes)) {
		ts := themes[key]
		d := len(ts.chain) - 1
		byDepth[d] = append(byDepth[d], ts)
		maxDepth = max(maxDepth, d)
	}
	for depth := 0; depth <= maxDepth; depth++ {
		g := b.pool.NewGroupContext(b.ctx)
		for _, ts := range byDepth[depth] {
			b.planBundles(g, ts)
		}
		if depth == 0 {
			// Stylesheets first: a LESS compile is the longest task
			// of a Magento build.
			b.submitTailwind(leavesGroup, themes)
			b.submitStyles(leavesGroup, themes)
			b.submitLeaves(leavesGroup, jobs)
			b.submitRequireJS(leavesGroup, themes)
			for d := 1; d <= maxDepth; d++ {
				for _, ts := range byDepth[d] {
					b.planOwnBundles(g, ts)
				}
			}
		}
		if !b.wait(g) {
			return b.failed()
		}
	}
	b.submitPrivateBundles(leavesGroup, jobs, themes)
	b.phase("bundle")
	b.setStage("process")
	if !b.wait(leavesGroup) {
		return b.failed()
	}
	b.closeLess()
	b.phase("process")
	// Every bundle is built (but for one a job's assembly may find
	// missing, which gets a context of its own): what esbuild parsed can go.
	b.esbuild.close()
	b.log.Debug("bundles built on esbuild contexts", "runs", b.stats.bundles.Load(), "contexts", b.esbuild.contexts())
	return nil
}

// assembleStage makes each job's own files: translation, names, templates
// and stylesheets rewritten, js-translation.json (assemble.go).
func (b *build) assembleStage(jobs []*job, themes map[string]*themeState) error {
	b.setStage("assemble")
	g := b.pool.NewGroupContext(b.ctx)
	for _, j := range longestFirst(jobs) {
		b.task(g, j.id, func() {
			start := time.Now()
			err := b.assemble(j, themes[themeKey(j.Job)])
			j.addTime(time.Since(start))
			b.clock.ns[stAssemble].Add(int64(time.Since(start) - j.nested))
			b.fail(err)
		})
	}
	if !b.wait(g) {
		return b.failed()
	}
	if err := b.failed(); err != nil {
		return err
	}
	if b.opts.StrictI18n {
		var errs []error
		for _, j := range jobs {
			for _, ph := range j.missing {
				errs = append(errs, &diag.Error{Kind: diag.Build, Scope: j.id, Msg: fmt.Sprintf("no translation for %q (--strict-i18n)", ph)})
			}
		}
		if len(errs) > 0 {
			return joinSorted(errs)
		}
	}
	b.phase("assemble")
	if b.memoOn() {
		b.log.Debug("cache: per-job translations, renderings and stylesheet rewrites",
			"made", b.stats.rewrites.Load(), "taken from the previous output", b.stats.reused.Load())
	}
	return nil
}

// storeStage waits for the compression to finish, then writes the tree
// aside (write.go) and swaps it into place; with the cache, the tree the
// swap replaced is kept as the next build's spare tree (spare.go) and the
// build is recorded for the next one.
func (b *build) storeStage(jobs []*job, themes map[string]*themeState) (*Result, error) {
	b.setStage("compress")
	if !b.wait(b.compressGroup) {
		return nil, b.failed()
	}
	b.phase("compress")
	b.dropWork(jobs, themes)
	b.phase("save cache pack")
	b.setStage("write")
	keep := b.cache != nil
	tmp, spare, err := takeSpare(b.opts.Output, keep)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	defer releaseTemp(tmp, b.opts.Output, keep) // a no-op after the swap
	res, fp, err := b.write(tmp, spare, jobs)
	if err != nil {
		return nil, err
	}
	b.phase("write: fingerprint")
	if beforeSwap != nil {
		if err := beforeSwap(tmp); err != nil {
			return nil, err
		}
	}
	spareTo := ""
	if keep {
		spareTo = spareDir(b.opts.Output)
	}
	if err := swapInto(tmp, b.opts.Output, spareTo); err != nil {
		return nil, err
	}
	b.phase("swap")
	res.Output, res.PreviousOutput = b.opts.Output, b.prevUse
	res.Stages = b.clock.result()
	if b.cache != nil {
		b.saveState(res, fp)
		b.phase("save cache state")
	}
	return res, nil
}

func themeKey(j matrix.Job) string { return j.Area + "/" + j.Theme }

// dropWork lets go of what the write stage does not need once every job is
// assembled and compressed: sources, leaves and bundles, which on a large
// matrix are hundreds of megabytes. The cache's pack, which encodes
// leaves, is saved first.
func (b *build) dropWork(jobs []*job, themes map[string]*themeState) {
	b.savePack(true)
	b.srcMu.Lock()
	b.srcs = nil
	b.srcMu.Unlock()
	b.leafMu.Lock()
	b.leaves = nil
	b.leafMu.Unlock()
	b.bundleMu.Lock()
	b.bundles = nil
	b.bundleMu.Unlock()
	for _, j := range jobs {
		j.leaves, j.private = nil, nil
	}
	for _, ts := range themes {
		ts.bundles = nil
	}
}

// plan resolves every job's files and dictionaries. It runs before any
// work starts, so that a configuration problem costs nothing.
func (b *build) plan() ([]*job, map[string]*themeState, error) {
	sc := &scanner{layers: map[string]layer{}}
	b.scanner = sc
	themes := map[string]*themeState{}
	var jobs []*job
	for _, mj := range b.opts.Jobs {
		key := themeKey(mj)
		ts := themes[key]
		layers := b.layout.Layers(mj.Area, mj.Chain, mj.Locale)
		if ts == nil {
			base, err := sc.baseFileset(layers, mj.Chain[len(mj.Chain)-1].Path)
			if err != nil {
				return nil, nil, err
			}
			ts = &themeState{theme: mj.Chain[0], chain: mj.Chain, base: base, bundles: map[string]*bundle{}}
			themes[key] = ts
			if err := b.planRequireJS(ts, mj.Area); err != nil {
				return nil, nil, err
			}
			b.planTailwind(ts, mj.Area)
			b.planStyles(ts, mj.Area)
		}
		fs, err := sc.withLocale(ts.base, layers, mj.Locale)
		if err != nil {
			return nil, nil, err
		}
		j := &job{Job: mj, id: mj.ID(), fs: fs}
		ts.jobs = append(ts.jobs, j)
		jobs = append(jobs, j)

		// Dictionaries merge in the layout's order, the later winning: the
		// order is an input too (a project's module order may change).
		// They are read and digested here, parsed once the build knows
		// it has work to do (parseDictionaries).
		j.dictFiles = b.layout.Dictionaries(mj.Area, mj.Chain, mj.Locale)
		fmt.Fprintf(b.planSum, "%s %q\n", j.id, j.dictFiles)
		for _, file := range j.dictFiles {
			if _, seen := b.dictSums[file]; seen {
				continue
			}
			data, err := os.ReadFile(file)
			switch {
			case os.IsNotExist(err):
				b.dictSums[file] = "-"
			case err != nil:
				return nil, nil, err
			default:
				sum := sha256.Sum256(data)
				b.dictSums[file] = hex.EncodeToString(sum[:])
				b.dictData[file] = data
			}
		}

		paths := fs.paths()
		compiled := map[string]bool{} // LESS roots and the stylesheets they give
		if ts.styles != nil && !b.opts.Skip.CSS {
			j.lessRoots = less.Roots(paths)
			j.styles = make([]*styleOut, len(j.lessRoots))
			for _, r := range j.lessRoots {
				compiled[r], compiled[styleName(r)] = true, true
			}
		}
		for _, logical := range paths {
			if isPartial(logical) || logical == requireJSFile && len(ts.requirejs) > 0 || compiled[logical] ||
				ts.styles != nil && strings.HasSuffix(logical, ".less") {
				// The merged configuration or a compiled stylesheet takes
				// that name; LESS sources are compiled, not published.
				continue
			}
			k := kindOf(logical)
			entry := isEntry(logical, mj.Entries) && isBundleable(logical)
			if entry {
				if (kindOf(logical) == kindCSS && b.opts.Skip.CSS) || (kindOf(logical) != kindCSS && b.opts.Skip.JS) {
					continue
				}
				j.entries = append(j.entries, logical)
				continue
			}
			if b.opts.Skip.skips(k) {
				continue
			}
			src, _ := fs.lookup(logical)
			j.leaves = append(j.leaves, jobLeaf{logical, b.leafFor(src, logical, j.id)})
		}
	}
	return jobs, themes, nil
}

// parseDictionaries parses every dictionary the plan read, each once and
// on the pool, and gives each job the merge of its own, in its order. A
// file's warnings and errors are scoped to the first job that reads it.
func (b *build) parseDictionaries(jobs []*job) error {
	type parsed struct {
		owner    string
		dict     *i18n.Dictionary
		warnings []error
		err      error
	}
	files := map[string]*parsed{}
	var order []string
	for _, j := range jobs {
		for _, f := range j.dictFiles {
			if _, ok := files[f]; !ok && b.dictData[f] != nil {
				files[f] = &parsed{owner: j.id}
				order = append(order, f)
			}
		}
	}
	g := b.pool.NewGroupContext(b.ctx)
	for _, f := range order {
		p := files[f]
		g.Submit(func() {
			p.dict, p.warnings, p.err = i18n.ParseCSV(b.display(f), b.dictData[f], i18n.ParseOptions{})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	b.dictData = nil
	var errs []error
	for _, f := range order {
		p := files[f]
		for _, w := range p.warnings {
			b.warn(diag.Scoped(p.owner, w))
		}
		if p.err != nil {
			errs = append(errs, diag.Scoped(p.owner, p.err))
		}
	}
	if len(errs) > 0 {
		return joinSorted(errs)
	}
	merged := map[string]*i18n.Dictionary{} // by the list of files
	for _, j := range jobs {
		key := strings.Join(j.dictFiles, "\x00")
		if d, ok := merged[key]; ok {
			j.dict = d
			continue
		}
		parts := make([]*i18n.Dictionary, 0, len(j.dictFiles))
		for _, f := range j.dictFiles {
			if p := files[f]; p != nil {
				parts = append(parts, p.dict)
			}
		}
		j.dict = i18n.MergeAll(parts...)
		merged[key] = j.dict
	}
	return nil
}

// planRequireJS reads the theme's requirejs-config.js inputs, whose
// digests join the dictionaries' in the cache's view of the inputs.
func (b *build) planRequireJS(ts *themeState, area string) error {
	files := b.layout.RequireJS(area, ts.chain)
	fmt.Fprintf(b.planSum, "requirejs %s/%s %q\n", area, ts.theme.Name, files)
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		b.dictSums[f.Path] = hex.EncodeToString(sum[:])
		ts.requirejs = append(ts.requirejs, requirejs.File{Path: f.Path, Name: b.display(f.Path), Module: f.Module})
		ts.rjsData = append(ts.rjsData, data)
	}
	return nil
}

// submitRequireJS merges each theme's requirejs-config.js, once for all
// its locales.
func (b *build) submitRequireJS(g pond.TaskGroup, themes map[string]*themeState) {
	for _, key := range slices.Sorted(maps.Keys(themes)) {
		ts := themes[key]
		if len(ts.requirejs) == 0 || len(ts.jobs) == 0 || b.opts.Skip.JS {
			continue
		}
		b.task(g, "requirejs-config.js of "+key, func() {
			out, err := requirejs.MergeData(ts.requirejs, ts.rjsData)
			if err != nil {
				b.fail(diag.Scoped(ts.jobs[0].id, err))
				return
			}
			ts.rjsBlob = b.store.put(out, requireJSFile)
		})
	}
}

// requireJSFile is the logical name of a job's merged RequireJS
// configuration, where Magento's pages load it.
const requireJSFile = "requirejs-config.js"

// isBundleable reports whether esbuild can take the file as an entry.
func isBundleable(logical string) bool {
	switch strings.ToLower(path.Ext(logical)) {
	case ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".mts", ".css":
		return true
	}
	return false
}

// entryOutput is the logical name of an entry's bundle: TypeScript and JSX
// become .js.
func entryOutput(logical string) string {
	if kindOf(logical) == kindCSS || kindOf(logical) == kindJS {
		return logical
	}
	return strings.TrimSuffix(logical, path.Ext(logical)) + ".js"
}

// planBundles submits the base bundles of a theme: one per entry of its
// locale-independent file set, unless an ancestor's bundle resolves to the
// same files.
func (b *build) planBundles(g pond.TaskGroup, ts *themeState) {
	if len(ts.jobs) == 0 {
		return
	}
	owner := ts.jobs[0]
	for _, e := range themeEntries(ts) {
		if ts.bundles[e] != nil {
			continue // started early (planOwnBundles)
		}
		if bd := b.findBundle(e, ts.base); bd != nil {
			ts.bundles[e] = bd
			continue
		}
		b.startThemeBundle(g, ts, &bundle{entry: e, owner: owner.id, fs: ts.base})
	}
}

// startThemeBundle queues a theme's own (shared) bundle of an entry.
func (b *build) startThemeBundle(g pond.TaskGroup, ts *themeState, bd *bundle) {
	ts.bundles[bd.entry] = bd
	owner := ts.jobs[0]
	b.task(g, "bundle "+bd.entry+" of "+ts.theme.Area+"/"+ts.theme.Name, func() {
		b.runBundle(bd, owner, true)
	})
}

// themeEntries lists the entries of a theme's jobs that its own files
// provide, sorted.
func themeEntries(ts *themeState) []string {
	entries := map[string]bool{}
	for _, j := range ts.jobs {
		for _, e := range j.entries {
			if _, ok := ts.base.base[e]; ok {
				entries[e] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(entries))
}

// planOwnBundles starts, with the root themes' bundles, the bundles of a
// child theme that the last build made for the child itself (its
// overrides were among their inputs, so its parent's bundle would not do):
// they would most likely be its own again, and waiting for the parent's
// round first would put two esbuild runs end to end on a rebuild's
// critical path. A guess never changes the output: a bundle built for the
// child's file set is the child's bundle whatever its parent's is.
func (b *build) planOwnBundles(g pond.TaskGroup, ts *themeState) {
	if len(ts.jobs) == 0 || b.cache == nil {
		return
	}
	owner := ts.jobs[0]
	for _, e := range themeEntries(ts) {
		bd := &bundle{entry: e, owner: owner.id, fs: ts.base}
		if b.packHas("bundle", b.bundleKey(bd)) {
			b.startThemeBundle(g, ts, bd)
		}
	}
}

// submitPrivateBundles finds, once every base bundle is built, the entries
// a job needs its own bundle of (a locale override of the job is one of
// their inputs) and queues them beside the leaves: run inside the job's
// assembly, they made the longest job longer.
func (b *build) submitPrivateBundles(g pond.TaskGroup, jobs []*job, themes map[string]*themeState) {
	for _, j := range jobs {
		ts := themes[themeKey(j.Job)]
		for _, e := range j.entries {
			if bd := ts.bundles[e]; bd != nil && bd.reusableBy(j.fs) {
				continue
			}
			if b.findBundle(e, j.fs) != nil {
				continue
			}
			bd := &bundle{entry: e, owner: j.id, fs: j.fs}
			if j.private == nil {
				j.private = map[string]*bundle{}
			}
			j.private[e] = bd
			b.task(g, "bundle "+e+" of "+j.id, func() { b.runBundle(bd, j, false) })
		}
	}
}

// runBundle builds a bundle and makes it available for reuse.
//
// Base bundles (shared) are offered to every later theme and job; a job's
// own bundle, made because a locale override is one of its inputs, is
// not: no other job resolves that override the same way in practice, and
// keeping hundreds of them for reuse would hold their bytes to the end.
func (b *build) runBundle(bd *bundle, owner *job, shared bool) {
	defer b.clock.since(stBundle, time.Now())
	bd.run(b)
	if !bd.cached {
		b.stats.bundles.Add(1)
		b.log.Debug("bundle built", "entry", bd.entry, "for", bd.owner, "shared", shared, "wall", bd.dur.Round(10*time.Microsecond))
	}
	owner.addTime(bd.dur)
	if bd.err != nil {
		bd.err = diag.Scoped(bd.owner, bd.err)
		b.fail(bd.err)
		return
	}
	if !bd.marked {
		bd.blob = b.store.put(bd.out, entryOutput(bd.entry))
	}
	if shared {
		b.bundleMu.Lock()
		b.bundles[bd.entry] = append(b.bundles[bd.entry], bd)
		b.bundleMu.Unlock()
	}
}

// findBundle returns a finished bundle of entry that fs can reuse.
func (b *build) findBundle(entry string, fs *fileset) *bundle {
	b.bundleMu.Lock()
	defer b.bundleMu.Unlock()
	for _, bd := range b.bundles[entry] {
		if bd.reusableBy(fs) {
			return bd
		}
	}
	return nil
}

// submitLeaves queues the processing of every published source file, the
// largest first.
func (b *build) submitLeaves(g pond.TaskGroup, jobs []*job) {
	seen := map[*leafOnce]bool{}
	var all []*leafOnce
	for _, j := range jobs {
		for _, jl := range j.leaves {
			if !seen[jl.leaf] {
				seen[jl.leaf] = true
				all = append(all, jl.leaf)
			}
		}
	}
	slices.SortStableFunc(all, func(x, y *leafOnce) int { return cmp.Compare(y.src.Size, x.src.Size) })
	for _, l := range all {
		b.task(g, "process "+b.display(l.src.Abs), func() {
			b.fail(l.ensure(b))
		})
	}
}

// longestFirst orders jobs by the bytes they publish, largest first, so
// that the pool does not end on a long job.
func longestFirst(jobs []*job) []*job {
	out := slices.Clone(jobs)
	weight := func(j *job) int64 {
		var n int64
		for _, jl := range j.leaves {
			n += jl.leaf.src.Size
		}
		return n
	}
	slices.SortStableFunc(out, func(x, y *job) int { return cmp.Compare(weight(y), weight(x)) })
	return out
}
