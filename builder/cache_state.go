package builder

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/internal/par"
	"github.com/scdtool/scd/manifest"
)

// outputState is the cache's record of the last build of one output
// directory (kind "state", keyed by the output's absolute path).
type outputState struct {
	Inputs   string // digest of everything the build read (see inputsDigest)
	OutputFP string // fingerprint of the output right after it was written
	CompKey  string // the compression options the sidecars were made with
	Build    *manifest.Build
	// Side lists, for each compressed content (by sha256), the sidecars it
	// got: the ones that were not smaller than the content are absent.
	Side   map[string][]sideRec
	Stat   map[string]statRec // source stat cache: absolute path → digest
	Memo   map[string]memoRec // rewrite key → content (see cache_memo.go)
	Result savedResult
	// Jobs are the digests of the build's jobs, PrevJobs those of the
	// build before: their job records are kept (cache_job.go).
	Jobs, PrevJobs []string
	// Probes are the output's probes as it was written (fstree.DirProbe):
	// when they all hold, the output is as written without a walk. Nil
	// when unknown.
	Probes []fstree.DirProbe
	// Body is the cache key of the state's body (see encodeStateHead).
	Body string
	// List is the digest of the output's file list as build.json gives
	// it (treeDigest; the build's id is its first 20 digits): a build
	// that walks the output reads the list from build.json, and trusts it
	// only under this digest.
	List string
	// Layout is build.json as the build wrote it, in parts (see
	// store_buildfile.go): a build that walks the output compares the
	// file with its sum, and the next build copies a clean job's part
	// from the file.
	Layout *buildLayout
	// Dicts are the digests of the dictionaries the build read, by path
	// ("-" for one missing), and WorkDir the working directory it ran
	// from, for the next build's changesSince.
	Dicts   map[string]string
	WorkDir string
	// contentsRaw, sideRaw and memoRaw are the encoded contents of the
	// probed files, the sidecars and the rewrite memo (see
	// encodeStateBody), read from the body by readBody and decoded by
	// contents, side and memo only when a build needs them: a build that
	// finds nothing changed does not.
	contentsRaw, sideRaw, memoRaw []byte
	readBody                      func() ([]byte, bool)
	bodyRead                      bool // readBody was called: the parts, or bodyErr
	bodyErr                       error
}

type sideRec struct {
	Enc  string
	SHA  string
	Size int64
}

// statRec maps a version of a file (size, times, inode) to its content
// digest. The stat is recorded only for a file last changed more than
// racyWindow before the build started, so that a change within the
// timestamp granularity is never mistaken for no change; a file changed
// since has its digest recorded with a zero stat, which nothing matches
// (the next build reads it again), so that the next build can tell
// whether its content changed (changesSince).
type statRec struct {
	St     fstree.Stat
	Digest string
}

const racyWindow = 2 * time.Second

type savedResult struct {
	Jobs     []JobResult
	Stats    Stats
	Missing  map[string]int
	Warnings []savedWarning
}

type savedWarning struct {
	Diag *diag.Error
	Msg  string
}

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

func (b *build) stateKey() string {
	abs, err := filepath.Abs(b.opts.Output)
	if err != nil {
		abs = b.opts.Output
	}
	return b.key("state", abs)
}

// loadState reads the state's head; its body is read when a part of it
// is first needed (outputState.body).
func (b *build) loadState() *outputState {
	data, ok := b.cache.get("state", b.stateKey())
	if !ok {
		return nil
	}
	st, err := decodeState(data)
	if err != nil {
		b.log.Debug("cache: cannot decode state", "err", err)
		return nil
	}
	st.readBody = func() ([]byte, bool) { return b.cache.get(b.bodyKind(), st.Body) }
	return st
}

