// Package builder compiles every (theme, locale) job of a matrix into a
// content-hashed, precompressed output tree on a worker pool.
//
// # Stages
//
// A build is a pipeline of four stages (run.go), each a group of files;
// a stage uses what the stages before it made, never the other way:
//
//   - plan (plan.go, plan_styles.go): the file set of every job, asked of
//     the source layout (package source), its dictionaries and requirejs
//     inputs, which themes compile LESS or Tailwind, and the units of
//     work it hands on (a leaf per source file, shared by the jobs that
//     publish it); with the cache, the up-to-date check
//     (cache_prev.go, cache_check.go), then each job's digest and the jobs
//     clean by their records (cache_job.go), which the later stages pass
//     over (but for writing their files).
//   - compile (compile.go schedules, compile_*.go do): leaf files read
//     and minified once whatever the number of jobs that publish them,
//     bundles (esbuild), LESS (package less), Tailwind, the requirejs
//     configurations.
//   - assemble (assemble.go): per job, translation, content-hashed or
//     logical names, templates and stylesheets rewritten,
//     js-translation.json.
//   - store (store.go, store_*.go): the manifests, the tree written aside
//     (or a spare tree updated), build.json (in parts, a clean job's
//     copied from the previous output's: store_buildfile.go), the swap
//     into place.
//
// Compile and assemble put each final content into the content store
// (contents.go) as they make it, where each unique content is compressed
// once, on arrival, and spilled to disk until the store stage writes the
// tree. The stages' code points one way: a stage's files call the
// functions of their own stage and of the stages before it, never of a
// later one; the types are the pipeline's vocabulary, declared beside the
// code that fills them. The files every stage may use are the core
// (builder.go: the build and its options; run.go: the jobs and the
// sequence of stages; kinds.go, stages.go, prepare.go), the content store
// and the cache layer. TestStagesPointOneWay holds the code to that.
//
// The persistent cache (cache*.go) is the layer around them: entries keyed
// by their inputs' digests that a stage asks before doing the work and
// hands its result to after (recallLeaf/keepLeaf, loadBundle/storeBundle,
// recallStyle/recordStyle for LESS expansions, recallCompiledStyle/
// keepCompiledStyle, recallBytes/keepBytes for Tailwind builds and the
// requirejs merges, the rewrite memo of assemble), the job records
// (cache_job.go: a job a change does not reach takes its files from the
// record of its inputs' digest, and skips compile and assemble), and the
// state of the last build of each output, which the plan stage's
// up-to-date check reads and the store stage writes. The
// stages never see the pack, its keys or its encodings. Package fstree
// lists, fingerprints and probes trees for it.
//
// Work that does not depend on the locale is done once: every source file
// is read and minified once whatever number of jobs publish it, every entry
// is bundled once per theme (and again only for a job whose locale
// overrides one of its inputs), and every unique output is compressed once
// and written once, then hard-linked. Per job, only translation, naming and
// the manifests remain.
//
// The output directory is written aside and swapped into place only when
// the whole build succeeded; on any error it is left as it was.
//
// # The spare tree
//
// With the cache on, a rebuild does not write a whole tree aside. The tree
// that the last swap replaced is kept beside the output as .<name>.prev
// (the spare tree), and the next build brings it up to date and exchanges
// it with the output (renameat2 RENAME_EXCHANGE); the replaced output
// becomes the next spare tree. The spare tree lags one build behind, so
// it is not described by any build.json; it is listed instead (one
// getdents per directory gives every name with its inode and type, no
// stat per file) and judged against the current output, which the cache
// has verified by its fingerprint: a file of the spare tree stays only
// when it is a hard link to an inode of the verified output to which
// build.json gives the bytes the new build wants at that path. Everything
// else in it — stale files, directories the new build does not have,
// anything edited, replaced or added by hand — is removed, and the missing
// files are linked or written as in a full write. Updating costs what
// changed since the build before last, plus a listing; not a link per
// file and a removal per file of the whole tree. The listing itself is
// spared: the build that wrote the spare tree, whole or this way,
// recorded each job directory (store_record.go), and a job directory
// whose directories all still have their recorded stat holds the
// recorded names and inodes, so a stat per directory replaces the open,
// getdents and close of each.
//
// The guarantees of a full write hold: the spare tree is renamed to a
// .tmp-* name before it is touched, so a build killed while updating it
// leaves only a .tmp-* directory, which the next build removes (lockOutput)
// and which nothing takes for an output; a failed build renames it back
// (half updated is harmless, it is judged again); the output changes only
// by the exchange. A missing or unusable spare tree (the first rebuild
// after a cold build, a failed or killed build) just means a full write;
// of an output that changed since it was written (edited by hand, staged
// by hard links, restored from a copy), only the files whose bytes are
// read back as recorded are trusted. Without the cache (--no-cache) there
// is no spare tree: the tree is written into a new directory and the
// replaced output is removed.
//
// The fingerprint of the new output, recorded for the next build's
// up-to-date check, is computed rather than walked: a kept file is an
// inode of the verified output whose stat is known unless this build
// changed its links (then it is stat'ed again), and every file this build
// wrote or linked is stat'ed once after the last write.
//
// # Probes
//
// Beside the fingerprint, the state records the output's probes
// (fstree.DirProbe): the stat of every directory of the tree as written
// (its top stat'ed again after the swap) and of one name of each file
// inode. The next build checks them while it plans (fstree.Check):
// a name added, removed or renamed changes its directory's times, and a
// write, a mode change or a new link changes its inode's change time,
// which cannot be set back, so probes that all hold mean the output is
// as written, without reading a directory. The build then knows the
// bytes of every inode from the state's body (the content of each probed
// name) and its stat from the probes, which is all a walk would have told
// it: contents are taken from the previous output by inode and by a path
// that has them. A probe that does not hold (an output edited, staged by
// links or restored from a copy) sends the build to the walk and its
// fingerprint as before, with the file list read from the output's
// build.json and trusted only under the digest the state recorded; a walk
// that finds the output as recorded records its own probes for the next
// build. The check may begin before Build (Prepare, prepare.go), while the
// caller loads the rest of its settings.
//
// A build whose sources or options changed has work to do whatever the
// check finds, so it does not wait for the probes: it compiles and
// assembles as if they held, while the check runs beside it, and waits
// for their verdict only before the store stage writes anything
// (trustProbes, confirmPrev). When a probe does not hold, that run is
// stopped and Build runs the build again, with the check's walk. Like any
// failed build, the first run keeps what it compiled in the cache's pack
// (entries keyed by their sources, which the second run takes); it wrote
// nothing else.
package builder

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/builder/less"
	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
	sl "github.com/scdtool/scd/source"
)

