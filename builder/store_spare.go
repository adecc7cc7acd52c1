package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/internal/par"
)

// The spare tree (see the package documentation): with the cache on, the
// tree a swap replaced is kept beside the output as .<name>.prev, and the
// next build updates it into the new tree instead of writing one from
// nothing. Its content is never trusted: a file of it is kept only when
// it is one of the inodes of the verified current output (prev.inodes)
// and build.json gives that inode the bytes the new build wants at its
// path. Everything else in it is removed and written again, so a spare
// tree that is stale, half updated by a failed build, or edited by hand
// costs time, never correctness.

// spareDir is where the tree replaced by the last swap is kept.
func spareDir(out string) string {
	return filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".prev")
}

// takeSpare returns the directory the build writes into: the spare tree,
// renamed to a temporary name first so that a build killed while updating
// it leaves only a .tmp-* directory (removed by the next build's
// lockOutput), or a new empty directory. spare reports which.
func takeSpare(out string, useSpare bool) (dir string, spare bool, err error) {
	if useSpare {
		sp := spareDir(out)
		if st, err := os.Lstat(sp); err == nil {
			if !st.IsDir() {
				_ = os.Remove(sp)
			} else {
				var r [8]byte
				_, _ = rand.Read(r[:])
				dir := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp-"+hex.EncodeToString(r[:]))
				if err := os.Rename(sp, dir); err == nil {
					return dir, true, nil
				}
			}
		}
	}
	dir, err = tempDir(out)
	return dir, false, err
}

// releaseTemp disposes of the write directory of a build that did not
// swap it in: a spare tree goes back to being the spare tree (whatever its
// state, it is checked before use), anything else is removed.
func releaseTemp(dir, out string, keep bool) {
	if _, err := os.Lstat(dir); err != nil {
		return // swapped in, or already gone
	}
	if keep {
		if _, err := os.Lstat(spareDir(out)); os.IsNotExist(err) && os.Rename(dir, spareDir(out)) == nil {
			return
		}
	}
	_ = os.RemoveAll(dir)
}

// treeWriter tracks the update of the write directory into the new tree,
// so that the tree's fingerprint can be computed instead of walked: a file
// kept from the spare tree is an inode of the verified output whose stat
// is known, unless this build changed its links; everything else was
// created by this build and is stat'ed once at the end.
//
// The work is per job directory (job directories do not nest): each write
// task prunes its own directory of the spare tree, then writes it, so a
// large matrix updates its spare tree on every worker and no map of the
// whole tree's paths is built.
type treeWriter struct {
	spare    bool                        // the write directory holds the spare tree
	verified *fstree.InodeMap[*verified] // the previous output's files (read only but for their probed flag); nil: none
	jobs     map[string]*jobTree         // by job directory
	above    map[string]bool             // the directories above job directories, "." included

	rec    *treeRecord // the spare tree's record, when it is this spare tree's
	probes *probeSet   // the new tree's, once fingerprint made them
	// odd is set when the walk of a tree written whole found in a job
	// directory what the build did not put there: no record of it.
	odd    atomic.Bool
	jobsBy struct { // how prune learnt what job directories held
		recorded, listed atomic.Int64
	}

	mu      sync.Mutex
	touched fstree.InodeMap[bool] // inodes of the spare tree whose links this build changed
	created []string              // paths this build wrote or linked
}

// jobTree is one job directory of the new tree.
type jobTree struct {
	dir   string          // relative to the tree
	files []fileEntry     // what the build puts there, sorted by name (jobFileList)
	at    []int32         // where each of files is in it, in the order writeJob puts them
	dirs  map[string]bool // the directories in dir, "." included
	// kept holds, for each of files, the spare tree's file that stays as
	// it is there; the zero keptFile where there is none.
	kept []keptFile
	// listed holds the directories of the spare tree's job directory as
	// prune listed them, by path in it ("." for itself), and changed
	// those this build has since added an entry to or removed one from:
	// the others are as listed, and need no stat for their probes.
	listed  map[string]fstree.Node
	changed map[string]bool
	// inos holds the inode of each of files once the tree is written
	// (fingerprint), for its record (store_record.go).
	inos []uint64
}

