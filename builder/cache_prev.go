package builder

// The previous output as a rebuild uses it: prepareIncremental, at the
// end of the plan stage, takes the state and the output check's verdict
// (cache_check.go) and decides whether the output is up to date, or what
// of it the build may reuse (prev: its contents by digest, its inodes,
// its build.json parts), whether the probes held or the output was walked
// and read back.

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/manifest"
)

// prev is what the previous output offers to this build: its files by
// content, when it is verified intact.
type prev struct {
	dir    string
	byHash map[string]prevPath // sha256 → a path with those bytes
	side   map[string][]sideRec
	// inodes holds every file of the verified output by inode, with the
	// sha256 build.json gives it and its stat when verified: a file of the
	// spare tree (see store_spare.go) that is one of these inodes holds those
	// bytes, whatever path it is at.
	inodes *fstree.InodeMap[*verified]
	// memo holds the rewrites of the previous build (see cache_memo.go).
	memo map[string]memoRec
	// parts are the parts of its build.json by key, with where each
	// starts in the file, when the file is as the last build wrote it.
	parts map[string]buildPart
}

// takeLayout notes the parts of the previous output's build.json, which
// is as the state's layout describes it.
func (p *prev) takeLayout(l *buildLayout) {
	if l == nil {
		return
	}
	p.parts = make(map[string]buildPart, len(l.Parts))
	at := l.HeadLen
	for i, part := range l.Parts {
		if i > 0 {
			at++ // the comma
		}
		part.from = at
		p.parts[part.Key] = part
		at += part.Len
	}
}

// buildFile is the previous output's build.json, when a build may take
// parts of it; "" when not.
func (p *prev) buildFile() string {
	if p == nil || p.parts == nil {
		return ""
	}
	return filepath.Join(p.dir, manifest.BuildFile)
}

type verified struct {
	sha string
	st  fstree.Stat
	// probed is set by the fingerprint of a tree written over the spare
	// tree once a kept name of this inode has its probe (treeWriter).
	probed bool
}

// memoLen is the number of the previous build's rewrites (0 for nil).
func (p *prev) memoLen() int {
	if p == nil {
		return 0
	}
	return len(p.memo)
}

// has reports whether the verified previous output holds a content.
func (p *prev) has(sum string) bool {
	if p == nil {
		return false
	}
	_, ok := p.byHash[sum]
	return ok
}

func (p *prev) path(sum string) (string, bool) {
	if p == nil {
		return "", false
	}
	at, ok := p.byHash[sum]
	if !ok {
		return "", false
	}
	return filepath.Join(p.dir, filepath.FromSlash(at.dir), filepath.FromSlash(at.name)), true
}

// prevPath is a path of the previous output, relative and with slashes,
// as a directory ("" or "." for the top) and a name in it: a probe's
// parts, joined only when a build links from it.
type prevPath struct{ dir, name string }

// prepareIncremental runs after the plan: it digests the sources, and
// finds out what the previous build of the output left that can be used.
// It returns the result of the previous build when nothing changed and
// the output is intact.
func (b *build) prepareIncremental() (*Result, error) {
	// The state was loaded while the plan ran, and the previous output is
	// checked (by its probes, or walked) meanwhile; the sources are
	// hashed now.
	chk := b.prevCheck
	var old map[string]statRec
	st := chk.state()
	if st != nil {
		old = st.Stat
		b.jobsOld, b.jobsOlder = st.Jobs, st.PrevJobs
	}
	if err := b.digestSources(old); err != nil {
		return nil, err
	}
	b.inputs = b.inputsDigest()
	if st != nil && st.Inputs != b.inputs {
		b.changes = b.changesSince(st)
	}
	b.packNew = map[string]func() []byte{}
	pack := &packLoad{b: b}
	defer pack.wait()
	// What the previous output holds is decoded only when the build
	// needs it, a build that finds nothing changed does not: with probes
	// that held, the content of each probed inode; after a walk, the list
	// of its files. With the sources or options changed, a rebuild is
	// certain, and the state's body is decoded (and the pack loaded)
	// while the check goes on. (If the probes then fail and the output is
	// walked, the decoded contents go unused: that walk costs far more.)
	var parts *prevParts
	if st != nil && st.Inputs != b.inputs {
		pack.start()
		parts = b.decodePrev(st, st.Probes != nil)
	}
	defer parts.wait()
	if parts != nil && st.Probes != nil && !chk.isDecided() {
		return b.trustProbes(st, chk, parts)
	}
	st = chk.wait()
	defer func() { chk.tree, chk.probes = nil, nil }() // (see outputCheck.wait)
	b.prevUse = PreviousNone
	if st == nil {
		b.log.Debug("cache: no record of a previous build of this output; building it whole", "output", b.opts.Output, "cache", b.opts.CacheDir)
		pack.start()
		return nil, nil
	}
	if !chk.probed && chk.fp == "" {
		b.log.Debug("cache: no previous output to reuse", "output", b.opts.Output)
		pack.start()
		return nil, nil
	}
	intact := chk.probed || chk.fp == st.OutputFP
	b.prevUse = PreviousReadBack
	if intact {
		b.prevUse = PreviousIntact
	}
	if intact && st.Inputs == b.inputs {
		b.log.Debug("cache: sources, options and output unchanged since the last build; output kept as it is",
			"output", b.opts.Output, "checked_by", chk.how())
		if !chk.probed {
			// A state without probes (its output was read back): the
			// walk's are recorded, so that the next build needs none.
			b.recordProbes(st, chk.fp, chk.probes, nil)
		}
		return st.restore(), nil
	}
	pack.start()
	if parts == nil {
		parts = b.decodePrev(st, chk.probed)
	}
	parts.wait()
	return b.usePrev(st, chk, parts, intact, chk.probed)
}