const markerCall = i18n.Marker + "("

// Options configure a build. The zero value of every field but Config and
// Jobs is a sensible default.
type Options struct {
	Config *matrix.Config
	Jobs   []matrix.Job // from Config.Jobs, already filtered
	// Layout maps jobs onto source files (default: scd's own layout,
	// source.Own with Config.Libs).
	Layout sl.Layout
	// Output is the directory that receives the build (default
	// Config.Output). It is replaced only when the build succeeds.
	Output string
	// Threads is the number of workers; 0 means one per CPU.
	Threads int
	Skip    Skip
	// StrictI18n makes a phrase without translation an error.
	StrictI18n bool
	// Strict makes a file the minifier rejects an error instead of a
	// warning.
	Strict bool
	// SourceMaps writes, beside each stylesheet compiled from LESS, a
	// source map naming the original .less files (the stylesheet is then
	// published as less.js writes it, not minified).
	SourceMaps bool
	// NoTailwind skips the Tailwind build of Hyvä themes (see compile_tailwind.go):
	// their web/css/styles.css is published as it is.
	NoTailwind bool
	// KeepGoing collects every error instead of stopping at the first.
	KeepGoing bool
	// MaxExecutionTime bounds the whole build; 0 means no bound.
	MaxExecutionTime time.Duration
	// ContentVersion overrides the content version written to build.json.
	ContentVersion string
	// Version of scd, recorded in build.json.
	Version string
	// WorkDir is the directory paths in messages are relative to (default
	// the working directory).
	WorkDir string
	Logger  *slog.Logger
	// CacheDir is the persistent cache that makes rebuilds incremental
	// (see cache.go); "" means no cache.
	CacheDir string
	// CacheKey is mixed into every cache key besides Version: the command
	// line passes what identifies its binary, so that a rebuilt scd of the
	// same version never reads entries of another build of the code.
	CacheKey string
	// Progress, when set, is called after each finished task. It must be
	// cheap and safe for concurrent use.
	Progress func(Progress)
	// Prepared is the check of the previous output started by Prepare,
	// which Build takes over (see Prepared); nil: Build starts it.
	Prepared *Prepared
}

