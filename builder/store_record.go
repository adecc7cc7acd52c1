package builder

import (
	"errors"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/internal/par"
	"github.com/scdtool/scd/manifest"
)

// The tree's record. Updating the spare tree (store_spare.go) starts from
// what each of its job directories holds; listing them costs an open, a
// stat, two getdents and a close per directory, most of a rebuild's work
// on a tree of thousands of directories. So every build records the tree
// it writes: for each job directory, the stat of every directory in it
// and the inode of every file, by name (over the spare tree, from what
// the update knows; a tree written whole, from its fingerprint's walk,
// which reads every directory anyway). Two builds later that tree is the
// spare tree again, and a job directory whose directories all have their
// recorded stat holds the recorded names, at the recorded inodes, and
// nothing else: a name added, removed or renamed changes its directory's
// times. That is a stat per directory instead of a listing. What a file
// holds is never taken from the record: as after a listing, a file stays
// only when its inode is one of the verified output's with the bytes
// wanted there (prune's rule).
//
// The cache holds two records per output, the current tree's and the
// spare tree's; the swap makes the current tree the spare one, and the
// build then moves the records likewise (saveRecords). A record names its
// tree by the tree's build.json (device, inode, size and times: every
// build writes that file new and never links it). A record of another
// tree, a spare tree a failed build left half updated, or a job directory
// changed since it was recorded sends that directory (or the whole tree)
// back to being listed: a record that does not hold costs time, never
// correctness.

// treeRecord is a tree's record, its job directories' parts decoded by
// job (jobRecord), on the worker that updates that directory.
type treeRecord struct {
	build fstree.Node       // the tree's build.json
	jobs  map[string][]byte // by job directory, encoded
}

// jobRecord is a job directory as recorded.
type jobRecord struct {
	dirs  []recordedDir // the directories in it, "." first, then sorted
	names string        // the names of its files (sorted), one after the other
	ends  []int         // where each name ends in names
	inos  []uint64      // the inode of each file, on the job directory's device
}

type recordedDir struct {
	rel  string // in the job directory, "." for itself
	node fstree.Node
}

const recordMagic = "scd-tree-record-1"

// record encodes the record of the tree written, whose build.json is
// build, its job directories' parts on threads workers: nil when the
// inode of some file is not known, or a job directory holds what the
// build did not put there. It runs after fingerprint, which knows every
// inode.
func (tw *treeWriter) record(build fstree.Node, threads int) []byte {
	if tw == nil || tw.probes == nil || tw.odd.Load() {
		return nil
	}
	dirs := slices.Sorted(maps.Keys(tw.jobs))
	parts := make([]*enc, len(dirs))
	par.For(len(dirs), threads, func(i int) { parts[i] = tw.jobs[dirs[i]].record(tw.probes) })
	size := 0
	for _, p := range parts {
		if p == nil {
			return nil
		}
		size += len(p.b)
	}
	e := &enc{b: make([]byte, 0, size+64*len(dirs)+256)}
	e.str(recordMagic)
	e.node(build)
	e.int(len(dirs))
	for i, d := range dirs {
		e.str(d)
		e.section(func() { e.b = append(e.b, parts[i].b...) })
	}
	return e.b
}