// errPrevMoved ends a build that trusted the previous output's probes
// before they were all checked (trustProbes) when one did not hold: Build
// builds again, with the check's walk.
var errPrevMoved = errors.New("the previous output changed since its last build")

// trustProbes is prepareIncremental's end for a rebuild (the sources or
// options changed) while the previous output's probes are still being
// checked: the build goes on as if they held, and the check runs beside
// its plan, compile and assembly, on cores those leave idle. Nothing
// reads the output before the store stage but to make contents that are
// only kept in memory or in the spill directory, and nothing is written
// before confirmPrev: when a probe does not hold, the build is stopped
// (at once, by the watch below) and Build runs it again, which finds the
// check decided and waits for its walk, as if nothing had been trusted.
func (b *build) trustProbes(st *outputState, chk *outputCheck, parts *prevParts) (*Result, error) {
	b.trusting = chk
	go func() {
		<-chk.decided
		if !chk.probed {
			b.cancel(errPrevMoved)
		}
	}()
	parts.wait()
	b.prevUse = PreviousIntact
	return b.usePrev(st, chk, parts, true, true)
}

// confirmPrev waits, before the store stage writes anything, for the
// probes trustProbes trusted: errPrevMoved when one did not hold.
func (b *build) confirmPrev() error {
	chk := b.trusting
	if chk == nil {
		return nil
	}
	t0 := time.Now()
	if !chk.held() {
		return errPrevMoved
	}
	b.log.Debug("cache: the previous output's probes held", "waited", time.Since(t0).Round(time.Microsecond))
	return nil
}

// packLoad loads the cache's pack on a goroutine of its own, once, from
// the first start; wait waits for it when it was started.
type packLoad struct {
	b    *build
	done chan struct{}
}

func (l *packLoad) start() {
	if l.done == nil {
		l.done = make(chan struct{})
		go func() { l.b.loadPack(); close(l.done) }()
	}
}

func (l *packLoad) wait() {
	if l.done != nil {
		<-l.done
	}
}