// Progress is a snapshot of a running build.
type Progress struct {
	Stage       string // "bundle", "process", "assemble", "compress", "write"
	Done, Total int64
}

// Result describes a finished build.
type Result struct {
	// Build is build.json without its Files: a large matrix has millions,
	// which build.json in the output lists (manifest.ReadBuild).
	Build    *manifest.Build
	Output   string
	Jobs     []JobResult
	Warnings []error
	Stats    Stats
	Duration time.Duration
	// Missing counts phrases without translation per locale.
	Missing map[string]int
	// UpToDate is set when nothing changed since the previous build of the
	// output, which was left as it was: the result is that build's.
	UpToDate bool
	// Stages is the time spent in each stage (the Stage* constants, which
	// document what each includes), summed over the workers; nil when the
	// build was up to date.
	Stages map[string]time.Duration
	// Phases are the wall times of the pipeline's steps (plan, cache
	// check, bundle, process, assemble, compress, the write's steps,
	// swap, saving the state), in order.
	Phases []Phase
	// PreviousOutput says how the build used the output of the last one,
	// with the cache: PreviousNone, PreviousIntact or PreviousReadBack
	// ("" without the cache).
	PreviousOutput string
	// Changes says what changed since the previous build of the output, as
	// the cache's record of that build knows it; nil without the cache,
	// for a build with no such record, and for one that found nothing
	// changed (UpToDate).
	Changes *Changes
}

// Changes is what a rebuild found changed since the previous build of its
// output: why it had work to do.
type Changes struct {
	// Sources and Dictionaries count the source files and the
	// dictionaries whose content changed, added or removed; with Config
	// set, only those whose content changed (another job list reads
	// other files).
	Sources      int `json:"sources"`
	Dictionaries int `json:"dictionaries"`
	// Files names the first of them (at most MaxChangedFiles), the sources
	// first, each list sorted, as the build's messages name files.
	Files []string `json:"files,omitempty"`
	// Config: the configuration, the list of jobs or what they skip
	// changed.
	Config bool `json:"config,omitempty"`
	// WorkDir: scd ran from another working directory. Messages and job
	// records name files relative to it, so every job is built again
	// (its rewrites are still taken from the previous output).
	WorkDir bool `json:"workdir,omitempty"`
	// Other: something else the build depends on changed (an option such
	// as --strict or --content-version, or how the layout resolves the
	// jobs' files) while no source, dictionary, configuration or working
	// directory did.
	Other bool `json:"other,omitempty"`
}

// MaxChangedFiles is the most files Changes names.
const MaxChangedFiles = 20

// Values of Result.PreviousOutput.
const (
	// PreviousNone: no record of a previous build, or no output to use.
	PreviousNone = "none"
	// PreviousIntact: the output was as the last build left it (same
	// fingerprint).
	PreviousIntact = "intact"
	// PreviousReadBack: the output had changed since it was written (times,
	// inodes or bytes); its files were read back and those still as
	// recorded were used.
	PreviousReadBack = "read back"
)