// record encodes the job directory's part of the tree's record; nil when
// some inode is not known.
func (jt *jobTree) record(probes *probeSet) *enc {
	if len(jt.inos) != len(jt.files) {
		return nil // not written by this build
	}
	size := 0
	for _, f := range jt.files {
		size += len(f.name)
	}
	e := &enc{b: make([]byte, 0, size/2+8*len(jt.files)+64*len(jt.dirs))}
	rels := slices.DeleteFunc(slices.Sorted(maps.Keys(jt.dirs)), func(r string) bool { return r == "." })
	e.int(len(rels) + 1)
	for _, r := range append([]string{"."}, rels...) {
		p := probes.dirs[fstree.JoinRel(jt.dir, r)]
		if r == "." {
			p = probes.dirs[jt.dir]
		}
		if p == nil {
			return nil
		}
		e.str(r)
		e.node(p.Node)
	}
	e.int(len(jt.files))
	e.int(size)
	prev := ""
	for i, f := range jt.files {
		if jt.inos[i] == 0 {
			return nil
		}
		n := commonPrefix(prev, f.name)
		e.int(n)
		e.str(f.name[n:])
		e.uint(jt.inos[i])
		prev = f.name
	}
	return e
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// decodeRecord reads what record wrote, all but the job directories'
// parts (decodeJobRecord).
func decodeRecord(data []byte) (*treeRecord, error) {
	d := &dec{b: data}
	if d.str() != recordMagic {
		return nil, errors.New("not a tree record")
	}
	rec := &treeRecord{build: d.node(fstree.File), jobs: map[string][]byte{}}
	for range d.count() {
		dir := d.str()
		rec.jobs[dir] = d.section()
		if d.bad {
			break
		}
	}
	if d.bad || len(d.b) != 0 {
		return nil, errors.New("malformed tree record")
	}
	return rec, nil
}

// decodeJobRecord reads a job directory's part of a record.
func decodeJobRecord(data []byte) (*jobRecord, error) {
	d := &dec{b: data}
	jr := &jobRecord{}
	ndirs := d.count()
	jr.dirs = make([]recordedDir, 0, ndirs)
	for range ndirs {
		jr.dirs = append(jr.dirs, recordedDir{rel: d.str(), node: d.node(fstree.Dir)})
	}
	nfiles := d.count()
	jr.ends, jr.inos = make([]int, 0, nfiles), make([]uint64, 0, nfiles)
	names := make([]byte, 0, min(d.int(), 64*len(d.b)))
	last := 0 // where the previous name starts
	for range nfiles {
		n := d.int()
		suffix := d.bytes()
		if d.bad || n > len(names)-last {
			return nil, errors.New("malformed job record")
		}
		start := len(names)
		names = append(names, names[last:last+n]...)
		names = append(names, suffix...)
		last = start
		jr.ends = append(jr.ends, len(names))
		jr.inos = append(jr.inos, d.uint())
	}
	jr.names = frozen(names)
	if d.bad || len(d.b) != 0 || len(jr.dirs) == 0 || jr.dirs[0].rel != "." {
		return nil, errors.New("malformed job record")
	}
	return jr, nil
}

// name returns the i-th file's name.
func (jr *jobRecord) name(i int) string {
	start := 0
	if i > 0 {
		start = jr.ends[i-1]
	}
	return jr.names[start:jr.ends[i]]
}

// holds reports whether the job directory at abs is as recorded: every
// directory in it has its recorded stat.
func (jr *jobRecord) holds(abs string) bool {
	fd, err := fstree.OpenDir(abs)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	for _, d := range jr.dirs {
		var err error
		if d.rel == "." {
			err = unix.Fstat(fd, &st)
		} else {
			err = unix.Fstatat(fd, filepath.FromSlash(d.rel), &st, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil || !d.node.Is(&st) {
			return false
		}
	}
	return true
}

// spareRecord reads the spare tree's record and returns it when it is the
// record of the tree at dir (the spare tree, renamed to the write
// directory, before anything in it changed).
func (b *build) spareRecord(dir string) *treeRecord {
	data, ok := b.cache.get("treerec", b.stateKey()+"-spare")
	if !ok {
		return nil
	}
	rec, err := decodeRecord(data)
	if err != nil {
		b.log.Debug("cache: cannot decode the spare tree's record", "err", err)
		return nil
	}
	fi, err := os.Lstat(filepath.Join(dir, manifest.BuildFile))
	if err != nil || !fi.Mode().IsRegular() ||
		fstree.DevOf(fi) != rec.build.Dev || fstree.StatOf(fi) != rec.build.Stat {
		b.log.Debug("cache: the spare tree's record is of another tree")
		return nil
	}
	return rec
}

// saveRecords moves the current tree's record to the spare tree's, as the
// swap moved the trees, and records the new current tree with what
// record encodes (none when record is nil or gives nil).
func (b *build) saveRecords(record func() []byte) {
	key := b.stateKey()
	cur, spare := b.cache.path("treerec", key+"-cur"), b.cache.path("treerec", key+"-spare")
	if os.Rename(cur, spare) != nil {
		_ = os.Remove(spare)
	}
	if record == nil {
		return
	}
	if rec := record(); rec != nil {
		b.cache.put("treerec", key+"-cur", rec)
	}
}

// pruneRecorded is prune for a job directory its record describes (rec
// holds): the same decisions, from the record instead of a listing.
func (tw *treeWriter) pruneRecorded(abs string, jt *jobTree, jr *jobRecord) error {
	dev := jr.dirs[0].node.Dev
	jt.listed = make(map[string]fstree.Node, len(jr.dirs))
	var removed []string // directories removed, with all they held
	for _, d := range jr.dirs {
		jt.listed[d.rel] = d.node
		if d.rel == "." || jt.dirs[d.rel] || underAny(d.rel, removed) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(abs, filepath.FromSlash(d.rel))); err != nil {
			return err
		}
		tw.changedIn(jt, d.rel)
		removed = append(removed, d.rel)
	}
	var touched []fstree.Inode
	at := 0 // in jt.files: both lists are sorted by name
	for i := range jr.inos {
		name, ino := jr.name(i), fstree.Inode{Dev: dev, Ino: jr.inos[i]}
		if underAny(name, removed) {
			touched = append(touched, ino)
			continue
		}
		for at < len(jt.files) && jt.files[at].name < name {
			at++
		}
		if at < len(jt.files) && jt.files[at].name == name && tw.keep(jt, at, ino) {
			continue
		}
		if err := os.Remove(filepath.Join(abs, filepath.FromSlash(name))); err != nil && !os.IsNotExist(err) {
			return err
		}
		tw.changedIn(jt, name)
		touched = append(touched, ino)
	}
	tw.touch(touched)
	return nil
}

// underAny reports whether rel is under one of dirs.
func underAny(rel string, dirs []string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return fstree.Under(rel, d) })
}