// A state is two cache entries. The head ("state", keyed by the output)
// holds what every build reads: a gob of the small fields, then the
// probes and the stat cache in the cache's binary encoding. The body
// (kind bodyKind, under a key of its own that the head names) holds what
// only a build with work to do reads: the content of each probed file
// (so one name of every inode of the output, which is all a build takes
// from it), the sidecars of every content and the rewrite memo. The
// output's list of files is not in the state: build.json has it, and the
// head its digest (List), which is all a build needs on the rare path
// where the probes do not hold.
// The body is written first and gets a new key every time, so a head
// always names a whole body of its own build; a head whose body is
// missing or damaged is no state. Each output's bodies have a directory
// of their own, where a build removes all but its own once its head is
// written: the last build's, and one a killed build left.
//
// encodeStateHead encodes the head.
func encodeStateHead(st *outputState) ([]byte, error) {
	head := *st
	bh := *st.Build
	bh.Files = nil
	head.Build, head.Side, head.Stat, head.Memo, head.Probes = &bh, nil, nil, nil, nil
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&head); err != nil {
		return nil, err
	}
	files := 0
	for _, p := range st.Probes {
		files += len(p.Files)
	}
	e := &enc{b: make([]byte, 0, buf.Len()+binary.MaxVarintLen64+64*len(st.Probes)+64*files+256*len(st.Stat))}
	e.bytes(buf.Bytes())
	e.int(len(st.Probes))
	for _, p := range st.Probes {
		e.str(p.Rel)
		e.node(p.Node)
		e.int(len(p.Files))
		for _, f := range p.Files {
			e.str(f.Name)
			e.node(f.Node)
		}
	}
	e.int(len(st.Stat))
	for abs, r := range st.Stat {
		e.str(abs)
		e.uint(uint64(r.St.Size))
		e.uint(uint64(r.St.Mtime))
		e.uint(uint64(r.St.Ctime))
		e.uint(r.St.Ino)
		e.str(r.Digest)
	}
	return e.b, nil
}

// node encodes a probe's node: its device and stat (the kind is the
// probe's).
func (e *enc) node(n fstree.Node) {
	e.uint(n.Dev)
	e.uint(uint64(n.Stat.Size))
	e.uint(uint64(n.Stat.Mtime))
	e.uint(uint64(n.Stat.Ctime))
	e.uint(n.Stat.Ino)
}

func (d *dec) node(k fstree.Kind) fstree.Node {
	n := fstree.Node{Kind: k, Dev: d.uint()}
	n.Stat.Size, n.Stat.Mtime, n.Stat.Ctime = int64(d.uint()), int64(d.uint()), int64(d.uint())
	n.Stat.Ino = d.uint()
	return n
}

// decodeProbes reads the probes encodeStateHead wrote.
func decodeProbes(d *dec) ([]fstree.DirProbe, error) {
	n := d.count()
	if d.bad {
		return nil, errors.New("truncated probes")
	}
	var probes []fstree.DirProbe
	if n > 0 {
		probes = make([]fstree.DirProbe, 0, n)
	}
	for range n {
		p := fstree.DirProbe{Rel: d.str(), Node: d.node(fstree.Dir)}
		k := d.count()
		if d.bad {
			return nil, errors.New("bad probe")
		}
		if k > 0 {
			p.Files = make([]fstree.FileProbe, 0, k)
		}
		for range k {
			p.Files = append(p.Files, fstree.FileProbe{Name: d.str(), Node: d.node(fstree.File)})
		}
		probes = append(probes, p)
	}
	if d.bad {
		return nil, errors.New("truncated probes")
	}
	return probes, nil
}

// encodeStateBody encodes the first section of the body (enc.section):
// the content of each file probe. The sidecars and the rewrite memo, the
// sections that follow it, are encoded before, by encodeStateSide; the
// body is the two one after the other. A section of its own each, so that
// a build decodes only those it needs.
//
// The contents are looked up on threads workers, and each probe gets a
// digest of its own in the table: the probes are one per inode, and an
// inode is mostly the one copy of its content.
func encodeStateBody(probes []fstree.DirProbe, sumsIn func(dir string) func(name string) string, threads int) []byte {
	start := make([]int, len(probes)+1) // where each probe's files start in sums
	for i, p := range probes {
		start[i+1] = start[i] + len(p.Files)
	}
	n := start[len(probes)]
	sums := make([]string, n) // per file probe, "" for none
	par.For(len(probes), threads, func(i int) {
		sumOf := sumsIn(probes[i].Rel)
		for k, f := range probes[i].Files {
			sums[start[i]+k] = sumOf(f.Name)
		}
	})
	known, size := 0, 0 // the digests in the table, and their encoding's length with the indexes'
	for _, sum := range sums {
		if sum != "" {
			known++
			size += strLen(sum) + uvarintLen(uint64(known))
		} else {
			size++
		}
	}
	e := &enc{b: make([]byte, 0, 8+2*binary.MaxVarintLen64+size)}
	e.section(func() {
		e.int(known)
		for _, sum := range sums {
			if sum != "" {
				e.str(sum)
			}
		}
		e.int(n)
		i := 0 // the table's digests, from 1; 0 for none
		for _, sum := range sums {
			if sum != "" {
				i++
				e.int(i)
			} else {
				e.int(0)
			}
		}
	})
	return e.b
}