// Phase is one step of a build's pipeline, in the order they ran, with the
// wall time from the end of the step before: where a build's time went.
type Phase struct {
	Name string
	Wall time.Duration
}

// JobResult is what one job produced.
type JobResult struct {
	ID       string
	Files    int
	Bytes    int64
	Missing  []string
	Duration time.Duration // time spent on the job's own work, bundles included
}

// Stats are totals over the whole build.
type Stats struct {
	SourceFiles  int64 `json:"source_files"` // source files read (each once)
	SourceBytes  int64 `json:"source_bytes"`
	OutputFiles  int64 `json:"output_files"` // files in the output tree, sidecars included
	OutputBytes  int64 `json:"output_bytes"` // their bytes, counting each hard-linked file once
	UniqueBlobs  int64 `json:"unique_contents"`
	Bundles      int64 `json:"bundles"`       // esbuild runs
	LessCompiles int64 `json:"less_compiles"` // less.js runs
	// LessExpansions counts Magento's LESS preprocessing of a root made
	// (not recalled: see cache_less.go).
	LessExpansions int64 `json:"less_expansions"`
	Compressible   int64 `json:"compressible_bytes"` // bytes of the contents that got sidecars
	CompressedMin  int64 `json:"compressed_bytes"`   // bytes of the smallest sidecar of each of them
	// Rewrites counts the per-job translations, template renderings and
	// stylesheet rewrites made; RewritesReused those taken from the
	// previous output instead (see the rewrite memo).
	Rewrites       int64 `json:"rewrites"`
	RewritesReused int64 `json:"rewrites_reused"`
	// JobsReused counts the jobs nothing reached since the last build,
	// whose files came from their job record (see cache_job.go).
	JobsReused int64 `json:"jobs_reused"`
}

type stats struct {
	srcFiles, srcBytes atomic.Int64
	bundles            atomic.Int64
	lessRuns, lessExps atomic.Int64
	rewrites, reused   atomic.Int64
	jobsReused         atomic.Int64
}

func (s *stats) addIn(n int64) { s.srcFiles.Add(1); s.srcBytes.Add(n) }

// ErrTimeout is returned when MaxExecutionTime is exceeded.
var ErrTimeout = errors.New("maximum execution time exceeded")

