package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/scdtool/scd/diag"
)

// The job records. Every job of a build with the cache gets a digest of
// all its output depends on (jobDigests): scd's version and the options
// that change what a job publishes, each layer of its fallback chain with
// the path and content digest of every file in it, in order, its
// dictionaries and its theme's requirejs-config.js inputs with their
// digests, its theme's Tailwind inputs, the less.js that compiles its
// stylesheets. A successful build records, under that digest, what the
// job published: each file's logical path, name, content digest and size,
// its manifest's digest, the phrases it misses, its warnings and the
// rewrites of the memo it used (keepJobs).
//
// A rebuild computes the digests again; a job whose digest has a record
// and whose every recorded content the verified previous output holds is
// clean: it takes its files from the record (linked from the previous
// output like any reused content) and is neither compiled, nor assembled,
// nor given a new manifest. Only the jobs a change reaches do that work.
//
// A record names contents by digest only: no path, inode or time of this
// machine is in it. The digest names directories as messages do, relative
// to the working directory (the recorded warnings name files so), and the
// working directory itself only with --source-maps (whose maps name the
// sources): the same project checked out elsewhere and built from the
// same place in it has the same digests. Records are cache entries
// (written whole to a temporary file and renamed, checked by CRC-32C on
// read), so a build killed while writing one leaves none or a whole one;
// a damaged one is removed and its job built, and a record whose contents
// the previous output does not have (a build killed before its swap, an
// output changed by hand) makes its job build too. The state of the
// output lists the records of its last two builds; older ones are removed
// (pruneJobs).

// jobRec is one job's record.
type jobRec struct {
	outputs  []recFile
	manifest recFile
	missing  []string
	memo     []memoEntry
	warnings []savedWarning
	// packKeys are the pack entries of its compiled stylesheets (LESS,
	// Tailwind) and of its scripts' lookups (cache_memo.go): kept while
	// the job is clean, so that the build that next reaches it does not
	// compile them again, nor translate the scripts a change misses.
	packKeys []string
}

type recFile struct {
	logical, name string
	sum           string // hex sha256
	size          int64
}