// noteInode records the inode of a file the build created at rel in the
// tree, for the record, when rel is in a job directory.
func (tw *treeWriter) noteInode(rel string, ino uint64) {
	if jt, name := tw.jobAt(rel); jt != nil && jt.inos != nil {
		if i := jt.find(name); i >= 0 {
			jt.inos[i] = ino
		}
	}
}

// jobAt returns the job directory rel is in (or is), and rel's path in
// it ("." for the job directory itself); nil when rel is in none.
func (tw *treeWriter) jobAt(rel string) (*jobTree, string) {
	for d := rel; d != "."; d = path.Dir(d) {
		if jt := tw.jobs[d]; jt != nil {
			if d == rel {
				return jt, "."
			}
			return jt, rel[len(d)+1:]
		}
	}
	return nil, ""
}

// walked takes from the walk of a tree written whole (fingerprint) the
// inodes of the files of each directory in a job directory, for the
// tree's record. A directory the build did not make there, or an entry
// that is not one of the job's files, leaves the tree without a record.
func (tw *treeWriter) walked(rel string, ents []fstree.Named) {
	jt, sub := tw.jobAt(rel)
	if jt == nil {
		return // above the job directories
	}
	if jt.inos == nil || !jt.dirs[sub] {
		tw.odd.Store(true)
		return
	}
	// The job's files in this directory and below it are the names with
	// its path as their prefix, one run of the sorted list.
	files, prefix := jt.files, ""
	if sub != "." {
		prefix = sub + "/"
	}
	lo, _ := slices.BinarySearchFunc(files, prefix, func(e fileEntry, p string) int { return strings.Compare(e.name, p) })
	n := sort.Search(len(files)-lo, func(i int) bool { return !strings.HasPrefix(files[lo+i].name, prefix) })
	run := files[lo : lo+n]
	for _, e := range ents {
		switch {
		case e.Node.Kind == fstree.Dir:
			continue // read on its own
		case e.Node.Kind != fstree.File || e.Node.Mode != 0:
			tw.odd.Store(true)
			return
		}
		i, ok := slices.BinarySearchFunc(run, e.Name, func(f fileEntry, name []byte) int {
			return compareBytes(f.name[len(prefix):], name)
		})
		if !ok {
			tw.odd.Store(true)
			return
		}
		jt.inos[lo+i] = e.Node.Stat.Ino
	}
}