// build is the state of one Build call.
type build struct {
	opts     Options
	cfg      *matrix.Config
	embedded bool
	// leafSalts are the first parts of the leaves' pack keys, by kind
	// (leafKey).
	leafSalts [kindFont + 1]string
	layout    sl.Layout
	// LESS (compile_less.go): the less.js workers, started on first use, and
	// each expansion's compiled stylesheet by digest.
	less        *less.Pool
	lessVersion func() string // identifies the less.js found, for cache keys
	styleMu     sync.Mutex
	styleOuts   map[string]*styleOut
	// Tailwind (compile_tailwind.go): the themes styled with it, each build by its
	// web/tailwind directory, and the lock that serializes npm ci.
	twThemes  map[*themeState]*twTheme
	twBuilds  map[string]*twBuild
	twInstall sync.Mutex
	// logicalNames publishes every file under its logical path (names:
	// logical), as Magento does, instead of a content-hashed name.
	logicalNames bool
	ctx          context.Context
	cancel       context.CancelCauseFunc
	pool         pond.Pool
	log          *slog.Logger
	comp         precompress.Options
	stats        stats
	clock        stageClock

	srcMu sync.Mutex
	srcs  map[string]*srcData

	leafMu sync.Mutex
	leaves map[string]*leafOnce

	bundleMu sync.Mutex
	bundles  map[string][]*bundle // entry → candidates, base bundles first

	store         *store
	compressGroup pond.TaskGroup
	esbuild       esbuildPool

	// Incremental builds (nil cache: none).
	start     time.Time
	cache     *cache
	scanner   *scanner
	digests   map[string]string // source path → sha256 of its content
	dictSums  map[string]string // dictionary and requirejs-config.js path → sha256, "-" when absent
	dictData  map[string][]byte // dictionaries read by the plan, until parsed
	planSum   hash.Hash         // the order of each job's whole-file inputs
	statCache map[string]statRec
	inputs    string
	prev      *prev
	prevUse   string            // Result.PreviousOutput
	changes   *Changes          // Result.Changes
	prevCheck *outputCheck      // the state and the previous output's check, started with the build
	trusting  *outputCheck      // prevCheck, when its probes are trusted before they are all checked
	outer     context.Context   // Build's context, which the check runs under
	outFiles  []jobFiles        // the files of the tree written, for the cache's state
	packOld   map[string][]byte // leaf and bundle entries of the last build
	packMaps  [][]byte          // the pack's shards as mapped (see getMapped)
	attic     map[string][]byte // entries of the builds before (atticGet)
	atticOnce sync.Once
	// packOldCount is the number of entries of each shard as loaded.
	packOldCount []int
	packDirty    [packShards]bool // shards this build put entries into
	packMu       sync.Mutex
	packNew      map[string]func() []byte // the entries this build used or made
	memoMu       sync.Mutex
	memoNew      map[string]memoRec // rewrites this build used or made (see cache_memo.go)
	// packClaim holds the pack keys of the LESS and Tailwind entries the
	// clean jobs' records name: kept in the pack though no task asked
	// for them (cache_job.go).
	packClaim  map[string]bool
	leafClaims chan struct{} // closed once packClaim has the clean jobs' leaves
	// jobsOld and jobsOlder are the records of the jobs of the last build
	// and of the one before, as the state lists them.
	jobsOld, jobsOlder []string
	stateBody          chan []byte   // the state's sidecars and memo, being encoded (see saveState)
	treeDigest         string        // of the new tree's file list (see treeDigest)
	buildLayout        *buildLayout  // the new tree's build.json (store_buildfile.go)
	treeRecord         func() []byte // encodes the new tree's record (store_record.go); nil for none

	errMu    sync.Mutex
	errs     []error
	warnings []error

	running  sync.Map // task label → start time
	stage    atomic.Value
	phaseAt  time.Time // when the last phase ended (see phase)
	phases   []Phase
	done     atomic.Int64
	total    atomic.Int64
	progress func(Progress)
}

