package fstree

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// FingerprintDir walks the tree at dir and returns its fingerprint (see
// Fingerprint): every directory and file path with, for files, the size,
// modification and change times and inode. The change time cannot be set
// back, so a file written to and given its old size and modification time
// still changes it.
func FingerprintDir(dir string) (string, error) {
	_, fp, err := Walk(context.Background(), dir, false, "")
	if err != nil {
		return "", err
	}
	return fp.String(), nil
}

// Walk lists the tree at dir, with the stat of every file, in no
// particular order (the list only if list is set), and returns its
// fingerprint. The entry named skip at the top of the tree, if skip is
// not "", is left out of both: the caller adds it once it exists. The
// walk ends early with ctx's error when ctx is done.
//
// Directories are read by a few workers, each digesting what it reads.
// A file's inode is stat'ed once, through the first of its names read,
// whatever number of names it has in the tree.
func Walk(ctx context.Context, dir string, list bool, skip string) ([]Entry, *Fingerprint, error) {
	all, fp, _, err := walk(ctx, dir, list, false, skip, nil)
	return all, fp, err
}

// WalkProbes is Walk with the tree's probes (see DirProbe): every
// directory, and each file inode through the name the walk stat'ed it by.
// The probe of the top of the tree has no files named skip. When each is
// not nil, it is called with every directory read (see Read).
func WalkProbes(ctx context.Context, dir string, list bool, skip string, each Read) ([]Entry, *Fingerprint, []DirProbe, error) {
	return walk(ctx, dir, list, true, skip, each)
}

// Read is told of a directory a walk read: its path ("." for the top of
// the tree) and its entries, each named by a slice valid during the call
// alone, with its node (a directory's without its stat). It is called by
// the walk's workers, each with the directories it read, concurrently.
type Read func(rel string, ents []Named)

// Named is an entry of a directory, for Read.
type Named struct {
	Name []byte
	Node Node
}

func walk(ctx context.Context, dir string, list, probe bool, skip string, each Read) ([]Entry, *Fingerprint, []DirProbe, error) {
	q := &walkQueue{ctx: ctx, dirs: []walkDir{{abs: dir}}}
	q.cond.L = &q.mu
	stats := &inodeStats{m: map[uint64]map[uint64]Stat{}}
	workers := make([]walker, min(4, max(1, runtime.NumCPU())))
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.list, w.probe, w.skip, w.stats, w.each = list, probe, skip, stats, each
		wg.Go(func() { w.run(q) })
	}
	wg.Wait()
	if err := errors.Join(q.errs...); err != nil {
		return nil, nil, nil, err
	}
	root := Entry{".", Node{Kind: Dir}}
	var acc Fingerprint
	acc.Add(root.Rel, root.Node)
	n := 1
	for i := range workers {
		acc.Merge(&workers[i].fp)
		n += workers[i].out.n
	}
	var probes []DirProbe
	if probe {
		for i := range workers {
			probes = workers[i].probes.appendTo(probes)
		}
	}
	if !list {
		return nil, &acc, probes, nil
	}
	all := make([]Entry, 1, n)
	all[0] = root
	for i := range workers {
		all = workers[i].out.appendTo(all)
	}
	return all, &acc, probes, nil
}

// walkDir is a directory a walk has to read.
type walkDir struct {
	abs string
	rel string // "" for the top of the tree
}

// walkQueue holds the directories found and not yet read, and the errors
// met, for the workers of one walk. A worker takes the directory found
// last, so the walk goes deep first and the queue stays short.
type walkQueue struct {
	ctx  context.Context
	mu   sync.Mutex
	cond sync.Cond
	dirs []walkDir
	busy int  // workers reading a directory, which may find more
	stop bool // ctx is done
	errs []error
}

// next returns a directory to read, or false when there is none left.
func (q *walkQueue) next() (walkDir, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.dirs) == 0 && q.busy > 0 && !q.stop {
		q.cond.Wait()
	}
	if q.stop || len(q.dirs) == 0 {
		return walkDir{}, false
	}
	if err := q.ctx.Err(); err != nil {
		q.errs = append(q.errs, err)
		q.stop = true
		q.cond.Broadcast()
		return walkDir{}, false
	}
	d := q.dirs[len(q.dirs)-1]
	q.dirs = q.dirs[:len(q.dirs)-1]
	q.busy++
	return d, true
}

// done ends the reading of a directory, which found subdirs or failed.
func (q *walkQueue) done(subdirs []walkDir, err error) {
	q.mu.Lock()
	q.busy--
	q.dirs = append(q.dirs, subdirs...)
	if err != nil {
		q.errs = append(q.errs, err)
	}
	q.mu.Unlock()
	q.cond.Broadcast()
}