// usePrev is prepareIncremental's end for a build that will run: it makes
// b.prev, what the previous output holds, from the decoded parts of the
// state (checked by probes) or from a walk of the output, and returns the
// previous build's result if that walk finds the output up to date.
func (b *build) usePrev(st *outputState, chk *outputCheck, parts *prevParts, intact, probed bool) (*Result, error) {
	p := parts.p
	if probed && p == nil {
		b.log.Debug("cache: cannot tell what the previous output holds; building it whole", "err", parts.sumsErr)
		b.prevUse = PreviousNone
		return nil, nil
	}
	if !probed {
		files, err := b.listed(st) // what a walk's paths are looked up in
		if err != nil {
			b.log.Debug("cache: cannot tell what the previous output holds; building it whole", "err", err)
			b.prevUse = PreviousNone
			return nil, nil
		}
		if p = newPrev(b.opts.Output, 0, len(files)); !p.walked(st, chk, files, b.inputs, b.log) {
			// Every file is back as it was and nothing else is there:
			// the output is up to date, under a new fingerprint and probes.
			b.recordProbes(st, chk.fp, chk.probes, files)
			b.log.Debug("cache: sources and options unchanged, and the output read back as written; output kept as it is", "output", b.opts.Output)
			return st.restore(), nil
		}
	}
	if st.CompKey == b.compKey() {
		if p.side = parts.side; parts.sideErr != nil {
			b.log.Debug("cache: cannot decode state's sidecars; they are made again", "err", parts.sideErr)
		}
	} else {
		b.log.Debug("cache: compression settings changed; sidecars are made again", "was", st.CompKey, "now", b.compKey())
	}
	if p.memo = parts.memo; parts.memoErr != nil {
		b.log.Debug("cache: cannot decode state's rewrites; they are made again", "err", parts.memoErr)
	}
	b.prev = p
	b.store.expect(len(p.byHash)) // a rebuild's contents are mostly the previous output's
	if intact {
		p.takeLayout(st.Layout)
		how := "walk"
		if probed {
			how = "probes"
		}
		b.log.Debug("cache: the previous output is intact; its files and sidecars are reused where the bytes match",
			"output", b.opts.Output, "contents", len(p.byHash), "checked_by", how, "checked_while_building", b.trusting != nil)
	}
	return nil, nil
}

// newPrev makes the previous output's maps with room for its contents:
// those of sums probed inodes, or of a list of files paths long.
func newPrev(dir string, sums, paths int) *prev {
	// (contents and inodes are far fewer than paths: most are links; a
	// probed inode is mostly a content of its own)
	return &prev{dir: dir, byHash: make(map[string]prevPath, sums+paths/8),
		inodes: fstree.NewInodeMap[*verified](sums + paths/4)}
}

// prevParts is what the state's body says of the previous output, decoded
// on goroutines of their own (decodePrev): the content of each probed
// file, and the maps made of them for when the probes hold; the sidecars;
// the rewrites.
type prevParts struct {
	done    chan struct{}
	p       *prev // nil when the contents were not asked for, or not decoded (sumsErr)
	sumsErr error
	side    map[string][]sideRec
	sideErr error
	memo    map[string]memoRec
	memoErr error
}

// decodePrev reads the state's body and decodes its parts, the probed
// files' contents only when probed is set.
func (b *build) decodePrev(st *outputState, probed bool) *prevParts {
	pp := &prevParts{done: make(chan struct{})}
	sameComp := st.CompKey == b.compKey()
	go func() {
		defer close(pp.done)
		if err := st.body(); err != nil {
			pp.sumsErr, pp.sideErr, pp.memoErr = err, err, err
			return
		}
		var wg sync.WaitGroup
		if sameComp {
			wg.Go(func() { pp.side, pp.sideErr = st.side() })
		}
		wg.Go(func() { pp.memo, pp.memoErr = st.memo() })
		if probed {
			if sums, err := st.contents(); err != nil {
				pp.sumsErr = err
			} else {
				pp.p = newPrev(b.opts.Output, len(sums), 0)
				pp.p.probed(st.Probes, sums)
			}
		}
		wg.Wait()
	}()
	return pp
}

// wait waits for the parts to be decoded (none for nil).
func (pp *prevParts) wait() {
	if pp != nil {
		<-pp.done
	}
}

// recordProbes saves the state again with the fingerprint and probes of
// a walk that found the output as recorded, and a body with the probed
// files' contents, which files (the output's list, read by listed when
// nil) gives. Nothing is recorded when the list or the body cannot be read.
func (b *build) recordProbes(st *outputState, fp string, probes []fstree.DirProbe, files map[string]manifest.File) {
	if files == nil {
		var err error
		if files, err = b.listed(st); err != nil {
			b.log.Debug("cache: the output's probes are not recorded", "err", err)
			return
		}
	}
	if st.body() != nil {
		return
	}
	fstree.SortProbes(probes)
	contents := encodeStateBody(probes, filesSums(files), b.opts.Threads)
	st.OutputFP, st.Probes, st.Body = fp, probes, b.bodyKey(st.Build.ID)
	head, err := encodeStateHead(st)
	if err != nil {
		return
	}
	b.putState(st.Body, head, contents, sectionOf(st.sideRaw), sectionOf(st.memoRaw))
}

