package builder

// The state of an output (kind "state" and its body): what the last
// build of it saw and wrote, its encoding, and how the store stage saves
// it. The plan stage's use of it is in cache_prev.go.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
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