// keptFile is a file of the spare tree that stays: one of the verified
// output's inodes.
type keptFile struct {
	ino fstree.Inode
	v   *verified
}

// newTreeWriter readies the update of a tree into the one all lists (the
// job directories' files, listTree's).
func newTreeWriter(spare bool, verified *fstree.InodeMap[*verified], all []jobFiles) *treeWriter {
	tw := &treeWriter{spare: spare, verified: verified, jobs: make(map[string]*jobTree, len(all)),
		above: map[string]bool{".": true}}
	for _, jf := range all {
		if jf.dir == "" {
			continue // a file outside the job directories
		}
		tw.jobs[jf.dir] = &jobTree{dir: jf.dir, files: jf.entries, at: jf.at}
		addDirs(tw.above, jf.dir)
	}
	return tw
}

// find returns the index of name in jt.files, -1 if the build puts
// nothing there.
func (jt *jobTree) find(name string) int {
	i, ok := slices.BinarySearchFunc(jt.files, name, func(e fileEntry, n string) int { return strings.Compare(e.name, n) })
	if !ok {
		return -1
	}
	return i
}

// compareBytes is strings.Compare(s, string(b)) without converting b.
func compareBytes(s string, b []byte) int {
	switch {
	case s == string(b):
		return 0
	case s < string(b):
		return -1
	}
	return 1
}

// addDirs records the directories above rel.
func addDirs(dirs map[string]bool, rel string) {
	for d := path.Dir(rel); d != "." && !dirs[d]; d = path.Dir(d) {
		dirs[d] = true
	}
}

// job returns the job's directory, readied for its write: the
// directories its files are in.
func (tw *treeWriter) job(j *job) *jobTree {
	jt := tw.jobs[j.Dir()]
	jt.dirs = map[string]bool{".": true}
	last := ""
	for _, f := range jt.files {
		// (sorted: the files of a directory mostly follow one another)
		if d := path.Dir(f.name); d != last {
			addDirs(jt.dirs, f.name)
			last = d
		}
	}
	if tw.spare {
		jt.kept = make([]keptFile, len(jt.files))
		jt.inos = make([]uint64, len(jt.files))
		jt.changed = map[string]bool{}
	}
	return jt
}

// changedIn records that this build added or removed rel, a path in the
// job's directory (jt, of this build's task alone), in the spare tree.
func (tw *treeWriter) changedIn(jt *jobTree, rel string) {
	if tw != nil && tw.spare {
		jt.changed[path.Dir(rel)] = true
	}
}

// pruneAbove removes from the spare tree at dir everything that is neither
// a job directory of the new tree nor above one (files at the top, such as
// build.json, included): job directories are pruned by their jobs.
func (tw *treeWriter) pruneAbove(dir string) error {
	var walk func(rel string) error
	walk = func(rel string) error {
		abs := filepath.Join(dir, filepath.FromSlash(rel))
		fd, err := fstree.OpenDir(abs)
		if err != nil {
			return err
		}
		var here []fstree.Dirent
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err == nil {
			dev := uint64(st.Dev)
			err = fstree.ReadDirents(fd, make([]byte, 16<<10), func(name string, typ byte, ino uint64) {
				e := fstree.Dirent{Rel: fstree.JoinRel(rel, name), Type: typ, Ino: fstree.Inode{Dev: dev, Ino: ino}}
				here = append(here, e)
			})
		}
		unix.Close(fd)
		if err != nil {
			return &os.PathError{Op: "getdents", Path: abs, Err: err}
		}
		for _, e := range here {
			if e.Type == unix.DT_UNKNOWN { // file systems without d_type
				if fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(e.Rel))); err == nil && fi.IsDir() {
					e.Type = unix.DT_DIR
				}
			}
			if _, ok := tw.jobs[e.Rel]; ok && e.Type == unix.DT_DIR {
				continue
			}
			if tw.above[e.Rel] && e.Type == unix.DT_DIR {
				if err := walk(e.Rel); err != nil {
					return err
				}
				continue
			}
			if err := tw.remove(dir, e.Rel, e.Type, e.Ino); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(".")
}

