package builder

import (
	"encoding/hex"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"crypto/sha256"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/internal/par"
	"github.com/scdtool/scd/manifest"
)

// write puts every job's files under tmp, writes build.json and returns
// the result with, when the cache is on, the fingerprint of the tree as
// written and its probes (see fstree.DirProbe; the top directory's is
// stat'ed again by the caller once the tree is swapped in). When spare is
// set, tmp holds the spare tree: what it already has right is kept, the
// rest is removed first (see store_spare.go).
//
// The manifests come first: with them every path and content of the new
// tree is known before anything is written, so build.json is made and
// written while the job directories are.
func (b *build) write(tmp string, spare bool, jobs []*job) (*Result, string, []fstree.DirProbe, error) {
	// The stage's own work on this goroutine; the write tasks add theirs.
	t0 := time.Now()
	fail := func(err error) (*Result, string, []fstree.DirProbe, error) {
		b.clock.since(stWrite, t0)
		return nil, "", nil, err
	}
	if err := b.writeManifests(jobs); err != nil {
		return fail(err)
	}
	b.phase("write: manifests")
	all, tops, cv, err := b.listTree(jobs)
	if err != nil {
		return fail(err)
	}
	tw, err := b.newTree(tmp, spare, all)
	if err != nil {
		return fail(err)
	}
	res, bm := b.summary(jobs, all)
	b.clock.since(stWrite, t0)
	b.phase("write: spare tree checked")
	if b.cache != nil {
		b.startStateBody()
	}
	buildFile := b.startBuildFile(tmp, bm, cv, all)
	outBytes, ok := b.writeJobs(tmp, jobs, tops, tw)
	buildSize, buildErr := buildFile()
	if !ok {
		return nil, "", nil, b.failed()
	}
	t0 = time.Now() // the rest of the stage
	defer func() { b.clock.since(stWrite, t0) }()
	// Every job links what it needs; the spilled names can go now, before
	// the new tree is fingerprinted (an unlink changes the files' ctime).
	b.store.dropSpill()
	if err := b.failed(); err != nil {
		return nil, "", nil, err
	}
	if buildErr != nil {
		return nil, "", nil, buildErr
	}
	b.phase("write: job directories and build.json")
	if tw != nil && tw.spare {
		rec, listed := tw.jobsBy.recorded.Load(), tw.jobsBy.listed.Load()
		b.log.Debug("spare tree: job directories known from its record, and listed", "recorded", rec, "listed", listed)
		if spareJobs != nil {
			spareJobs(rec, listed)
		}
	}
	// The summary is completed while the tree is fingerprinted.
	fp, probes := b.fingerprintTree(tmp, tw, func() { b.addStats(res, all, outBytes+buildSize) })
	return res, fp, probes, nil
}

// writeManifests makes the manifest of every dirty job (a clean job has
// its own from its record).
func (b *build) writeManifests(jobs []*job) error {
	mg := b.pool.NewGroupContext(b.ctx)
	for _, j := range dirtyJobs(jobs) {
		b.task(mg, "manifest "+j.id, func() { b.jobManifest(j) })
	}
	if !b.wait(mg) {
		return b.failed()
	}
	return nil
}

// startBuildFile sets the build's ID and the tree's digest, and writes
// build.json into tmp, on a goroutine of its own: the job directories are
// written meanwhile. The function it returns waits for it.
func (b *build) startBuildFile(tmp string, bm *manifest.Build, cv string, all []jobFiles) func() (int64, error) {
	var (
		size int64
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		defer b.clock.since(stWrite, time.Now())
		b.treeDigest = treeDigest(partsOf(all))
		bm.ID = b.treeDigest[:20]
		bm.ContentVersion = cv
		if bm.ContentVersion == "" {
			bm.ContentVersion = bm.ID[:12]
		}
		var copied int
		size, b.buildLayout, copied, err = writeBuildFile(filepath.Join(tmp, manifest.BuildFile), bm, all, b.prev.buildFile())
		b.log.Debug("build.json: parts copied from the previous output's, and made", "copied", copied, "made", len(all)-copied)
		if buildParts != nil {
			buildParts(copied, len(all)-copied)
		}
	}()
	return func() (int64, error) {
		<-done
		return size, err
	}
}