// encodeStateSide encodes the sidecars and the rewrite memo, the sections
// of the body that follow the probes' contents.
func encodeStateSide(st *outputState) []byte {
	// The buffer is made to its size: the table of a large matrix is tens
	// of megabytes, which growing would copy several times.
	size := 2 * (8 + binary.MaxVarintLen64) // the two sections' lengths and counts
	for sum, recs := range st.Side {
		size += strLen(sum) + uvarintLen(uint64(len(recs)))
		for _, r := range recs {
			size += strLen(r.Enc) + strLen(r.SHA) + uvarintLen(uint64(r.Size))
		}
	}
	for key, r := range st.Memo {
		size += strLen(key) + strLen(r.Sum) + uvarintLen(uint64(r.Size))
	}
	e := &enc{b: make([]byte, 0, size)}
	e.section(func() {
		e.int(len(st.Side))
		for sum, recs := range st.Side {
			e.str(sum)
			e.int(len(recs))
			for _, r := range recs {
				e.str(r.Enc)
				e.str(r.SHA)
				e.uint(uint64(r.Size))
			}
		}
	})
	e.section(func() {
		e.int(len(st.Memo))
		for key, r := range st.Memo {
			e.str(key)
			e.str(r.Sum)
			e.uint(uint64(r.Size))
		}
	})
	return e.b
}

// contents decodes the content of each file probe, in the order of
// st.Probes' files: its sha256, "" for a file without one (build.json).
func (st *outputState) contents() ([]string, error) {
	if err := st.body(); err != nil {
		return nil, err
	}
	d := sharedDec(st.contentsRaw)
	sums := d.strs()
	n := d.count()
	if d.bad {
		return nil, errors.New("bad list of probed contents")
	}
	want := 0
	for _, p := range st.Probes {
		want += len(p.Files)
	}
	if n != want {
		return nil, fmt.Errorf("the state's body has the contents of %d probed files, its head %d probes", n, want)
	}
	out := make([]string, n)
	for k := range n {
		i := d.int()
		if d.bad || i > len(sums) {
			return nil, errors.New("bad probed content")
		}
		if i > 0 {
			out[k] = sums[i-1]
		}
	}
	if len(d.b) != 0 {
		return nil, errors.New("malformed list of probed contents")
	}
	return out, nil
}

// side decodes the sidecars of each compressed content.
func (st *outputState) side() (map[string][]sideRec, error) {
	if st.Side != nil {
		return st.Side, nil
	}
	if err := st.body(); err != nil {
		return nil, err
	}
	d := sharedDec(st.sideRaw)
	n := d.count()
	if d.bad {
		return nil, errors.New("bad sidecar list")
	}
	side := make(map[string][]sideRec, n)
	for range n {
		sum, k := d.str(), d.count()
		if d.bad {
			return nil, errors.New("bad sidecar entry")
		}
		recs := make([]sideRec, 0, k)
		for range k {
			recs = append(recs, sideRec{Enc: d.str(), SHA: d.str(), Size: int64(d.uint())})
		}
		side[sum] = recs
	}
	if d.bad || len(d.b) != 0 {
		return nil, errors.New("malformed sidecar list")
	}
	st.Side = side
	return side, nil
}

// memo decodes the rewrite memo.
func (st *outputState) memo() (map[string]memoRec, error) {
	if st.Memo != nil {
		return st.Memo, nil
	}
	if err := st.body(); err != nil {
		return nil, err
	}
	d := sharedDec(st.memoRaw)
	n := d.count()
	if d.bad {
		return nil, errors.New("bad rewrite memo")
	}
	memo := make(map[string]memoRec, n)
	for range n {
		key := d.str()
		memo[key] = memoRec{Sum: d.str(), Size: int64(d.uint())}
	}
	if d.bad || len(d.b) != 0 {
		return nil, errors.New("malformed rewrite memo")
	}
	st.Memo = memo
	return memo, nil
}