// remove deletes one entry of the spare tree, a directory with all it
// holds, and records the inodes whose links it changed.
func (tw *treeWriter) remove(dir, rel string, typ byte, ino fstree.Inode) error {
	abs := filepath.Join(dir, filepath.FromSlash(rel))
	if typ == unix.DT_DIR || typ == unix.DT_UNKNOWN {
		if fi, err := os.Lstat(abs); err == nil && fi.IsDir() {
			entries, err := fstree.List(abs)
			if err != nil {
				return err
			}
			tw.mu.Lock()
			for _, e := range entries {
				if e.Type != unix.DT_DIR {
					tw.touched.Put(e.Ino, true)
				}
			}
			tw.mu.Unlock()
			return os.RemoveAll(abs)
		}
	}
	if err := os.Remove(abs); err != nil && !os.IsNotExist(err) {
		return err
	}
	tw.mu.Lock()
	tw.touched.Put(ino, true)
	tw.mu.Unlock()
	return nil
}

// prune removes from the job's directory in the spare tree at dir every
// entry the new tree does not have there with the same bytes, and records
// the files that stay.
func (tw *treeWriter) prune(dir string, jt *jobTree) error {
	abs := filepath.Join(dir, filepath.FromSlash(jt.dir))
	if tw.rec != nil {
		if raw, ok := tw.rec.jobs[jt.dir]; ok {
			if jr, err := decodeJobRecord(raw); err == nil && jr.holds(abs) {
				tw.jobsBy.recorded.Add(1)
				return tw.pruneRecorded(abs, jt, jr)
			}
		}
	}
	if _, err := os.Lstat(abs); os.IsNotExist(err) {
		return nil // a new job
	}
	tw.jobsBy.listed.Add(1)
	entries, listed, err := fstree.ListStat(abs)
	if err != nil {
		return err
	}
	jt.listed = listed
	var touched []fstree.Inode
	removed := "" // the last directory removed; its entries follow it
	for _, e := range entries {
		if removed != "" && strings.HasPrefix(e.Rel, removed+"/") {
			if e.Type != unix.DT_DIR {
				touched = append(touched, e.Ino)
			}
			continue
		}
		switch {
		case e.Type == unix.DT_DIR && jt.dirs[e.Rel]:
			// kept; its entries are judged on their own
		case e.Type == unix.DT_DIR:
			if err := os.RemoveAll(filepath.Join(abs, filepath.FromSlash(e.Rel))); err != nil {
				return err
			}
			tw.changedIn(jt, e.Rel)
			removed = e.Rel
		default:
			if i := jt.find(e.Rel); i >= 0 && e.Type == unix.DT_REG && tw.keep(jt, i, e.Ino) {
				continue
			}
			if err := os.Remove(filepath.Join(abs, filepath.FromSlash(e.Rel))); err != nil && !os.IsNotExist(err) {
				return err
			}
			tw.changedIn(jt, e.Rel)
			touched = append(touched, e.Ino)
		}
	}
	tw.touch(touched)
	return nil
}

// keep records that the spare tree's file at the path of jt.files[i],
// inode ino, stays when it is one of the verified output's inodes with
// the bytes the new tree wants there, and reports whether it does.
func (tw *treeWriter) keep(jt *jobTree, i int, ino fstree.Inode) bool {
	if v := tw.verifiedAt(ino); v != nil && v.sha == jt.files[i].f.SHA256 {
		jt.kept[i] = keptFile{ino, v}
		return true
	}
	return false
}