// fingerprintTree returns, when the cache is on, the fingerprint of the
// tree written in tmp and its probes, or none when the tree cannot be
// fingerprinted; it sets what records the tree (b.treeRecord). The tree
// is fingerprinted, all but build.json, while meanwhile runs; build.json's
// stat is added last.
func (b *build) fingerprintTree(tmp string, tw *treeWriter, meanwhile func()) (string, []fstree.DirProbe) {
	if b.cache == nil {
		meanwhile()
		return "", nil
	}
	var (
		treeFP *fstree.Fingerprint
		probes []fstree.DirProbe
		err    error
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		treeFP, probes, err = tw.fingerprint(tmp, manifest.BuildFile)
	}()
	meanwhile()
	<-done
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Lstat(filepath.Join(tmp, manifest.BuildFile))
	}
	if err != nil {
		b.log.Debug("cache: cannot fingerprint the new output", "err", err)
		return "", nil
	}
	n := fstree.Node{Kind: fstree.File, Stat: fstree.StatOf(fi), Dev: fstree.DevOf(fi)}
	treeFP.Add(manifest.BuildFile, n)
	b.treeRecord = func() []byte { return tw.record(n, b.opts.Threads) }
	return treeFP.String(), withBuildFile(probes, n)
}

// buildParts, when set (by tests), is told how many parts of build.json
// were copied from the previous output's and how many were made.
var buildParts func(copied, made int)

// spareJobs, when set (by tests), is told how many job directories of
// the spare tree were known from its record and how many were listed.
var spareJobs func(recorded, listed int64)

// newTree readies the tree writer: only the cache needs the tree's
// directories (for the fingerprint) and, to update a spare tree, what
// each job directory holds; without it, a large matrix is spared holding
// them. Over a spare tree, what is neither a job directory nor above one
// is removed first.
func (b *build) newTree(tmp string, spare bool, all []jobFiles) (*treeWriter, error) {
	if b.cache == nil {
		return nil, nil
	}
	var verified *fstree.InodeMap[*verified]
	if b.prev != nil {
		verified = b.prev.inodes
	}
	tw := newTreeWriter(spare, verified, all)
	if spare {
		tw.rec = b.spareRecord(tmp) // before pruneAbove removes build.json
		if err := tw.pruneAbove(tmp); err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
	}
	return tw, nil
}

// listTree lists the files of the new tree, job by job, sorted, and the
// files outside the job directories: with Magento's logical names, the
// content version (derived from the jobs' content unless given), which
// goes to the top of the tree since Magento's URLs carry it, and
// Magento_Csp's hashes of the jobs' JavaScript (store_sri.go). It returns the
// content version too.
func (b *build) listTree(jobs []*job) ([]jobFiles, []topFile, string, error) {
	all := make([]jobFiles, len(jobs))
	par.For(len(jobs), b.opts.Threads, func(i int) {
		all[i] = b.jobFileList(jobs[i])
		all[i].part = b.partFor(&all[i])
	})
	cv := b.opts.ContentVersion
	var tops []topFile
	if b.logicalNames {
		sortJobFiles(all)
		// Two passes over every file of the tree, side by side.
		var (
			sris   []topFile
			sriErr error
			done   = make(chan struct{})
		)
		go func() {
			defer close(done)
			sris, sriErr = sriFiles(treeFiles(all))
		}()
		if cv == "" {
			cv = numericVersion(treeDigest(partsOf(all)))
		}
		<-done
		if sriErr != nil {
			return nil, nil, "", sriErr
		}
		tops = append(sris, topFile{rel: manifest.VersionFile, data: []byte(cv)})
	}
	for i, f := range tops {
		tops[i].blob = b.store.putPlain(f.data)
		all = append(all, jobFiles{entries: []fileEntry{{name: f.rel, f: manifest.File{SHA256: tops[i].blob.sum, Size: tops[i].blob.size}}}, at: []int32{0}})
		all[len(all)-1].part = partOf(&all[len(all)-1])
	}
	sortJobFiles(all)
	b.outFiles = all
	return all, tops, cv, nil
}

// summary starts the build's result and build.json: the jobs, their
// files and the phrases they miss.
func (b *build) summary(jobs []*job, all []jobFiles) (*Result, *manifest.Build) {
	bm := &manifest.Build{
		ConfigDigest: b.configDigest(),
		Version:      b.opts.Version,
	}
	res := &Result{Build: bm, Missing: map[string]int{}}
	missingByLocale := map[string]map[string]bool{}
	for _, j := range jobs {
		var n int
		var bytes int64
		for _, o := range j.outputs {
			n++
			bytes += o.blob.size
		}
		bm.Jobs = append(bm.Jobs, manifest.Job{Area: j.Area, Theme: j.Theme, Locale: j.Locale, Dir: j.Dir(),
			Files: n, Bytes: bytes, Missing: len(j.missing)})
		res.Jobs = append(res.Jobs, JobResult{ID: j.id, Files: n, Bytes: bytes, Missing: j.missing, Duration: j.dur})
		if missingByLocale[j.Locale] == nil {
			missingByLocale[j.Locale] = map[string]bool{}
		}
		for _, ph := range j.missing {
			missingByLocale[j.Locale][ph] = true
		}
	}
	for loc, set := range missingByLocale {
		res.Missing[loc] = len(set)
	}
	return res, bm
}