// Build runs the build described by opts.
func Build(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	defer opts.Prepared.Release() // unless taken over
	if opts.Config == nil || len(opts.Jobs) == 0 {
		return nil, &diag.Error{Kind: diag.Config, Msg: "no jobs to build"}
	}
	cfg := opts.Config
	if opts.Output == "" {
		opts.Output = cfg.Output
	}
	if opts.Threads <= 0 {
		opts.Threads = cfg.Threads
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.NumCPU()
	}
	if opts.Layout == nil {
		opts.Layout = sl.Own{Libs: cfg.Libs}
	}
	if opts.WorkDir == "" {
		opts.WorkDir, _ = os.Getwd()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkOutput(opts.Output, cfg); err != nil {
		return nil, err
	}
	comp, err := compressionOptions(cfg)
	if err != nil {
		return nil, err
	}
	unlock, err := lockOutput(opts.Output)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if opts.MaxExecutionTime > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, opts.MaxExecutionTime, ErrTimeout)
		defer c()
	}
	// The previous output's check, started by the first run (or by
	// Prepare), serves a second run too.
	var chk *outputCheck
	defer func() {
		if chk != nil {
			chk.stop()
		}
	}()
	res, chk, err := buildOnce(ctx, opts, comp, start, nil)
	if errors.Is(err, errPrevMoved) {
		// The run trusted the output's probes while they were checked,
		// and one did not hold (see trustProbes): run again, which
		// waits for the check's walk.
		opts.Logger.Debug("cache: a probe of the previous output did not hold; building again with its walk")
		res, _, err = buildOnce(ctx, opts, comp, start, chk)
	}
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// buildOnce runs the build once, with the output locked; chk is the
// previous output's check when a first run started it. It returns the
// check the run used, for Build to stop, and errPrevMoved when the run
// trusted the output's probes and one did not hold.
func buildOnce(ctx context.Context, opts Options, comp precompress.Options, start time.Time, chk *outputCheck) (*Result, *outputCheck, error) {
	outer := ctx
	cfg := opts.Config
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	b := &build{
		opts:         opts,
		cfg:          cfg,
		embedded:     cfg.I18nStrategy != "dictionary",
		layout:       opts.Layout,
		logicalNames: cfg.Names == matrix.NamesLogical,
		ctx:          ctx,
		cancel:       cancel,
		outer:        outer,
		prevCheck:    chk,
		pool:         pond.NewPool(opts.Threads, pond.WithContext(ctx)),
		esbuild:      esbuildPool{max: opts.Threads},
		log:          opts.Logger,
		comp:         comp,
		srcs:         map[string]*srcData{},
		leaves:       map[string]*leafOnce{},
		bundles:      map[string][]*bundle{},
		progress:     opts.Progress,
		start:        start,
		dictSums:     map[string]string{},
		dictData:     map[string][]byte{},
		planSum:      sha256.New(),
		styleOuts:    map[string]*styleOut{},
		// Found when a stylesheet is first looked up, not by every build.
		lessVersion: sync.OnceValue(func() string { return less.Version(less.Options{}) }),
	}
	b.leafSalts = b.makeLeafSalts()
	if chk != nil {
		// A second run: the first one's time is a phase of its own.
		b.phase("first run, stopped: a probe did not hold")
	}
	if opts.CacheDir != "" {
		c, err := openCache(opts.CacheDir)
		if err != nil {
			// A cache that cannot be opened costs speed, not the build.
			b.log.Warn("cache disabled", "dir", opts.CacheDir, "err", err)
		} else {
			b.cache = c
		}
	}
	b.store = newStore(b)
	defer func() {
		// Tasks still running after a failure may write into the spill
		// directory: remove it only once they are all done.
		b.pool.StopAndWait()
		b.esbuild.close()
		b.closeLess()
		if b.store.spillDir != "" {
			os.RemoveAll(b.store.spillDir)
		}
	}()

	res, err := b.run()
	if err != nil && b.trusting != nil && outer.Err() == nil {
		// Whatever stopped the run, the probes it trusted decide: a
		// failure may come of an output changed under it.
		if !b.trusting.held() {
			err = errPrevMoved
		}
	}
	return res, b.prevCheck, err
}

// checkOutput refuses an output directory that would swallow the sources.
func checkOutput(out string, cfg *matrix.Config) error {
	out = filepath.Clean(out)
	for _, dir := range append([]string{cfg.Source}, cfg.Libs...) {
		if within(dir, out) {
			return &diag.Error{Kind: diag.Config, File: cfg.File, Msg: fmt.Sprintf("output %s contains the sources in %s", out, dir)}
		}
	}
	for _, t := range cfg.Themes {
		if within(out, t.Path) {
			return &diag.Error{Kind: diag.Config, File: cfg.File, Msg: fmt.Sprintf("output %s is inside theme %s", out, t.Name)}
		}
	}
	if out == filepath.Dir(out) {
		return &diag.Error{Kind: diag.Config, File: cfg.File, Msg: "output cannot be the file system root"}
	}
	return nil
}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func compressionOptions(cfg *matrix.Config) (precompress.Options, error) {
	o := precompress.Options{MinSize: cfg.CompressionMinSize, Levels: map[precompress.Encoding]int{}}
	for _, name := range cfg.Compression {
		e, err := precompress.ParseEncoding(name)
		if err != nil {
			return o, &diag.Error{Kind: diag.Config, File: cfg.File, Msg: err.Error()}
		}
		o.Encodings = append(o.Encodings, e)
		if lvl, ok := cfg.CompressionLevels[name]; ok {
			o.Levels[e] = lvl
		}
	}
	return o, nil
}