// body reads the state's body, once.
func (st *outputState) body() error {
	if st.bodyRead {
		return st.bodyErr
	}
	st.bodyRead = true
	data, ok := []byte(nil), false
	if st.readBody != nil {
		data, ok = st.readBody()
	}
	if !ok {
		st.bodyErr = errors.New("the state's body is missing or damaged")
		return st.bodyErr
	}
	st.bodyErr = st.setBody(data)
	return st.bodyErr
}

// setBody takes the sections of an encoded body, to be decoded by
// contents, side and memo.
func (st *outputState) setBody(data []byte) error {
	d := &dec{b: data}
	contents, side, memo := d.section(), d.section(), d.section()
	if d.bad || len(d.b) != 0 {
		return errors.New("truncated state body")
	}
	st.contentsRaw, st.sideRaw, st.memoRaw = contents, side, memo
	return nil
}

// decodeState decodes a state's head (see encodeStateHead); the parts of
// the body are decoded by contents, side and memo, when needed.
func decodeState(data []byte) (*outputState, error) {
	d := sharedDec(data)
	var st outputState
	if err := gob.NewDecoder(bytes.NewReader(d.bytes())).Decode(&st); err != nil {
		return nil, err
	}
	if st.Build == nil {
		return nil, errors.New("no build")
	}
	probes, err := decodeProbes(d)
	if err != nil {
		return nil, err
	}
	st.Probes = probes
	sd := d
	n := sd.count()
	if sd.bad {
		return nil, errors.New("bad stat cache")
	}
	st.Stat = make(map[string]statRec, n)
	for range n {
		abs := sd.str()
		var r statRec
		r.St.Size, r.St.Mtime, r.St.Ctime = int64(sd.uint()), int64(sd.uint()), int64(sd.uint())
		r.St.Ino = sd.uint()
		r.Digest = sd.str()
		st.Stat[abs] = r
	}
	if sd.bad || len(sd.b) != 0 {
		return nil, errors.New("malformed stat cache")
	}
	return &st, nil
}