// writeJobs writes every job directory and the files at the top of the
// tree on the pool, and returns the bytes written (links are free).
func (b *build) writeJobs(tmp string, jobs []*job, tops []topFile, tw *treeWriter) (int64, bool) {
	var mu sync.Mutex
	var outBytes int64
	g := b.pool.NewGroupContext(b.ctx)
	for _, j := range jobs {
		b.task(g, "write "+j.id, func() {
			defer b.clock.since(stWrite, time.Now())
			written, err := b.writeJob(tmp, j, tw)
			if err != nil {
				b.fail(fmt.Errorf("%s: write: %w", j.id, err))
				return
			}
			mu.Lock()
			outBytes += written
			mu.Unlock()
		})
	}
	for _, f := range tops {
		b.task(g, "write "+f.rel, func() {
			dst := filepath.Join(tmp, filepath.FromSlash(f.rel))
			err := os.MkdirAll(filepath.Dir(dst), 0o755)
			if err == nil {
				_, err = b.store.write(f.blob, dst)
			}
			if err != nil {
				b.fail(fmt.Errorf("write: %w", err))
				return
			}
			tw.addCreated(f.rel)
		})
	}
	return outBytes, b.wait(g)
}

// addStats completes the result: the warnings, and the totals of what
// was read and written.
func (b *build) addStats(res *Result, all []jobFiles, written int64) {
	if len(b.warnings) > 0 {
		// The same warning comes from every bundle that includes the file.
		res.Warnings = diag.Flatten(joinSorted(b.warnings))
	}
	var outFiles int64
	for _, jf := range all {
		outFiles += int64(len(jf.entries))
	}
	st := &res.Stats
	st.SourceFiles, st.SourceBytes = b.stats.srcFiles.Load(), b.stats.srcBytes.Load()
	st.OutputFiles, st.OutputBytes = outFiles+1, written+b.store.written.Load()
	st.Bundles = b.stats.bundles.Load()
	st.LessCompiles, st.LessExpansions = b.stats.lessRuns.Load(), b.stats.lessExps.Load()
	st.Rewrites, st.RewritesReused = b.stats.rewrites.Load(), b.stats.reused.Load()
	st.JobsReused = b.stats.jobsReused.Load()
	st.UniqueBlobs = int64(len(b.store.blobs))
	for _, bl := range b.store.blobs {
		if len(bl.sides) == 0 {
			continue
		}
		smallest := bl.size
		for _, sc := range bl.sides {
			smallest = min(smallest, sc.size)
		}
		st.Compressible += bl.size
		st.CompressedMin += int64(smallest)
	}
}

// jobManifest makes the blob of the job's manifest.json. The manifest is
// read by servers, not browsers: no sidecars, and not registered for
// compression (which has finished by now).
func (b *build) jobManifest(j *job) {
	es := make([]manifest.Entry, 0, len(j.outputs))
	for _, o := range j.outputs { // sorted by logical path
		if o.logical == manifest.TranslationFile {
			continue
		}
		e := manifest.Entry{Logical: o.logical, Asset: manifest.Asset{File: o.name,
			Integrity: o.blob.integrity(), Size: o.blob.size, Encodings: o.blob.encNames}}
		if n := len(es); n > 0 && es[n-1].Logical == e.Logical {
			es[n-1] = e // not expected: one output per logical path
			continue
		}
		es = append(es, e)
	}
	j.manifest = b.store.putPlain(manifest.MarshalEntries(es))
	b.store.spill(j.manifest) // to disk now: hundreds of jobs' manifests add up
}