// inodeStats holds the stat of each file inode a walk has seen. A built
// tree is mostly hard links (18.5k names and 6k inodes in the builder's
// incremental benchmark's tree), and getdents gives each name's inode
// number, so an inode is stat'ed once, through its first name. A stat is
// kept only when it is of the inode getdents named, on the directory's
// device: where the two disagree (a mount point, a file system whose d_ino
// is not st_ino), every name is stat'ed.
type inodeStats struct {
	mu sync.Mutex
	m  map[uint64]map[uint64]Stat // by device, by inode number
}

// dev returns the stats of the inodes of device dev, to be used with s.mu
// held.
func (s *inodeStats) dev(dev uint64) map[uint64]Stat {
	m := s.m[dev]
	if m == nil {
		m = map[uint64]Stat{}
		s.m[dev] = m
	}
	return m
}

// walker is one worker of a walk, with what it reuses from one directory
// to the next.
type walker struct {
	list  bool
	probe bool // collect the tree's probes
	skip  string
	stats *inodeStats
	each  Read

	buf     []byte       // for getdents
	names   []byte       // the names of the directory being read
	ents    []walkDirent // its entries
	rels    []byte       // their paths, before they are made one string
	subdirs []walkDir
	named   []Named // the entries, for each

	fp     Fingerprint      // of the entries this worker read
	out    chunks[Entry]    // the entries (if listing)
	probes chunks[DirProbe] // the directories read (if probing)
}

// walkDirent is an entry of the directory a walker reads.
type walkDirent struct {
	name     [2]int // its bytes in walker.names
	rel      [2]int // its path in walker.rels (when needed)
	typ      byte
	ino      uint64
	node     Node
	resolved bool // node is set
	stated   bool // stat'ed by this walker (a probe)
}

func (w *walker) run(q *walkQueue) {
	w.buf = make([]byte, 32<<10)
	for {
		d, ok := q.next()
		if !ok {
			return
		}
		w.subdirs = w.subdirs[:0]
		err := w.read(d)
		q.done(w.subdirs, err)
	}
}

// read reads, stats and digests one directory, and lists it if the walk
// lists; w.subdirs gets its subdirectories.
func (w *walker) read(d walkDir) error {
	fd, err := OpenDir(d.abs)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var dirSt unix.Stat_t
	if err := unix.Fstat(fd, &dirSt); err != nil {
		return &os.PathError{Op: "fstat", Path: d.abs, Err: err}
	}
	dev := uint64(dirSt.Dev)
	if err := w.readNames(fd, d); err != nil {
		return err
	}
	if err := w.resolve(fd, d.abs, dev); err != nil {
		return err
	}
	w.add(d)
	w.tell(d, Node{Kind: Dir, Dev: dev, Stat: statOf(&dirSt)})
	return nil
}

// readNames reads the names in the open directory d into w.names and
// w.ents, the skipped name at the top left out.
func (w *walker) readNames(fd int, d walkDir) error {
	w.names, w.ents = w.names[:0], w.ents[:0]
	if err := readDirents(fd, w.buf, func(name []byte, typ byte, ino uint64) {
		if d.rel == "" && w.skip != "" && string(name) == w.skip {
			return
		}
		off := len(w.names)
		w.names = append(w.names, name...)
		w.ents = append(w.ents, walkDirent{name: [2]int{off, len(w.names)}, typ: typ, ino: ino})
	}); err != nil {
		return &os.PathError{Op: "getdents", Path: d.abs, Err: err}
	}
	return nil
}