// verifiedAt returns the verified output's file of inode ino, nil when
// it is not one.
func (tw *treeWriter) verifiedAt(ino fstree.Inode) *verified {
	if tw.verified == nil {
		return nil
	}
	v, _ := tw.verified.Get(ino)
	return v
}

func (tw *treeWriter) touch(inos []fstree.Inode) {
	tw.mu.Lock()
	for _, ino := range inos {
		tw.touched.Put(ino, true)
	}
	tw.mu.Unlock()
}

// keepAll reports whether a file and its sidecars, at (their indexes in
// jt.files), all stay from the job's spare directory; when not, it
// removes those that are there, so they can be written.
func (tw *treeWriter) keepAll(dir string, jt *jobTree, at []int32) (bool, error) {
	if tw == nil || !tw.spare {
		return false, nil // no spare tree
	}
	all := true
	for _, i := range at {
		if jt.kept[i].v == nil {
			all = false
			break
		}
	}
	if all {
		return true, nil
	}
	for _, i := range at {
		if jt.kept[i].v == nil {
			continue
		}
		n := jt.files[i].name
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(jt.dir), filepath.FromSlash(n))); err != nil {
			return false, err
		}
		tw.changedIn(jt, n)
		tw.touch([]fstree.Inode{jt.kept[i].ino})
		jt.kept[i] = keptFile{} // written again: among the created
	}
	return false, nil
}

// addCreated records files this build wrote into a spare tree (a new
// tree is walked instead, see fingerprint).
func (tw *treeWriter) addCreated(rels ...string) {
	if tw == nil || !tw.spare {
		return
	}
	tw.mu.Lock()
	tw.created = append(tw.created, rels...)
	tw.mu.Unlock()
}

// fingerprint computes the fingerprint of the finished tree in dir, as
// fstree.FingerprintDir(dir) would walk it (the tests check that they
// agree), all but the file skip at the top of the tree, which may be
// written meanwhile: the caller adds it. (Over a spare tree, skip is neither
// created by the job writes nor kept: pruneAbove removed the old one.)
// It also returns the tree's probes (fstree.DirProbe), with skip left
// out too, for the next build's check.
func (tw *treeWriter) fingerprint(dir, skip string) (*fstree.Fingerprint, []fstree.DirProbe, error) {
	if !tw.spare {
		return tw.fingerprintWalked(dir, skip)
	}
	var acc fstree.Fingerprint
	inodes := len(tw.created) // the files to probe: at most these and the kept inodes
	if tw.verified != nil {
		inodes += tw.verified.Len()
	}
	ps, err := newProbeSet(dir, tw.dirProbes(&acc), inodes)
	if err != nil {
		return nil, nil, err
	}
	tw.probes = ps
	// A created file may be a new link to a kept inode, which changes
	// that inode's change time: such kept files are stat'ed again, once
	// the kept ones are in. (Kept inodes are among the verified ones;
	// marking another of those touched changes nothing.)
	if err := tw.statFiles(dir, tw.created, true, &acc, ps); err != nil {
		return nil, nil, err
	}
	again := tw.addKept(&acc, ps)
	// (these are kept names, not new links: they touch no other inode)
	if err := tw.statFiles(dir, again, false, &acc, ps); err != nil {
		return nil, nil, err
	}
	return &acc, ps.list(), nil
}

// fingerprintWalked is fingerprint for a tree written whole. Every file
// was created: walking the tree stats each inode once (most files are
// links), where stat'ing each created path would not. The walk also gives
// each file's inode, for the record.
func (tw *treeWriter) fingerprintWalked(dir, skip string) (*fstree.Fingerprint, []fstree.DirProbe, error) {
	for _, jt := range tw.jobs {
		if jt.dirs != nil {
			jt.inos = make([]uint64, len(jt.files))
		}
	}
	_, fp, probes, err := fstree.WalkProbes(context.Background(), dir, false, skip, tw.walked)
	if err != nil {
		return nil, nil, err
	}
	tw.probes = probeSetOf(slices.Clone(probes)) // the caller sorts its list
	return fp, probes, nil
}