// jobFileList lists the files writeJob puts in the job's directory, for
// build.json: each output, its sidecars and the manifest, sorted. Where
// each one went in the sorted list is kept (jobFiles.at), in the order
// writeJob puts them, so that it finds them without a search.
func (b *build) jobFileList(j *job) jobFiles {
	n, size := 0, 0 // entries, and bytes of the sidecars' names
	count := func(name string, bl *blob) {
		n += 1 + len(bl.encs)
		for _, e := range bl.encs {
			size += len(name) + len(e.Ext())
		}
	}
	for _, o := range j.outputs {
		count(o.name, o.blob)
	}
	count(manifest.ManifestFile, j.manifest)
	// The sidecars' names share one buffer, allocated once at its size;
	// bytes appended to it are never written again.
	names := make([]byte, 0, size)
	files := jobFiles{dir: j.Dir(), job: j, entries: make([]fileEntry, 0, n)}
	order, src := byName(j)
	for _, i := range order {
		name, bl := j.fileOf(i)
		files.entries = append(files.entries, fileEntry{name, manifest.File{SHA256: bl.sum, Size: bl.size}, src[i]})
		var buf [4]int
		for _, k := range byExt(bl.encs, buf[:0]) {
			start := len(names)
			names = append(append(names, name...), bl.encs[k].Ext()...)
			files.entries = append(files.entries, fileEntry{frozen(names[start:]), manifest.File{SHA256: bl.sides[k].sum, Size: bl.sides[k].size}, src[i] + 1 + int32(k)})
		}
	}
	sorted := func(x, y fileEntry) int { return strings.Compare(x.name, y.name) }
	if !slices.IsSortedFunc(files.entries, sorted) {
		slices.SortFunc(files.entries, sorted)
	}
	files.at = make([]int32, len(files.entries))
	for i, e := range files.entries {
		files.at[e.src] = int32(i)
	}
	return files
}

// byName orders a job's files for jobFileList. Each output comes with
// its sidecars, whose names follow its own in sorted order but for a name
// between them (a.js, a.js-min.js, a.js.br): the outputs (and the
// manifest, index len(j.outputs)) are sorted by name, each to be followed
// by its sidecars by extension, and jobFileList sorts the whole list only
// when that is not the order. src gives the place of each one's first
// file in writeJob's order: each output and its sidecars in encoding
// order, the manifest last.
func byName(j *job) (order, src []int32) {
	src = make([]int32, len(j.outputs)+1)
	order = make([]int32, len(j.outputs)+1)
	next := int32(0)
	for i, o := range j.outputs {
		src[i], order[i] = next, int32(i)
		next += 1 + int32(len(o.blob.encs))
	}
	src[len(j.outputs)], order[len(j.outputs)] = next, int32(len(j.outputs))
	slices.SortFunc(order, func(x, y int32) int {
		a, _ := j.fileOf(x)
		b, _ := j.fileOf(y)
		return strings.Compare(a, b)
	})
	return order, src
}

// fileOf is the name and content of the job's output i, or of its
// manifest for i = len(j.outputs).
func (j *job) fileOf(i int32) (string, *blob) {
	if int(i) == len(j.outputs) {
		return manifest.ManifestFile, j.manifest
	}
	return j.outputs[i].name, j.outputs[i].blob
}

// byExt appends to idx the indexes of encs in the order of their
// extensions.
func byExt(encs []precompress.Encoding, idx []int) []int {
	for i := range encs {
		idx = append(idx, i)
		for k := i; k > 0 && encs[idx[k]].Ext() < encs[idx[k-1]].Ext(); k-- {
			idx[k], idx[k-1] = idx[k-1], idx[k]
		}
	}
	return idx
}