// filesSums gives the digests of files (build.json's list as a map)
// directory by directory, as encodeStateBody asks for them.
func filesSums(files map[string]manifest.File) func(dir string) func(name string) string {
	return func(dir string) func(string) string {
		return func(name string) string { return files[fstree.JoinRel(dir, name)].SHA256 }
	}
}

// listed reads the list of the previous output's files from its
// build.json, and trusts it only when it is the list the state recorded
// (its digest, st.List): a walk, unlike the probes, does not know the
// files as written.
func (b *build) listed(st *outputState) (map[string]manifest.File, error) {
	_, list, err := manifest.ReadBuildList(b.opts.Output)
	if err != nil {
		return nil, err
	}
	// (the list as the file has it, cut into the parts the build wrote:
	// in any other order than the sorted one, it is not that build's)
	if st.List == "" || st.Layout == nil || listedDigest(list, st.Layout.Parts) != st.List {
		return nil, errors.New("the output's build.json is not the one the last build wrote")
	}
	files := make(map[string]manifest.File, len(list))
	for _, e := range list {
		files[e.Path] = e.File
	}
	st.Build.Files = files
	return files, nil
}

// probed fills p from an output its probes found as written: each probed
// inode has the content the state's body gives it (sums, in the probes'
// order), and is found at its probe's path.
func (p *prev) probed(probes []fstree.DirProbe, sums []string) {
	// The two maps are made side by side.
	var inodes sync.WaitGroup
	inodes.Go(func() {
		k := 0
		vs := make([]verified, 0, len(sums)) // one allocation, not one per inode
		for _, dp := range probes {
			for _, f := range dp.Files {
				if sum := sums[k]; sum != "" {
					vs = append(vs, verified{sha: sum, st: f.Node.Stat})
					p.inodes.Put(f.Node.Inode(), &vs[len(vs)-1])
				}
				k++
			}
		}
	})
	k := 0
	for _, dp := range probes {
		for _, f := range dp.Files {
			if sum := sums[k]; sum != "" {
				if _, ok := p.byHash[sum]; !ok {
					p.byHash[sum] = prevPath{dp.Rel, f.Name}
				}
			}
			k++
		}
	}
	inodes.Wait()
}

// walked fills p from the walk of the previous output. When the walk's
// fingerprint is not the recorded one, the files are read back and only
// those whose bytes are as recorded are kept; it returns false when, with
// inputs unchanged, the output turns out to be exactly as recorded (the
// build is then up to date).
func (p *prev) walked(st *outputState, chk *outputCheck, files map[string]manifest.File, inputs string, log *slog.Logger) bool {
	for _, e := range chk.tree {
		if e.Kind != fstree.File || e.Mode != 0 {
			continue
		}
		f, ok := files[e.Rel]
		if !ok {
			continue
		}
		k := e.Inode()
		if v, dup := p.inodes.Get(k); dup && v.sha != f.SHA256 {
			v.sha = "" // one inode, two contents: trust neither
			continue
		}
		p.inodes.Put(k, &verified{sha: f.SHA256, st: e.Stat})
	}
	if chk.fp != st.OutputFP {
		// The times or inodes changed since the output was written: a
		// release staged by hard links from it, an output restored from a
		// CI cache, or files edited. Its files are trusted one by one,
		// those whose bytes are still what the build recorded.
		t0 := time.Now()
		n := verifyContent(p.dir, chk.tree, p.inodes)
		log.Debug("cache: the previous output changed since it was written; files whose bytes are as recorded are reused",
			"output", p.dir, "files", len(files), "contents_verified", n, "wall", time.Since(t0).Round(time.Microsecond))
		if st.Inputs == inputs && asRecorded(p.dir, chk.tree, st.Build, st.Layout, p.inodes) {
			return false
		}
	}
	for _, e := range chk.tree {
		if e.Kind != fstree.File || e.Mode != 0 {
			continue
		}
		if v, _ := p.inodes.Get(e.Inode()); v != nil && v.sha != "" {
			// the first path in sorted order, whatever the walk's order
			if have, ok := p.byHash[v.sha]; !ok || e.Rel < have.name {
				p.byHash[v.sha] = prevPath{name: e.Rel} // (all of them from the top)
			}
		}
	}
	return true
}