// digestSources computes the content digest of every source file the
// plan found, through the stat cache, and of the dictionaries.
func (b *build) digestSources(old map[string]statRec) error {
	srcs := map[string]source{}
	for _, l := range b.scanner.layers {
		for _, s := range l {
			srcs[s.Abs] = s
		}
	}
	b.digests = make(map[string]string, len(srcs))
	var mu sync.Mutex
	var errs []error
	var misses []string
	for abs, s := range srcs {
		if r, ok := old[abs]; ok && r.St == s.st && s.st.Ino != 0 {
			b.digests[abs] = r.Digest
		} else {
			misses = append(misses, abs)
		}
	}
	g := b.pool.NewGroupContext(b.ctx)
	for _, abs := range misses {
		g.Submit(func() {
			sd, err := b.read(abs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			b.digests[abs] = sd.digest()
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	b.statCache = make(map[string]statRec, len(srcs))
	limit := b.start.Add(-racyWindow).UnixNano()
	for abs, s := range srcs {
		r := statRec{Digest: b.digests[abs]}
		if s.st.Ino != 0 && s.st.Mtime < limit && s.st.Ctime < limit {
			r.St = s.st
		}
		b.statCache[abs] = r
	}
	return nil
}

// inputsDigest covers everything a successful build's output and summary
// depend on: the version, the configuration and the job list, the options,
// every source file of every scanned directory (path and content), and the
// dictionaries.
func (b *build) inputsDigest() string {
	h := sha256.New()
	o := b.opts
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00config %s\x00strict %v %v\x00cv %q\x00wd %q\x00maps %v\x00tailwind %v\x00",
		cacheFormat, o.Version, o.CacheKey, b.configDigest(), o.StrictI18n, o.Strict, o.ContentVersion, o.WorkDir, o.SourceMaps, !o.NoTailwind)
	for _, k := range slices.Sorted(maps.Keys(b.scanner.layers)) {
		fmt.Fprintf(h, "layer %q\n", k)
		l := b.scanner.layers[k]
		for _, p := range slices.Sorted(maps.Keys(l)) {
			fmt.Fprintf(h, "%q %s %s\n", p, l[p].Abs, b.digests[l[p].Abs])
		}
	}
	for _, f := range slices.Sorted(maps.Keys(b.dictSums)) {
		fmt.Fprintf(h, "dict %q %s\n", f, b.dictSums[f])
	}
	fmt.Fprintf(h, "plan %x\n", b.planSum.Sum(nil))
	return hex.EncodeToString(h.Sum(nil))
}

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

// outputCheck finds out, while the build plans, what the previous output
// offers: the state the last build recorded of it, and whether the output
// is still as written — by the state's probes when they all hold
// (fstree.Check), else by a walk, whose list and fingerprint the build
// then compares with the state.
type outputCheck struct {
	cancel context.CancelFunc
	done   chan struct{}
	loaded chan struct{} // closed once st is loaded
	// decided is closed once probed is set, before a walk: when the
	// probes held, or could not (none, a probe that differs, no output).
	decided chan struct{}
	asked   chan struct{} // closed once the build waits for the verdict (see holdProbes)
	askOnce sync.Once
	st      *outputState
	probed  bool              // the probes held: the output is as written
	tree    []fstree.Entry    // the walk's list, when not probed
	fp      string            // the walk's fingerprint; "": not walked (no state, no output, unreadable)
	probes  []fstree.DirProbe // the walk's probes
}

// startOutputCheck starts the check under ctx: not the build's own, as a
// build that trusted the probes before they were all checked is built
// again with the check's walk when they do not hold (see Build).
func (b *build) startOutputCheck(ctx context.Context) *outputCheck {
	ctx, cancel := context.WithCancel(ctx)
	c := &outputCheck{cancel: cancel, done: make(chan struct{}), loaded: make(chan struct{}),
		decided: make(chan struct{}), asked: make(chan struct{})}
	dir := b.opts.Output
	go func() {
		defer close(c.done)
		decided := false
		decide := func() {
			if !decided {
				decided = true
				close(c.decided)
			}
		}
		defer decide()
		c.st = b.loadState()
		close(c.loaded)
		if c.st == nil {
			return
		}
		if _, err := os.Stat(filepath.Join(dir, manifest.BuildFile)); err != nil {
			return
		}
		if holdProbes.Load() {
			select {
			case <-c.asked:
			case <-ctx.Done():
			}
		}
		if c.st.Probes != nil && fstree.Check(ctx, dir, c.st.Probes) {
			c.probed = true
			return
		}
		decide()
		if tree, fp, probes, err := fstree.WalkProbes(ctx, dir, true, "", nil); err == nil {
			c.tree, c.fp, c.probes = tree, fp.String(), probes
		}
	}()
	return c
}

// state returns the state as soon as it is loaded, while the check may
// still run (it only reads the state's probes).
func (c *outputCheck) state() *outputState {
	<-c.loaded
	return c.st
}

// wait returns the state, once the check is done. The check keeps no
// reference to it: at 2 million files, the state's probes and stat
// cache are tens of megabytes the build must be able to let go.
func (c *outputCheck) wait() *outputState {
	c.ask()
	<-c.done
	st := c.st
	c.st = nil
	return st
}

// holdProbes, set by tests, makes a check's probes wait until the build
// waits for their verdict: a build with work to do then always trusts
// them first (trustProbes), and confirmPrev alone stands between a probe
// that does not hold and the output.
var holdProbes atomic.Bool

// ask tells the check that the build waits for its verdict.
func (c *outputCheck) ask() { c.askOnce.Do(func() { close(c.asked) }) }

// held waits for the probes' verdict: whether they all held.
func (c *outputCheck) held() bool {
	c.ask()
	<-c.decided
	return c.probed
}

// isDecided reports whether the probes' verdict is in.
func (c *outputCheck) isDecided() bool {
	select {
	case <-c.decided:
		return true
	default:
		return false
	}
}

// how names the way the output was found intact, for -v.
func (c *outputCheck) how() string {
	if c.probed {
		return "probes"
	}
	return "walk"
}

// stop ends the check early if the build no longer needs it, and waits
// for it: nothing reads the output once Build has returned.
func (c *outputCheck) stop() {
	c.cancel()
	<-c.done
}

// asRecorded reports whether the tree walked in dir is the one the build
// bm describes: every file of bm.Files at its path with its bytes verified,
// build.json as that build wrote it (as layout describes it), and
// nothing else.
func asRecorded(dir string, tree []fstree.Entry, bm *manifest.Build, layout *buildLayout, inodes *fstree.InodeMap[*verified]) bool {
	dirs := map[string]bool{".": true}
	for rel := range bm.Files {
		addDirs(dirs, rel)
	}
	n, buildFile := 0, false
	for _, e := range tree {
		switch {
		case e.Kind == fstree.Dir:
			if !dirs[e.Rel] {
				return false
			}
		case e.Kind == fstree.File && e.Mode == 0 && e.Rel == manifest.BuildFile:
			if layout == nil || !sameContent(filepath.Join(dir, manifest.BuildFile), e.Inode(), e.Stat, layout.sum(), newLayoutHash(layout), make([]byte, 64<<10)) {
				return false
			}
			buildFile = true
		case e.Kind == fstree.File && e.Mode == 0:
			f, ok := bm.Files[e.Rel]
			if v, _ := inodes.Get(e.Inode()); !ok || v == nil || v.sha != f.SHA256 {
				return false
			}
			n++
		default:
			return false
		}
	}
	return buildFile && n == len(bm.Files)
}

// verifyContent reads each inode of inodes once, through a path of tree
// that has it, and keeps it only if its bytes have the recorded sha256 and
// it did not change between the walk and the read; the others get no sha
// and are not reused. It returns how many inodes it kept.
func verifyContent(dir string, tree []fstree.Entry, inodes *fstree.InodeMap[*verified]) int {
	type check struct {
		k   fstree.Inode
		rel string
		st  fstree.Stat
		sha string
	}
	var todo []check
	seen := make(map[fstree.Inode]bool, inodes.Len())
	for _, e := range tree {
		k := e.Inode()
		if v, ok := inodes.Get(k); ok && v.sha != "" && !seen[k] && e.Kind == fstree.File && e.Mode == 0 {
			seen[k] = true
			todo = append(todo, check{k, e.Rel, e.Stat, v.sha})
		}
	}
	// Biggest first, so the workers finish together.
	slices.SortFunc(todo, func(a, b check) int { return cmp.Compare(b.st.Size, a.st.Size) })
	ok := make([]bool, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(4, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			h := sha256.New()
			buf := make([]byte, 256<<10)
			for {
				n := int(next.Add(1) - 1)
				if n >= len(todo) {
					return
				}
				c := todo[n]
				ok[n] = sameContent(filepath.Join(dir, filepath.FromSlash(c.rel)), c.k, c.st, c.sha, h, buf)
			}
		})
	}
	wg.Wait()
	kept := 0
	for n, c := range todo {
		if ok[n] {
			kept++
		} else {
			v, _ := inodes.Get(c.k)
			v.sha = "" // untrusted
		}
	}
	return kept
}

// sameContent reports whether the file at name is still the inode k with
// stat st (no change since the walk) and holds bytes of sha256 sha.
func sameContent(name string, k fstree.Inode, st fstree.Stat, sha string, h hash.Hash, buf []byte) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fstree.StatOf(fi) != st || fstree.DevOf(fi) != k.Dev {
		return false
	}
	h.Reset()
	// (the wrapper hides File.WriteTo, which would not use buf)
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == sha
}

func (st *outputState) restore() *Result {
	bm := *st.Build
	bm.Files = nil
	r := &Result{Build: &bm, Jobs: st.Result.Jobs, Stats: st.Result.Stats, Missing: st.Result.Missing, UpToDate: true}
	for _, w := range st.Result.Warnings {
		if w.Diag != nil {
			r.Warnings = append(r.Warnings, w.Diag)
		} else {
			r.Warnings = append(r.Warnings, errors.New(w.Msg))
		}
	}
	if r.Missing == nil {
		r.Missing = map[string]int{}
	}
	return r
}

// compKey identifies the compression options.
func (b *build) compKey() string {
	var sb strings.Builder
	for _, e := range b.comp.Encodings {
		fmt.Fprintf(&sb, "%s:%d ", e, b.comp.Levels[e])
	}
	fmt.Fprintf(&sb, "min %d", b.comp.MinSize)
	return sb.String()
}

// saveState records the finished build for the next one. fp is the
// fingerprint of the output as written (see write and
// treeWriter.fingerprint), "" if unknown.
// Any file of the output added, removed, replaced or written to changes
// it, and so does a new hard link to one of its files (a release staged
// from the output by linking): the next build then reads the files back
// (see verifyContent).
func (b *build) saveState(res *Result, fp string, probes []fstree.DirProbe, jobs []string) {
	if fp == "" {
		var err error
		if fp, err = fstree.FingerprintDir(b.opts.Output); err != nil {
			return
		}
	}
	st := outputState{Inputs: b.inputs, OutputFP: fp, CompKey: b.compKey(), Build: res.Build, Jobs: jobs, PrevJobs: b.jobsOld,
		Probes: probes, Stat: b.statCache, Body: b.bodyKey(res.Build.ID), List: b.treeDigest,
		Layout: b.buildLayout, Dicts: b.dictSums, WorkDir: b.opts.WorkDir}
	st.Result = savedResult{Jobs: res.Jobs, Stats: res.Stats, Missing: res.Missing}
	for _, w := range res.Warnings {
		var de *diag.Error
		if errors.As(w, &de) {
			st.Result.Warnings = append(st.Result.Warnings, savedWarning{Diag: de})
		} else {
			st.Result.Warnings = append(st.Result.Warnings, savedWarning{Msg: w.Error()})
		}
	}
	if b.stateBody == nil {
		b.startStateBody()
	}
	contentsDone := make(chan []byte, 1)
	go func() { contentsDone <- encodeStateBody(probes, treeSums(b.outFiles), b.opts.Threads) }()
	head, err := encodeStateHead(&st)
	contents := <-contentsDone
	rest := <-b.stateBody
	if err != nil {
		b.log.Debug("cache: cannot encode state", "err", err)
		return
	}
	b.putState(st.Body, head, contents, rest)
	if stateSaved != nil {
		stateSaved(b.opts.Output, fp, probes)
	}
	b.pruneJobs(b.jobsOlder, append(slices.Clone(jobs), b.jobsOld...))
}

// putState writes a state: the body (its parts one after the other)
// under key first, so that a build killed in between leaves the last
// state and a body no head names, which the next build removes; then the
// head, and the other bodies go.
func (b *build) putState(key string, head []byte, body ...[]byte) {
	b.cache.put(b.bodyKind(), key, body...)
	b.cache.put("state", b.stateKey(), head)
	b.pruneBodies(key)
}

// bodyKey is a new key for a state body of the build id: one per state
// written, never reused.
func (b *build) bodyKey(id string) string { return b.key("statebody", id, newNonce()) }

// stateSaved, when set (by tests), is told the fingerprint and probes a
// build records of the output it swapped in.
var stateSaved func(out, fp string, probes []fstree.DirProbe)

// bodyKind is the cache kind of this output's state bodies: a directory
// of their own (see encodeStateHead).
func (b *build) bodyKind() string { return "statebody/" + b.stateKey()[:32] }

// pruneBodies removes this output's state bodies but keep, and the
// directories they leave empty: each body's key is new, so over hundreds
// of builds its directory would otherwise hold one per two-digit prefix,
// each listed by every build. (Builds of one output do not run at once:
// the output is locked.)
func (b *build) pruneBodies(keep string) {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(b.cache.path(b.bodyKind(), keep))), "*", "*"))
	for _, p := range old {
		if filepath.Base(p) != keep && os.Remove(p) == nil {
			_ = os.Remove(filepath.Dir(p)) // (fails unless empty)
		}
	}
}