// writeJob writes one job directory, the files jobFileList lists, and
// returns the bytes actually written (links are free).
func (b *build) writeJob(tmp string, j *job, tw *treeWriter) (int64, error) {
	dir := filepath.Join(tmp, filepath.FromSlash(j.Dir()))
	var written int64
	var jt *jobTree
	if tw != nil {
		jt = tw.job(j)
		if tw.spare {
			if err := tw.prune(tmp, jt); err != nil {
				return 0, err
			}
		}
	}
	// Directories are made parent first, one mkdir each.
	made := map[string]bool{tmp: true}
	var mkdir func(d string) error
	mkdir = func(d string) error {
		if made[d] {
			return nil
		}
		if err := mkdir(filepath.Dir(d)); err != nil {
			return err
		}
		if err := os.Mkdir(d, 0o755); err == nil {
			if rel, ok := strings.CutPrefix(d, dir+string(filepath.Separator)); ok {
				tw.changedIn(jt, filepath.ToSlash(rel))
			}
		} else if !os.IsExist(err) {
			return err
		}
		made[d] = true
		return nil
	}
	next := 0 // in the order of jobFileList's entries, before their sort
	put := func(name string, bl *blob) error {
		var at []int32 // where name and its sidecars are in jt.files
		if jt != nil {
			at = jt.at[next : next+1+len(bl.encs)]
			next += len(at)
		}
		keep, err := tw.keepAll(tmp, jt, at)
		if err != nil {
			return err
		}
		if keep {
			b.store.kept(bl, func() string { return filepath.Join(dir, filepath.FromSlash(name)) })
			return nil
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := mkdir(filepath.Dir(dst)); err != nil {
			return err
		}
		fresh, err := b.store.write(bl, dst)
		if err != nil {
			return err
		}
		tw.changedIn(jt, name)
		if tw != nil && tw.spare {
			rels := []string{fstree.JoinRel(j.Dir(), name)}
			for _, e := range bl.encs {
				rels = append(rels, fstree.JoinRel(j.Dir(), name+e.Ext()))
			}
			tw.addCreated(rels...)
		}
		if fresh {
			written += bl.size
			for _, sc := range bl.sides {
				written += sc.size
			}
		}
		return nil
	}
	for _, o := range j.outputs {
		if err := put(o.name, o.blob); err != nil {
			return 0, err
		}
	}
	if err := put(manifest.ManifestFile, j.manifest); err != nil {
		return 0, err
	}
	return written, nil
}

// jobFiles lists the files of one job directory for build.json, named
// relative to it, sorted (jobFileList).
type jobFiles struct {
	dir     string
	job     *job // nil for a file outside the job directories
	entries []fileEntry
	part    buildPart // its part of build.json (store_buildfile.go)
	// at holds, for each file in the order it was added, its index in
	// entries.
	at []int32
}

type fileEntry struct {
	name string
	f    manifest.File
	src  int32 // its place in writeJob's order (see jobFileList)
}

// sortJobFiles sorts job file lists so that treeFiles yields sorted paths:
// by directory and "/" ("en_US-x/" sorts before "en_US/", as their files
// do). A list of dir "" (a file outside the job directories:
// deployed_version.txt, an area's sri-hashes.json) has one file, which
// sorts by its path.
func sortJobFiles(all []jobFiles) {
	slices.SortFunc(all, func(x, y jobFiles) int { return strings.Compare(x.key(), y.key()) })
}

// key is where the list sorts in the tree: its directory, or the path of
// a file outside the job directories.
func (jf *jobFiles) key() string {
	if jf.dir == "" {
		return jf.entries[0].name
	}
	return jf.dir + "/"
}

// topFile is a file of the tree outside the job directories
// (deployed_version.txt, an area's sri-hashes.json), at rel.
type topFile struct {
	rel  string
	data []byte
	blob *blob
}

// numericVersion turns a build id into a content version of digits, as
// Magento's are (its nginx and Apache rules match version\d*/): the first
// 32 bits of the id in decimal. The same content gives the same version.
func numericVersion(id string) string {
	n, _ := strconv.ParseUint(id[:8], 16, 32)
	return strconv.FormatUint(n, 10)
}

// treeFiles yields the files of every job, with their paths in the tree,
// in sorted order when all is sorted by sortJobFiles: job directories do
// not nest, so their files sort job by job. A path's bytes are valid
// during its step only: the next one reuses them, so that a pass over a
// large tree makes no string per file.
func treeFiles(all []jobFiles) iter.Seq2[[]byte, manifest.File] {
	return func(yield func([]byte, manifest.File) bool) {
		for i := range all {
			for p, f := range all[i].files() {
				if !yield(p, f) {
					return
				}
			}
		}
	}
}

// files yields jf's files with their paths in the tree, as treeFiles.
func (jf *jobFiles) files() iter.Seq2[[]byte, manifest.File] {
	return func(yield func([]byte, manifest.File) bool) {
		var p []byte
		if jf.dir != "" {
			p = append(append(p, jf.dir...), '/')
		}
		n := len(p)
		for _, e := range jf.entries {
			p = append(p[:n], e.name...)
			if !yield(p, e.f) {
				return
			}
		}
	}
}

// configDigest covers the configuration and every option that changes
// the output.
func (b *build) configDigest() string {
	h := sha256.New()
	fmt.Fprintf(h, "config %s\n", b.cfg.Digest())
	var ids []string
	for _, j := range b.opts.Jobs {
		ids = append(ids, j.ID())
	}
	sort.Strings(ids)
	fmt.Fprintf(h, "jobs %s\nskip %+v\n", strings.Join(ids, ","), b.opts.Skip)
	return hex.EncodeToString(h.Sum(nil))
}

// withBuildFile adds build.json to the probe of the top of the tree; the
// probes are dropped (nil) when there is none.
func withBuildFile(probes []fstree.DirProbe, n fstree.Node) []fstree.DirProbe {
	for i := range probes {
		if probes[i].Rel == "." {
			probes[i].Files = append(probes[i].Files, fstree.FileProbe{Name: manifest.BuildFile, Node: n})
			return probes
		}
	}
	return nil
}