// dirProbes adds the tree's directories to acc and returns their probes,
// with Node set where the spare tree's listing holds for the directory.
func (tw *treeWriter) dirProbes(acc *fstree.Fingerprint) []fstree.DirProbe {
	var dirs []fstree.DirProbe
	for d := range tw.above {
		acc.Add(d, fstree.Node{Kind: fstree.Dir})
		dirs = append(dirs, fstree.DirProbe{Rel: d})
	}
	for _, jt := range tw.jobs {
		for d := range jt.dirs {
			p := fstree.DirProbe{Rel: jt.dir}
			if d == "." {
				acc.Add(jt.dir, fstree.Node{Kind: fstree.Dir})
			} else {
				acc.AddIn(jt.dir, d, fstree.Node{Kind: fstree.Dir})
				p.Rel = fstree.JoinRel(jt.dir, d)
			}
			if n, ok := jt.listed[d]; ok && !jt.changed[d] {
				p.Node = n
			}
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// fingerprintWorkers is how many goroutines stat and add files for the
// fingerprint.
func fingerprintWorkers() int { return min(4, max(1, runtime.NumCPU())) }

// statFiles stats the files at rels (under dir) and adds them to acc, to
// ps and to the record. With links set, a file that is a link to a kept
// inode marks that inode touched.
func (tw *treeWriter) statFiles(dir string, rels []string, links bool, acc *fstree.Fingerprint, ps *probeSet) error {
	type statted struct {
		rel  string
		node fstree.Node
	}
	workers := fingerprintWorkers()
	accs := make([]fstree.Fingerprint, workers)
	touched := make([][]fstree.Inode, workers)
	found := make([][]statted, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(rels); i += workers {
				fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rels[i])))
				if err != nil {
					errs[w] = err
					return
				}
				e := fstree.Node{Kind: fstree.File, Mode: fi.Mode().Type(), Stat: fstree.StatOf(fi), Dev: fstree.DevOf(fi)}
				accs[w].Add(rels[i], e)
				found[w] = append(found[w], statted{rels[i], e})
				if ino := e.Inode(); links && tw.verifiedAt(ino) != nil {
					touched[w] = append(touched[w], ino)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for w := range accs {
		acc.Merge(&accs[w])
		tw.touch(touched[w])
		for _, f := range found[w] {
			d, name := path.Split(f.rel)
			ps.file(strings.TrimSuffix(d, "/"), name, f.node)
			tw.noteInode(f.rel, f.node.Stat.Ino)
		}
	}
	return nil
}

// addKept adds the kept files to acc: their part of the fingerprint job by
// job, on the workers; then their probes, one name per inode, which jobs
// share (an inode is often kept under names of several jobs). It returns
// the kept files whose inode a created link touched, to be stat'ed again.
func (tw *treeWriter) addKept(acc *fstree.Fingerprint, ps *probeSet) []string {
	jts := slices.Collect(maps.Values(tw.jobs))
	accs := make([]fstree.Fingerprint, len(jts))
	agains := make([][]string, len(jts))
	par.For(len(jts), fingerprintWorkers(), func(x int) {
		jt := jts[x]
		for i, k := range jt.kept {
			if k.v == nil {
				continue
			}
			name := jt.files[i].name
			if touched, _ := tw.touched.Get(k.ino); touched {
				agains[x] = append(agains[x], fstree.JoinRel(jt.dir, name))
				continue
			}
			accs[x].AddIn(jt.dir, name, fstree.Node{Kind: fstree.File, Stat: k.v.st, Dev: k.ino.Dev})
			jt.inos[i] = k.ino.Ino
		}
	})
	var again []string
	for x, jt := range jts {
		acc.Merge(&accs[x])
		again = append(again, agains[x]...)
		tw.probeKept(ps, jt)
	}
	return again
}

// probeKept adds to ps the probes of the job's kept files that keep
// their stat (not touched), one name for each inode that has none yet. An
// untouched kept inode has no created name (a new link would have touched
// it): its kept names are all there is.
func (tw *treeWriter) probeKept(ps *probeSet, jt *jobTree) {
	var (
		dir   string           // the directory of the last file, as path.Split gives it
		probe *fstree.DirProbe // its probe
		known bool             // whether dir and probe are set
	)
	for i, k := range jt.kept {
		if k.v == nil || k.v.probed {
			continue // most kept names are links to an inode probed already
		}
		if touched, _ := tw.touched.Get(k.ino); touched {
			continue // stat'ed again, and probed then
		}
		k.v.probed = true
		d, base := path.Split(jt.files[i].name)
		if !known || d != dir {
			// (sorted names: the files of a directory mostly follow one another)
			rel := jt.dir
			if d != "" {
				rel = fstree.JoinRel(jt.dir, d[:len(d)-1])
			}
			dir, probe, known = d, ps.dirs[rel], true
		}
		ps.fileIn(probe, base, fstree.Node{Kind: fstree.File, Stat: k.v.st, Dev: k.ino.Dev})
	}
}

// probeSet gathers the probes of a tree written over a spare tree: its
// directories, stat'ed once written, and one name of each file inode.
type probeSet struct {
	dirs  map[string]*fstree.DirProbe
	seen  fstree.InodeMap[bool]
	stray bool // a file outside the directories: no probes
}

// newProbeSet starts the probes of the directories of the tree at dir:
// those whose Node is not known yet (its Kind unset) are stat'ed. Room is
// made for about inodes files.
func newProbeSet(dir string, probes []fstree.DirProbe, inodes int) (*probeSet, error) {
	errs := make([]error, len(probes))
	par.For(len(probes), 4, func(i int) {
		if probes[i].Node.Kind != fstree.Dir {
			probes[i].Node, errs[i] = fstree.StatDir(filepath.Join(dir, filepath.FromSlash(probes[i].Rel)))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ps := probeSetOf(probes)
	ps.seen = *fstree.NewInodeMap[bool](inodes)
	return ps, nil
}

// probeSetOf gathers probes whose directories have their Node.
func probeSetOf(probes []fstree.DirProbe) *probeSet {
	ps := &probeSet{dirs: make(map[string]*fstree.DirProbe, len(probes))}
	for i := range probes {
		ps.dirs[probes[i].Rel] = &probes[i]
	}
	return ps
}

// file adds a file of directory dir ("" or "." for the top), unless its
// inode has a probe already.
func (ps *probeSet) file(dir, name string, n fstree.Node) {
	if dir == "" {
		dir = "."
	}
	ps.fileIn(ps.dirs[dir], name, n)
}

// fileIn is file for the directory whose probe is p, nil when the tree
// has no such directory.
func (ps *probeSet) fileIn(p *fstree.DirProbe, name string, n fstree.Node) {
	if _, seen := ps.seen.Get(n.Inode()); n.Mode != 0 || seen {
		return
	}
	if p == nil {
		ps.stray = true
		return
	}
	ps.seen.Put(n.Inode(), true)
	p.Files = append(p.Files, fstree.FileProbe{Name: name, Node: n})
}

// list returns the probes, nil if a file was outside the directories.
func (ps *probeSet) list() []fstree.DirProbe {
	if ps.stray {
		return nil
	}
	out := make([]fstree.DirProbe, 0, len(ps.dirs))
	for _, p := range ps.dirs {
		out = append(out, *p)
	}
	return out
}
