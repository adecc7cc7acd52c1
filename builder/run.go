package builder

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/builder/requirejs"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/matrix"
	sl "github.com/scdtool/scd/source"
)

// job is the builder's state for one matrix job.
type job struct {
	matrix.Job
	id string
	fs *fileset
	// layers are the job's fallback chain (source.Layout.Layers); digest
	// identifies all its output depends on, clean is set when a job record
	// gave its files (cache_job.go).
	layers []sl.Layer
	digest string
	clean  bool
	memo   []memoEntry // the rewrites its assembly used or made
	// packKeys are the pack entries of its stylesheets and its scripts'
	// lookups, from its record when clean.
	packKeys []string
	dict     *i18n.Dictionary // set by parseDictionaries
	// asks are the pack entries of the lookups of the scripts its
	// assembly translated (cache_memo.go), kept while it is clean.
	asks []string
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
	if b.cache != nil && b.prevCheck == nil {
		// Loading the state and checking the previous output do not
		// depend on the plan: they run side by side, or began before
		// Build (Prepare). (A build run again has its first run's
		// check; Build stops it.)
		if b.prevCheck = b.opts.Prepared.takeOver(b); b.prevCheck == nil {
			b.prevCheck = b.startOutputCheck(b.outer)
		}
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
			res.Phases = b.phases
			return nil, nil, res, nil
		}
		// (most rewrites are the previous build's again; a nil prev has none)
		b.memoNew = make(map[string]memoRec, b.prev.memoLen())
		b.planFiles(jobs, themes)
		b.phase("plan: files")
		b.jobDigests(jobs, themes)
		b.recallJobs(jobs)
		b.phase("job records")
	} else {
		b.planFiles(jobs, themes)
		b.phase("plan: files")
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
	jobs = dirtyJobs(jobs) // the clean ones have their files (cache_job.go)
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
	need := bundleThemes(themes)
	for depth := 0; depth <= maxDepth; depth++ {
		g := b.pool.NewGroupContext(b.ctx)
		for _, ts := range byDepth[depth] {
			if need[ts] {
				b.planBundles(g, ts)
			}
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
					if need[ts] {
						b.planOwnBundles(g, ts)
					}
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
	for _, j := range longestFirst(dirtyJobs(jobs)) {
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
// aside (store_write.go) and swaps it into place; with the cache, the tree the
// swap replaced is kept as the next build's spare tree (store_spare.go) and the
// build is recorded for the next one.
func (b *build) storeStage(jobs []*job, themes map[string]*themeState) (*Result, error) {
	b.setStage("compress")
	if !b.wait(b.compressGroup) {
		return nil, b.failed()
	}
	b.phase("compress")
	if b.trusting != nil {
		if err := b.confirmPrev(); err != nil {
			return nil, err
		}
		b.phase("cache check: probes confirmed")
	}
	b.dropWork(jobs, themes)
	b.phase("save cache pack")
	b.setStage("write")
	keep := b.cache != nil
	tmp, spare, err := takeSpare(b.opts.Output, keep)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	defer releaseTemp(tmp, b.opts.Output, keep) // a no-op after the swap
	res, fp, probes, err := b.write(tmp, spare, jobs)
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
	res.Output, res.PreviousOutput, res.Changes = b.opts.Output, b.prevUse, b.changes
	res.Stages = b.clock.result()
	if b.cache != nil {
		// The state lists the job records before they are written: a
		// build killed in between leaves records missing, which only
		// makes their jobs build, and none that no state lists.
		recorded := make(chan struct{})
		go func() {
			defer close(recorded)
			b.saveRecords(b.treeRecord)
			b.cache.sweepTemp(time.Now())
		}()
		b.saveState(res, fp, topProbed(probes, b.opts.Output), jobDigestList(jobs))
		<-recorded
		b.phase("save cache state")
		b.keepJobs(jobs, res)
		b.phase("save job records")
	}
	res.Phases = b.phases
	return res, nil
}

func themeKey(j matrix.Job) string { return j.Area + "/" + j.Theme }

// dropWork lets go of what the write stage does not need once every job is
// assembled and compressed: sources, leaves and bundles, which on a large
// matrix are hundreds of megabytes. The cache's pack, which encodes
// leaves, is saved first.
func (b *build) dropWork(jobs []*job, themes map[string]*themeState) {
	b.savePack(true)
	b.packMu.Lock()
	if mapped(b.packMaps) >= releaseMin {
		release(b.packMaps) // saved: its pages can go before the tree is written
	}
	b.packMu.Unlock()
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

// requireJSFile is the logical name of a job's merged RequireJS
// configuration, where Magento's pages load it.
const requireJSFile = "requirejs-config.js"

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

// topProbed completes the probes of a tree swapped in at out: the swap's
// rename changed its top directory's change time, and nothing else of it.
// Without that stat, or if anything else changed (a name added there since
// the tree was probed), the probes are dropped and the next build walks.
func topProbed(probes []fstree.DirProbe, out string) []fstree.DirProbe {
	n, err := fstree.StatDir(out)
	if err != nil {
		return nil
	}
	for i := range probes {
		if p := &probes[i]; p.Rel == "." {
			was := p.Node.Stat
			if n.Dev != p.Node.Dev || n.Stat.Ino != was.Ino || n.Stat.Mtime != was.Mtime || n.Stat.Size != was.Size {
				return nil
			}
			p.Node = n
			fstree.SortProbes(probes)
			return probes
		}
	}
	return nil
}