// newNonce is 16 random bytes in hex.
func newNonce() string {
	var n [16]byte
	_, _ = rand.Read(n[:])
	return hex.EncodeToString(n[:])
}

// startStateBody encodes the sidecars and the memo of the state's body
// (see encodeStateSide) on a goroutine of its own, while the tree is
// written and fingerprinted.
func (b *build) startStateBody() {
	ch := make(chan []byte, 1)
	b.stateBody = ch
	go func() {
		st := &outputState{Side: make(map[string][]sideRec, len(b.store.blobs)), Memo: b.memoNew}
		for sum, bl := range b.store.blobs {
			if !bl.compress {
				continue
			}
			var recs []sideRec
			for i, e := range bl.encs {
				recs = append(recs, sideRec{Enc: string(e), SHA: bl.sides[i].sum, Size: bl.sides[i].size})
			}
			st.Side[sum] = recs
		}
		ch <- encodeStateSide(st)
	}()
}

// sectionOf frames raw as a section (see enc.section).
func sectionOf(raw []byte) []byte {
	e := &enc{b: make([]byte, 0, 8+len(raw))}
	e.section(func() { e.b = append(e.b, raw...) })
	return e.b
}

// treeSums gives the digest of each file of the tree all lists (sorted by
// sortJobFiles, each job's files by name), directory by directory: sumsIn
// finds the job directory dir is in once, then each name of dir by a
// binary search among the job's files. A name it does not list gets "".
func treeSums(all []jobFiles) func(dir string) func(name string) string {
	jobs := make(map[string]*jobFiles, len(all))
	top := map[string]string{} // the files outside the job directories
	for i := range all {
		if all[i].dir == "" {
			for _, e := range all[i].entries {
				top[e.name] = e.f.SHA256
			}
			continue
		}
		jobs[all[i].dir] = &all[i]
	}
	return func(dir string) func(string) string {
		for d := dir; d != "." && d != "/" && d != ""; d = path.Dir(d) {
			jf, ok := jobs[d]
			if !ok {
				continue
			}
			sub := strings.TrimPrefix(strings.TrimPrefix(dir, d), "/")
			if sub != "" {
				sub += "/"
			}
			return func(name string) string {
				i, ok := slices.BinarySearchFunc(jf.entries, sub+name, func(e fileEntry, n string) int { return strings.Compare(e.name, n) })
				if !ok {
					return ""
				}
				return jf.entries[i].f.SHA256
			}
		}
		return func(name string) string { return top[fstree.JoinRel(dir, name)] }
	}
}