// fail records an error; without KeepGoing the first one stops the build.
func (b *build) fail(err error) {
	if err == nil {
		return
	}
	b.errMu.Lock()
	b.errs = append(b.errs, err)
	b.errMu.Unlock()
	if !b.opts.KeepGoing {
		b.cancel(err)
	}
}

func (b *build) warn(err error) {
	if b.opts.Strict {
		b.fail(err)
		return
	}
	b.errMu.Lock()
	b.warnings = append(b.warnings, err)
	b.errMu.Unlock()
}

// failed returns the build's errors, or the reason it was stopped.
func (b *build) failed() error {
	b.errMu.Lock()
	errs := append([]error(nil), b.errs...)
	b.errMu.Unlock()
	if cause := context.Cause(b.ctx); errors.Is(cause, ErrTimeout) {
		return b.timeoutError()
	}
	if len(errs) > 0 {
		if hint := noSpace(filepath.Dir(b.opts.Output), errors.Join(errs...)); hint != nil {
			errs = append(errs, hint)
		}
		return joinSorted(errs)
	}
	if err := context.Cause(b.ctx); err != nil {
		return err
	}
	return nil
}

func (b *build) timeoutError() error {
	var running []string
	b.running.Range(func(k, _ any) bool {
		running = append(running, k.(string))
		return true
	})
	sort.Strings(running)
	msg := fmt.Sprintf("%v (%s)", ErrTimeout, b.opts.MaxExecutionTime)
	if len(running) > 0 {
		msg += "; still running: " + strings.Join(running, ", ")
	} else if stage, _ := b.stage.Load().(string); stage != "" {
		msg += " during " + stage
	} else {
		msg += " while planning"
	}
	return fmt.Errorf("%w%s", ErrTimeout, strings.TrimPrefix(msg, ErrTimeout.Error()))
}

// task runs fn on the pool in group g, labelled for progress and for the
// report of a timeout.
func (b *build) task(g pond.TaskGroup, label string, fn func()) {
	b.total.Add(1)
	g.Submit(func() {
		if b.ctx.Err() != nil {
			return
		}
		b.running.Store(label, time.Now())
		defer b.running.Delete(label)
		fn()
		n := b.done.Add(1)
		if b.progress != nil {
			stage, _ := b.stage.Load().(string)
			b.progress(Progress{Stage: stage, Done: n, Total: b.total.Load()})
		}
	})
}

// phase logs, at debug level, that a phase of the build ended and how long
// it took since the previous one ended (or the build started).
func (b *build) phase(name string) {
	now := time.Now()
	if b.phaseAt.IsZero() {
		b.phaseAt = b.start
	}
	wall := now.Sub(b.phaseAt)
	b.log.Debug("phase done", "phase", name, "wall", wall.Round(10*time.Microsecond))
	b.phases = append(b.phases, Phase{Name: name, Wall: wall})
	b.phaseAt = now
}

func (b *build) setStage(s string) {
	b.stage.Store(s)
	if b.progress != nil {
		b.progress(Progress{Stage: s, Done: b.done.Load(), Total: b.total.Load()})
	}
}

// wait waits for a group and reports whether the build may go on.
func (b *build) wait(g pond.TaskGroup) bool {
	g.Wait()
	return b.ctx.Err() == nil
}

// display returns the path of a source file as the user should see it.
func (b *build) display(abs string) string {
	if rel, err := filepath.Rel(b.opts.WorkDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}

// joinSorted joins errors in a deterministic order. The same problem in a
// file shared by several jobs is reported once, under the first job.
func joinSorted(errs []error) error {
	diag.Sort(errs)
	seen := map[string]bool{}
	kept := errs[:0]
	for _, err := range errs {
		key := err.Error()
		if de, ok := err.(*diag.Error); ok && de.File != "" {
			key = fmt.Sprintf("%s:%d:%d: %s", de.File, de.Line, de.Col, de.Msg)
		}
		if !seen[key] {
			seen[key] = true
			kept = append(kept, err)
		}
	}
	errs = kept
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