// jobDigests gives every job its digest (see above).
func (b *build) jobDigests(jobs []*job, themes map[string]*themeState) {
	o := b.opts
	g := sha256.New()
	fmt.Fprintf(g, "%s\x00%s\x00%s\x00config %s\x00skip %+v\x00strict %v %v\x00maps %v\x00tailwind %v\x00names %v %v\x00comp %s\x00",
		cacheFormat, o.Version, o.CacheKey, b.cfg.Digest(), o.Skip, o.StrictI18n, o.Strict, o.SourceMaps, !o.NoTailwind,
		b.logicalNames, b.embedded, b.compKey())
	if o.SourceMaps {
		fmt.Fprintf(g, "wd %q\x00", o.WorkDir)
	}
	for _, ts := range themes {
		if ts.styles != nil {
			fmt.Fprintf(g, "less %s\x00", b.lessVersion())
			break
		}
	}
	global := g.Sum(nil)

	layerSums := map[string][]byte{}
	layerSum := func(dir, skip string) []byte {
		key := layerKey(dir, skip)
		if s, ok := layerSums[key]; ok {
			return s
		}
		h := sha256.New()
		l := b.scanner.layers[key]
		paths := make([]string, 0, len(l))
		for p := range l {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		for _, p := range paths {
			fmt.Fprintf(h, "%q %s\n", p, b.digests[l[p].Abs])
		}
		s := h.Sum(nil)
		layerSums[key] = s
		return s
	}
	for _, j := range jobs {
		ts := themes[themeKey(j.Job)]
		h := sha256.New()
		h.Write(global)
		fmt.Fprintf(h, "job %s\n", j.id)
		for _, ly := range j.layers {
			fmt.Fprintf(h, "layer %q %q %q %v %x\n", b.display(ly.Dir), ly.Prefix, ly.Skip, ly.Locale, layerSum(ly.Dir, ly.Skip))
		}
		for _, f := range j.dictFiles {
			fmt.Fprintf(h, "dict %q %s\n", b.display(f), b.dictSums[f])
		}
		for _, f := range ts.requirejs {
			fmt.Fprintf(h, "requirejs %q %q %s\n", f.Name, f.Module, b.dictSums[f.Path])
		}
		if tw := b.twThemes[ts]; tw != nil {
			if tw.build != nil {
				fmt.Fprintf(h, "tailwind %s\n", tw.build.digest)
			} else {
				fmt.Fprintf(h, "tailwind off\n")
			}
		}
		j.digest = hex.EncodeToString(h.Sum(nil))
	}
}

func (b *build) jobKey(digest string) string { return b.key("job", digest) }

// recallJobs marks clean the jobs whose record the cache has and whose
// contents the previous output holds, and gives them their files.
func (b *build) recallJobs(jobs []*job) {
	if b.prev == nil {
		return
	}
	var found atomic.Int64
	g := b.pool.NewGroupContext(b.ctx)
	for _, j := range jobs {
		g.Submit(func() {
			data, ok := b.cache.get("job", b.jobKey(j.digest))
			if !ok {
				return
			}
			found.Add(1)
			rec, err := decodeJobRec(data)
			if err != nil {
				b.log.Debug("cache: cannot decode a job record; building the job", "job", j.id, "err", err)
				return
			}
			if b.restoreJob(j, rec) {
				b.stats.jobsReused.Add(1)
			}
		})
	}
	g.Wait() // a cancelled build stops after the plan stage
	// A record whose contents the previous output lacks is not restored:
	// its job changed since the build before last, or the output did.
	b.log.Debug("cache: job records", "jobs", len(jobs), "found", found.Load(), "restored", b.stats.jobsReused.Load())
	if b.stats.jobsReused.Load() == 0 {
		return
	}
	// The clean jobs' leaves have unchanged sources: their pack entries
	// are the ones the plan's digests name. The keys are wanted only when
	// the pack is saved (savePack waits for them).
	b.packClaim = map[string]bool{}
	done := make(chan struct{})
	b.leafClaims = done
	go func() {
		defer close(done)
		seen := map[*leafOnce]bool{}
		for _, j := range jobs {
			if !j.clean {
				continue
			}
			for _, k := range j.packKeys {
				b.packClaim[k] = true
			}
			for _, jl := range j.leaves {
				if seen[jl.leaf] {
					continue
				}
				seen[jl.leaf] = true
				if d, ok := b.digests[jl.leaf.src.Abs]; ok {
					b.packClaim["leaf/"+b.leafKey(d, jl.leaf.kind)] = true
				}
			}
		}
	}()
}

// restoreJob gives a clean job the files of its record; it reports false,
// and leaves the job as it was, when the previous output lacks one. Jobs
// are restored concurrently.
func (b *build) restoreJob(j *job, rec *jobRec) bool {
	if !b.prev.has(rec.manifest.sum) {
		return false
	}
	for _, f := range rec.outputs {
		if !b.prev.has(f.sum) {
			return false
		}
	}
	j.outputs = make([]output, len(rec.outputs))
	for i, f := range rec.outputs {
		j.outputs[i] = output{logical: f.logical, name: f.name, blob: b.store.putHeld(f.sum, f.size, f.logical)}
	}
	j.manifest = b.store.putHeldPlain(rec.manifest.sum, rec.manifest.size)
	j.missing, j.memo, j.packKeys, j.clean = rec.missing, rec.memo, rec.packKeys, true
	b.stats.reused.Add(int64(len(rec.memo))) // its rewrites, all from the previous output
	// Not compiled nor assembled; its leaves stay listed for the pack
	// (above), its entries for the bundles of its theme that a child
	// theme's jobs may reuse (bundleThemes).
	j.lessRoots, j.styles = nil, nil
	b.memoMu.Lock()
	for _, e := range rec.memo {
		b.memoNew[e.key] = e.rec
	}
	b.memoMu.Unlock()
	for _, w := range rec.warnings {
		b.warn(w.restore())
	}
	return true
}

// dirtyJobs returns the jobs a rebuild compiles and assembles.
func dirtyJobs(jobs []*job) []*job {
	return slices.DeleteFunc(slices.Clone(jobs), func(j *job) bool { return j.clean })
}

// bundleThemes returns the themes whose base bundles the build needs:
// those with a job to assemble, and their ancestors, whose bundles a
// child's jobs reuse when the child does not override their inputs.
func bundleThemes(themes map[string]*themeState) map[*themeState]bool {
	need := map[*themeState]bool{}
	for _, ts := range themes {
		if allClean(ts) {
			continue
		}
		for _, t := range ts.chain {
			if anc := themes[t.Area+"/"+t.Name]; anc != nil {
				need[anc] = true
			}
		}
	}
	return need
}

// allClean reports whether no job of the theme is to be assembled (true
// for a theme without jobs).
func allClean(ts *themeState) bool {
	return !slices.ContainsFunc(ts.jobs, func(j *job) bool { return !j.clean })
}

// keepJobs records every job the build assembled, under its digest, from
// the build's result (its warnings).
func (b *build) keepJobs(jobs []*job, res *Result) {
	warnings := map[string][]savedWarning{}
	for _, w := range res.Warnings {
		var de *diag.Error
		if errors.As(w, &de) && de.Scope != "" {
			warnings[de.Scope] = append(warnings[de.Scope], savedWarning{Diag: de})
		}
	}
	g := b.pool.NewGroupContext(b.ctx)
	for _, j := range jobs {
		if j.clean || j.digest == "" {
			continue
		}
		rec := &jobRec{manifest: recFile{sum: j.manifest.sum, size: j.manifest.size}, missing: j.missing,
			memo: j.memo, warnings: warnings[j.id]}
		for _, out := range j.styles {
			if out != nil && out.packKey != "" {
				rec.packKeys = append(rec.packKeys, out.packKey)
			}
		}
		for _, sh := range j.sheets {
			if sh.out.packKey != "" {
				rec.packKeys = append(rec.packKeys, sh.out.packKey)
			}
		}
		rec.packKeys = append(rec.packKeys, j.asks...)
		rec.outputs = make([]recFile, len(j.outputs))
		for i, o := range j.outputs {
			rec.outputs[i] = recFile{logical: o.logical, name: o.name, sum: o.blob.sum, size: o.blob.size}
		}
		g.Submit(func() {
			data, err := encodeJobRec(rec)
			if err != nil {
				b.log.Debug("cache: cannot encode a job record", "job", j.id, "err", err)
				return
			}
			b.cache.put("job", b.jobKey(j.digest), data)
		})
	}
	g.Wait()
}

// jobDigestList lists the digests of the build's jobs, for the state.
func jobDigestList(jobs []*job) []string {
	var out []string
	for _, j := range jobs {
		if j.digest != "" {
			out = append(out, j.digest)
		}
	}
	return out
}

// pruneJobs removes the records of the build before last (old) that
// neither this build nor the last one lists (keep).
func (b *build) pruneJobs(old, keep []string) {
	for _, d := range old {
		if !slices.Contains(keep, d) {
			os.Remove(b.cache.path("job", b.jobKey(d)))
		}
	}
}

// packCarried reports whether a pack entry of the last build that this
// one did not ask for stays in the pack: when some jobs are clean, their
// leaves and compiled stylesheets (packClaim), and the entries keyed by what they
// are of rather than by content (a bundle's by its entry and file set, a
// LESS expansion's by its root and file set), which a new version
// replaces, so that keeping them never grows the pack past the matrix.
func (b *build) packCarried(k string) bool {
	if len(b.packClaim) == 0 {
		return false
	}
	kind, _, _ := strings.Cut(k, "/")
	return kind == "bundle" || kind == "lessdeps" || b.packClaim[k]
}

func (w savedWarning) restore() error {
	if w.Diag != nil {
		return w.Diag
	}
	return errors.New(w.Msg)
}

// encodeJobRec encodes a record: digests as their 32 bytes, a name only
// when it is not the logical path, the warnings (rare) as gob.
func encodeJobRec(r *jobRec) ([]byte, error) {
	e := &enc{b: make([]byte, 0, 64+96*len(r.outputs)+80*len(r.memo))}
	file := func(f recFile) error {
		sum, err := hex.DecodeString(f.sum)
		if err != nil || len(sum) != sha256.Size {
			return fmt.Errorf("bad digest %q", f.sum)
		}
		e.b = append(e.b, sum...)
		e.uint(uint64(f.size))
		return nil
	}
	e.int(len(r.outputs))
	for _, f := range r.outputs {
		e.str(f.logical)
		if f.name == f.logical {
			e.str("")
		} else {
			e.str(f.name)
		}
		if err := file(f); err != nil {
			return nil, err
		}
	}
	if err := file(r.manifest); err != nil {
		return nil, err
	}
	e.strs(r.missing)
	e.int(len(r.memo))
	for _, m := range r.memo {
		e.str(m.key)
		if err := file(recFile{sum: m.rec.Sum, size: m.rec.Size}); err != nil {
			return nil, err
		}
	}
	e.strs(r.packKeys)
	var w bytes.Buffer
	if len(r.warnings) > 0 {
		if err := gob.NewEncoder(&w).Encode(r.warnings); err != nil {
			return nil, err
		}
	}
	e.bytes(w.Bytes())
	return e.b, nil
}

func decodeJobRec(data []byte) (*jobRec, error) {
	// Its strings are cut from the record's bytes (sharedDec), and its
	// digests, each 64 hex digits, from one string of them per list: a
	// record of thousands of files is a few allocations, not three per
	// file.
	d := sharedDec(data)
	var digits []byte
	file := func() recFile {
		if len(d.b) < sha256.Size {
			d.bad = true
			return recFile{}
		}
		digits = hex.AppendEncode(digits, d.b[:sha256.Size])
		d.b = d.b[sha256.Size:]
		return recFile{size: int64(d.uint())}
	}
	sums := func() func(i int) string { // the i-th digest of the list since the last call
		all := frozen(digits)
		digits = nil // all holds its bytes: the next list gets a buffer of its own
		return func(i int) string {
			if (i+1)*2*sha256.Size > len(all) {
				return ""
			}
			return all[i*2*sha256.Size : (i+1)*2*sha256.Size]
		}
	}
	r := &jobRec{}
	n := d.count()
	if d.bad {
		return nil, errors.New("truncated job record")
	}
	r.outputs = make([]recFile, 0, n)
	digits = make([]byte, 0, (n+1)*2*sha256.Size)
	for range n {
		logical, name := d.str(), d.str()
		if name == "" {
			name = logical
		}
		f := file()
		f.logical, f.name = logical, name
		r.outputs = append(r.outputs, f)
	}
	r.manifest = file()
	sum := sums()
	for i := range r.outputs {
		r.outputs[i].sum = sum(i)
	}
	r.manifest.sum = sum(len(r.outputs))
	r.missing = d.strs()
	n = d.count()
	if d.bad {
		return nil, errors.New("truncated job record")
	}
	digits = make([]byte, 0, n*2*sha256.Size)
	for range n {
		key := d.str()
		f := file()
		r.memo = append(r.memo, memoEntry{key, memoRec{Size: f.size}})
	}
	sum = sums()
	for i := range r.memo {
		r.memo[i].rec.Sum = sum(i)
	}
	r.packKeys = d.strs()
	w := d.bytes()
	if d.bad || len(d.b) != 0 {
		return nil, errors.New("malformed job record")
	}
	if len(w) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(w)).Decode(&r.warnings); err != nil && err != io.EOF {
			return nil, err
		}
	}
	return r, nil
}