// changesSince tells what changed in the sources, the dictionaries and
// the configuration since the build st records: its sources' digests are
// in its stat cache (every file, see statRec), its dictionaries' in Dicts.
// When the configuration changed, so may the set of files the build
// reads (another job list scans other directories): only the files both
// builds read and whose content changed count then.
func (b *build) changesSince(st *outputState) *Changes {
	c := &Changes{Config: st.Build == nil || st.Build.ConfigDigest != b.configDigest(),
		WorkDir: st.WorkDir != b.opts.WorkDir}
	var sources, dicts []string
	for abs, d := range b.digests {
		r, ok := st.Stat[abs]
		if ok && r.Digest != d || !ok && !c.Config {
			sources = append(sources, abs) // changed, or added
		}
	}
	for abs := range st.Stat {
		if _, ok := b.digests[abs]; !ok && !c.Config {
			sources = append(sources, abs) // removed
		}
	}
	for f := range b.dictSums {
		d, ok := dictDigest(b.dictSums, f)
		was, wasOK := dictDigest(st.Dicts, f)
		if ok && wasOK && d != was || ok != wasOK && !c.Config {
			dicts = append(dicts, f)
		}
	}
	for f := range st.Dicts {
		if _, ok := b.dictSums[f]; !ok && !c.Config {
			if _, was := dictDigest(st.Dicts, f); was {
				dicts = append(dicts, f)
			}
		}
	}
	c.Sources, c.Dictionaries = len(sources), len(dicts)
	for _, list := range [][]string{sources, dicts} {
		names := make([]string, len(list))
		for i, abs := range list {
			names[i] = b.display(abs)
		}
		slices.Sort(names)
		c.Files = append(c.Files, names[:min(len(names), MaxChangedFiles-len(c.Files))]...)
	}
	c.Other = c.Sources == 0 && c.Dictionaries == 0 && !c.Config && !c.WorkDir
	b.log.Debug("cache: changed since the last build", "sources", c.Sources, "dictionaries", c.Dictionaries,
		"config", c.Config, "workdir", c.WorkDir, "other", c.Other, "first", c.Files)
	return c
}

// dictDigest returns a dictionary's digest in m, and whether the file was
// there ("-" records one missing).
func dictDigest(m map[string]string, f string) (string, bool) {
	d, ok := m[f]
	return d, ok && d != "-"
}