// resolve gives each entry of the directory its node: a file's from the
// stats of inodes already seen (dev's), or from a stat of its own.
func (w *walker) resolve(fd int, abs string, dev uint64) error {
	// The files whose inode was stat'ed already, under one lock.
	w.stats.mu.Lock()
	stats := w.stats.dev(dev)
	for i := range w.ents {
		e := &w.ents[i]
		if e.typ == unix.DT_REG {
			if st, ok := stats[e.ino]; ok {
				e.node, e.resolved = Node{Kind: File, Dev: dev, Stat: st}, true
			}
		}
	}
	w.stats.mu.Unlock()
	// The others, each stat'ed unless an earlier name (in this directory
	// or another worker's) got its inode meanwhile.
	for i := range w.ents {
		if e := &w.ents[i]; !e.resolved {
			if err := w.stat(fd, abs, dev, stats, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// stat resolves e, in the open directory abs, and records a file's stat
// in stats, dev's.
func (w *walker) stat(fd int, abs string, dev uint64, stats map[uint64]Stat, e *walkDirent) error {
	typ := e.typ
	var st unix.Stat_t
	if typ == unix.DT_REG || typ == unix.DT_UNKNOWN {
		if typ == unix.DT_REG {
			w.stats.mu.Lock()
			known, ok := stats[e.ino]
			w.stats.mu.Unlock()
			if ok {
				e.node, e.resolved = Node{Kind: File, Dev: dev, Stat: known}, true
				return nil
			}
		}
		name := w.names[e.name[0]:e.name[1]]
		if err := unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: filepath.Join(abs, string(name)), Err: err}
		}
		if typ == unix.DT_UNKNOWN { // file systems without d_type
			typ = DirentType(st.Mode)
		}
		e.stated = typ == unix.DT_REG
		if typ == unix.DT_REG && st.Ino == e.ino && uint64(st.Dev) == dev {
			w.stats.mu.Lock()
			stats[e.ino] = statOf(&st)
			w.stats.mu.Unlock()
		}
	}
	switch typ {
	case unix.DT_DIR:
		e.node = Node{Kind: Dir}
	case unix.DT_REG:
		e.node = Node{Kind: File, Dev: uint64(st.Dev), Stat: statOf(&st)}
	default:
		e.node = Node{Kind: Other, Mode: direntMode(typ)}
	}
	e.typ, e.resolved = typ, true
	return nil
}

// add adds the directory's resolved entries to the fingerprint, to the
// list when the walk lists, and its subdirectories to those to read.
func (w *walker) add(d walkDir) {
	// The paths: in one string for the directory, of every entry if the
	// walk lists, else of the subdirectories alone.
	w.rels = w.rels[:0]
	for i := range w.ents {
		e := &w.ents[i]
		if !w.list && e.node.Kind != Dir {
			continue
		}
		off := len(w.rels)
		if d.rel != "" {
			w.rels = append(w.rels, d.rel...)
			w.rels = append(w.rels, '/')
		}
		w.rels = append(w.rels, w.names[e.name[0]:e.name[1]]...)
		e.rel = [2]int{off, len(w.rels)}
	}
	rels := string(w.rels)
	for i := range w.ents {
		e := &w.ents[i]
		var rel string
		if w.list || e.node.Kind == Dir {
			rel = rels[e.rel[0]:e.rel[1]]
			w.fp.Add(rel, e.node)
		} else {
			addIn(&w.fp, d.rel, w.names[e.name[0]:e.name[1]], e.node)
		}
		if w.list {
			w.out.add(Entry{rel, e.node})
		}
		if e.node.Kind == Dir {
			name := rel[len(rel)-(e.name[1]-e.name[0]):]
			w.subdirs = append(w.subdirs, walkDir{abs: filepath.Join(d.abs, name), rel: rel})
		}
	}
}

// tell gives the directory's probe (its node is dir) and its entries to
// those who asked: the walk's probes, and its Read.
func (w *walker) tell(d walkDir, dir Node) {
	rel := d.rel
	if rel == "" {
		rel = "."
	}
	if w.probe {
		p := DirProbe{Rel: rel, Node: dir}
		for i := range w.ents {
			if e := &w.ents[i]; e.stated {
				p.Files = append(p.Files, FileProbe{string(w.names[e.name[0]:e.name[1]]), e.node})
			}
		}
		w.probes.add(p)
	}
	if w.each != nil {
		w.named = w.named[:0]
		for i := range w.ents {
			e := &w.ents[i]
			w.named = append(w.named, Named{w.names[e.name[0]:e.name[1]], e.node})
		}
		w.each(rel, w.named)
	}
}

// statOf is the Stat of a stat system call's result.
func statOf(st *unix.Stat_t) Stat {
	return Stat{Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino}
}

// chunks collects values in blocks that never move, to be copied once
// into a slice of the exact size: no slice grown entry by entry.
type chunks[T any] struct {
	full [][]T
	cur  []T
	n    int
}

func (c *chunks[T]) add(v T) {
	if len(c.cur) == cap(c.cur) {
		if c.cur != nil {
			c.full = append(c.full, c.cur)
		}
		c.cur = make([]T, 0, min(max(256, 2*cap(c.cur)), 16<<10))
	}
	c.cur = append(c.cur, v)
	c.n++
}

// appendTo appends the values to dst, in the order they were added.
func (c *chunks[T]) appendTo(dst []T) []T {
	for _, b := range c.full {
		dst = append(dst, b...)
	}
	return append(dst, c.cur...)
}

// DirentType is the d_type of a stat mode.
func DirentType(mode uint32) byte {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFREG:
		return unix.DT_REG
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFIFO:
		return unix.DT_FIFO
	case unix.S_IFSOCK:
		return unix.DT_SOCK
	case unix.S_IFCHR:
		return unix.DT_CHR
	case unix.S_IFBLK:
		return unix.DT_BLK
	}
	return unix.DT_UNKNOWN
}

// direntMode is the fs.FileMode type of a d_type, as fs.DirEntry.Type.
func direntMode(typ byte) fs.FileMode {
	switch typ {
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_SOCK:
		return fs.ModeSocket
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_BLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
