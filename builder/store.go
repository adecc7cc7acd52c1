package builder

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/manifest"
)

// blob is one unique output content. It is compressed once and written
// once; every other file with the same bytes is a hard link to it.
type blob struct {
	sum  string // hex sha256
	size int64
	// data is the content until it is spilled to disk (see spill); then
	// first names the file and data is nil.
	data []byte

	compress bool
	side     map[precompress.Encoding][]byte // filled by the compress task
	// encs lists the sidecars the blob has in configured order, encNames
	// their names for manifests: lists made once per set of encodings
	// (store.ordered), not per file. sides holds each one's digest and
	// size, in that order.
	encs     []precompress.Encoding
	encNames []string
	sides    []sidecar
	// prevSide is set when the sidecars are taken from the previous
	// output instead of compressing again: each is linked from there, by
	// its digest (side then has no bytes).
	prevSide bool

	mu    sync.Mutex
	sri   string // integrity()
	first string // path of the first written copy
	// spilled is set while first is in the spill directory: the first job
	// to write the content moves it into place (one rename instead of a
	// link now and an unlink when the spill directory goes).
	spilled bool
}

// sidecar is a compressed copy of a blob's content.
type sidecar struct {
	sum  string // hex sha256
	size int64
}

// store deduplicates outputs by content.
//
// Contents do not stay in memory until the write stage: a matrix of
// hundreds of jobs produces gigabytes of per-locale bundles and templates.
// As soon as a content is final (compressed, or not to be compressed) it
// is spilled to a directory beside the output (spillDir, on the same file
// system) and its bytes are dropped; the job directories are then hard
// links to the spilled files, and the spill directory itself is removed
// after the swap.
type store struct {
	b        *build
	mu       sync.Mutex
	blobs    map[string]*blob
	spillDir string // "" until the build starts producing outputs
	written  atomic.Int64
	// encLists holds the lists ordered makes, by the set of encodings
	// (bit i for the i-th configured one): few, shared by every blob.
	encMu    sync.Mutex
	encLists map[uint]encList
}

type encList struct {
	encs  []precompress.Encoding
	names []string
}

func newStore(b *build) *store {
	return &store{b: b, blobs: map[string]*blob{}}
}

// expect sizes the store for about n contents, before any is put.
func (s *store) expect(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.blobs) == 0 {
		s.blobs = make(map[string]*blob, n)
	}
}

// put registers data as the content of a file named name (used to decide
// whether it is worth compressing) and returns its blob. A new blob that
// deserves sidecars is compressed on the pool right away.
func (s *store) put(data []byte, name string) *blob {
	return s.putMode(data, name, false)
}

// putNow is put for the per-job stage: a new content is compressed and
// spilled by the caller, not queued. Jobs make per-locale contents faster
// than they can be compressed; queueing them would hold every one in
// memory until its turn, so the job waits instead (the pool's other
// workers are busy with other jobs meanwhile).
func (s *store) putNow(data []byte, name string) *blob {
	return s.putMode(data, name, true)
}

func (s *store) putMode(data []byte, name string, now bool) *blob {
	t0 := time.Now()
	sum := sha256.Sum256(data)
	s.b.clock.since(stHash, t0)
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	bl, ok := s.blobs[key]
	if !ok {
		bl = &blob{sum: key, data: data, size: int64(len(data))}
		s.blobs[key] = bl
	}
	spill, compressNow := !ok, false
	if s.wantsSidecars(bl, name) {
		bl.compress = true
		if !s.fromPrev(bl) {
			// Spilled by compress, once its sidecars exist.
			spill = false
			if now {
				compressNow = true
			} else {
				s.b.task(s.b.compressGroup, "compress "+name, func() {
					s.compress(bl)
				})
			}
		}
	}
	s.mu.Unlock()
	switch {
	case compressNow:
		s.compress(bl)
	case spill:
		s.spill(bl)
	}
	return bl
}

// wantsSidecars reports whether bl, published as name, is to be compressed
// and is not yet (s.mu held).
func (s *store) wantsSidecars(bl *blob, name string) bool {
	return !bl.compress && len(s.b.comp.Encodings) > 0 && bl.size >= int64(s.b.comp.MinSize) && precompress.Compressible(name)
}

// putPrev is put for a content known by its digest and size alone (see
// cache_memo.go): it returns its blob, with the previous output as the source of
// its bytes and, if they were made with the same options, of its sidecars;
// nil when the previous output does not have it.
func (s *store) putPrev(sum string, size int64, name string) *blob {
	if !s.b.prev.has(sum) {
		return nil
	}
	return s.putHeld(sum, size, name)
}

// putHeld is putPrev for a content the caller knows the previous output
// holds (prev.has).
func (s *store) putHeld(sum string, size int64, name string) *blob {
	s.mu.Lock()
	bl := s.prevBlob(sum, size)
	compressNow := false
	if s.wantsSidecars(bl, name) {
		bl.compress = true
		compressNow = !s.fromPrev(bl)
	}
	s.mu.Unlock()
	if compressNow {
		s.compress(bl) // reads the bytes from the previous output
	}
	return bl
}

// putHeldPlain is putHeld for a content that gets no sidecars (a job's
// manifest).
func (s *store) putHeldPlain(sum string, size int64) *blob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prevBlob(sum, size)
}

// prevBlob returns the blob of sum, registering it without its bytes
// (s.mu held).
func (s *store) prevBlob(sum string, size int64) *blob {
	bl, ok := s.blobs[sum]
	if !ok {
		bl = &blob{sum: sum, size: size}
		s.blobs[sum] = bl
	}
	return bl
}

// spill writes a final content (and its sidecars) into the spill
// directory, or links it there from the previous output, and drops its
// bytes. Without a spill directory (tests of parts of the store) the
// content stays in memory and is written by write.
func (s *store) spill(bl *blob) {
	if s.spillDir == "" {
		return
	}
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.first != "" || (bl.compress && bl.side == nil && !bl.prevSide) {
		return // spilled already, or its sidecars are still being made
	}
	if _, ok := s.b.prev.path(bl.sum); ok && (!bl.compress || bl.prevSide) {
		// The previous output has the bytes and the sidecars: write links
		// from there, as the spare tree's bookkeeping expects.
		bl.data = nil
		return
	}
	dst := filepath.Join(s.spillDir, bl.sum)
	if err := writeFile(dst, bl.data); err != nil {
		s.b.fail(fmt.Errorf("output: %w", err))
		return
	}
	s.written.Add(bl.size)
	for _, e := range bl.encs {
		side := bl.side[e]
		if side == nil {
			continue // none yet: compress adds it beside dst
		}
		if err := writeFile(dst+e.Ext(), side); err != nil {
			s.b.fail(fmt.Errorf("output: %w", err))
			return
		}
		s.written.Add(int64(len(side)))
	}
	bl.first, bl.data, bl.side, bl.spilled = dst, nil, nil, true
}

func (s *store) compress(bl *blob) {
	t := time.Now()
	bl.mu.Lock()
	data, first := bl.data, bl.first
	bl.mu.Unlock()
	if data == nil {
		// Spilled (or left in the previous output) before a later file of
		// the same bytes asked for sidecars.
		from := first
		if from == "" {
			from, _ = s.b.prev.path(bl.sum)
		}
		var err error
		if data, err = os.ReadFile(from); err != nil {
			s.b.fail(fmt.Errorf("output: %w", err))
			return
		}
		if first == "" {
			bl.mu.Lock()
			bl.data = data // spill writes it with the sidecars
			bl.mu.Unlock()
		}
	}
	side := s.b.comp.Compress(data)
	var set uint
	for i, e := range s.b.comp.Encodings {
		if _, ok := side[e]; ok {
			set |= 1 << i
		}
	}
	encs, names := s.ordered(set)
	sides := make([]sidecar, len(encs))
	t0 := time.Now()
	for i, e := range encs {
		h := sha256.Sum256(side[e])
		sides[i] = sidecar{hex.EncodeToString(h[:]), int64(len(side[e]))}
	}
	s.b.clock.since(stHash, t0)
	bl.mu.Lock()
	bl.side, bl.sides, bl.prevSide = side, sides, false
	bl.encs, bl.encNames = encs, names
	if bl.first != "" && first != "" {
		// Already spilled: add the sidecars beside it.
		for e, d := range side {
			if err := writeFile(bl.first+e.Ext(), d); err != nil && !os.IsExist(err) {
				s.b.fail(fmt.Errorf("output: %w", err))
			}
			s.written.Add(int64(len(d)))
		}
		bl.side = nil
	}
	bl.mu.Unlock()
	s.b.clock.since(stCompress, t)
	s.spill(bl)
}

// fromPrev takes the sidecars of a blob from the previous output when it
// has them, made with the same options, and the blob's bytes as well (a
// file of an output that changed since it was written may fail its check
// while its sidecars pass: then all are made again); it reports whether it
// did.
func (s *store) fromPrev(bl *blob) bool {
	p := s.b.prev
	if p == nil || p.side == nil {
		return false
	}
	if _, ok := p.byHash[bl.sum]; !ok {
		return false
	}
	recs, ok := p.side[bl.sum]
	if !ok {
		return false
	}
	var set uint
	sides := make([]sidecar, 0, len(recs))
	for i, e := range s.b.comp.Encodings { // (the state's options are these)
		for _, r := range recs {
			if precompress.Encoding(r.Enc) != e {
				continue
			}
			if !p.has(r.SHA) {
				return false
			}
			set |= 1 << i
			sides = append(sides, sidecar{r.SHA, r.Size})
			break // one per encoding: sides follows encs
		}
	}
	bl.sides, bl.prevSide = sides, true
	bl.encs, bl.encNames = s.ordered(set)
	return true
}

// kept records that dst, kept from the spare tree, holds the blob and its
// sidecars: later copies can be linked from it (dst is asked for only when
// there is no copy yet).
func (s *store) kept(bl *blob, dst func() string) {
	bl.mu.Lock()
	if bl.first == "" {
		bl.first = dst()
	}
	bl.mu.Unlock()
}

// ordered lists the configured encodings whose bits set has (bit i for
// the i-th), in configured order, and their names: lists shared by the
// blobs with the same encodings (callers do not change them).
func (s *store) ordered(set uint) ([]precompress.Encoding, []string) {
	s.encMu.Lock()
	defer s.encMu.Unlock()
	if l, ok := s.encLists[set]; ok {
		return l.encs, l.names
	}
	var l encList
	for i, e := range s.b.comp.Encodings {
		if set&(1<<i) != 0 {
			l.encs, l.names = append(l.encs, e), append(l.names, string(e))
		}
	}
	if s.encLists == nil {
		s.encLists = map[uint]encList{}
	}
	s.encLists[set] = l
	return l.encs, l.names
}

// integrity is the blob's Subresource Integrity value, made once.
func (bl *blob) integrity() string {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.sri == "" {
		sum, _ := hex.DecodeString(bl.sum)
		bl.sri = "sha256-" + base64.StdEncoding.EncodeToString(sum)
	}
	return bl.sri
}

// write puts the blob's bytes (and sidecars) at dst: written the first time,
// hard-linked afterwards. It reports whether the bytes were written (as
// opposed to linked).
func (s *store) write(bl *blob, dst string) (bool, error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	encs := bl.encs
	if bl.spilled {
		if err := renameAll(bl.first, dst, encs); err != nil {
			return false, err
		}
		bl.first, bl.spilled = dst, false
		return false, nil
	}
	if bl.first != "" {
		return false, linkAll(bl.first, dst, encs)
	}
	fresh := true
	if from, ok := s.b.prev.path(bl.sum); ok && os.Link(from, dst) == nil {
		fresh = false // the previous output has these bytes
	} else if bl.data == nil {
		return false, fmt.Errorf("%s: the previous output changed during the build", dst)
	} else if err := writeFile(dst, bl.data); err != nil {
		return false, err
	}
	for i, e := range encs {
		if bl.prevSide {
			if from, ok := s.b.prev.path(bl.sides[i].sum); ok && os.Link(from, dst+e.Ext()) == nil {
				continue
			}
			// The previous output lost a sidecar since it was checked:
			// compress after all.
			bl.mu.Unlock()
			s.compress(bl) // and spills it
			bl.mu.Lock()
			return s.relink(bl, dst)
		}
		if err := writeFile(dst+e.Ext(), bl.side[e]); err != nil {
			return false, err
		}
	}
	bl.first = dst
	return fresh, nil
}

// relink replaces what a failed attempt left at dst by links to the
// blob's spilled copy.
func (s *store) relink(bl *blob, dst string) (bool, error) {
	if bl.first == "" {
		return false, fmt.Errorf("%s: no copy of the content to link", dst)
	}
	encs := bl.encs
	for _, p := range append([]string{dst}, extsOf(encs, dst)...) {
		_ = os.Remove(p)
	}
	return false, linkAll(bl.first, dst, encs)
}

// renameAll moves the file from and its sidecars to dst. (rename(2)
// directly: os.Rename first stats dst, a system call per file for
// nothing here.)
func renameAll(from, dst string, encs []precompress.Encoding) error {
	for _, ext := range append([]string{""}, extsOf(encs, "")...) {
		if err := unix.Rename(from+ext, dst+ext); err != nil {
			return &os.LinkError{Op: "rename", Old: from + ext, New: dst + ext, Err: err}
		}
	}
	return nil
}

// linkAll hard-links the file from and its sidecars to dst.
func linkAll(from, dst string, encs []precompress.Encoding) error {
	if err := os.Link(from, dst); err != nil {
		return err
	}
	for _, e := range encs {
		if err := os.Link(from+e.Ext(), dst+e.Ext()); err != nil {
			return err
		}
	}
	return nil
}

func extsOf(encs []precompress.Encoding, dst string) []string {
	var out []string
	for _, e := range encs {
		out = append(out, dst+e.Ext())
	}
	return out
}

// writeFile creates name (it must not exist) with data. It uses the system
// calls directly: os.OpenFile also registers every file with the runtime's
// poller and sets flags, several system calls per file for nothing on a
// regular file, and a build writes thousands.
func writeFile(name string, data []byte) error {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "write", Path: name, Err: err}
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: name, Err: err}
	}
	return nil
}

// swapInto moves the finished tree tmp to out. An existing out is
// exchanged atomically with renameat2(RENAME_EXCHANGE) where the kernel
// supports it, so readers see the old tree or the new one, never neither;
// the old tree is then moved to spare (the spare tree of the next build)
// or, when spare is "", removed.
func swapInto(tmp, out, spare string) error {
	if _, err := os.Lstat(out); os.IsNotExist(err) {
		return os.Rename(tmp, out)
	}
	dispose := func(old string) error {
		if spare != "" && os.Rename(old, spare) == nil {
			return nil
		}
		return os.RemoveAll(old)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_EXCHANGE)
	if err == nil {
		return dispose(tmp) // tmp now holds the previous output
	}
	if err != syscall.EINVAL && err != syscall.ENOSYS && err != syscall.ENOTSUP {
		return fmt.Errorf("replace %s: %w", out, err)
	}
	old := tmp + ".old"
	if err := os.Rename(out, old); err != nil {
		return fmt.Errorf("replace %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Rename(old, out)
		return fmt.Errorf("replace %s: %w", out, err)
	}
	return dispose(old)
}

// beforeSwap, when set (by tests), runs between writing the new tree and
// the swap; an error fails the build there, as a build killed at that
// point would stop.
var beforeSwap func(tmp string) error

// tempDir creates the directory the build is written to, beside out so
// that the final rename stays on one file system.
func tempDir(out string) (string, error) {
	return os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
}

// ErrLocked is returned when another build is writing the same output.
var ErrLocked = errors.New("another scd build is writing this output")

// lockOutput takes the lock beside out (.<name>.lock), so that two builds
// never write the same output, and removes what a killed build left beside
// it. It refuses an existing output that is not a previous build: replacing
// a directory deletes its content, so it must be scd's own.
func lockOutput(out string) (unlock func(), err error) {
	parent, base := filepath.Dir(out), filepath.Base(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := checkReplaceable(out); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(parent, "."+base+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", out, ErrLocked)
	}
	stale, _ := filepath.Glob(filepath.Join(parent, "."+base+".tmp-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	return func() { f.Close() }, nil
}

// checkReplaceable accepts a missing or empty output, or one holding a
// previous build (build.json at its root).
func checkReplaceable(out string) error {
	st, err := os.Lstat(out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if !st.IsDir() {
		return &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("output %s exists and is not a directory", out)}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, manifest.BuildFile)); err == nil {
		return nil
	}
	return &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("output %s is not empty and holds no %s: scd replaces its output as a whole, so it only replaces a previous build", out, manifest.BuildFile)}
}

// putPlain registers data without ever compressing it.
func (s *store) putPlain(data []byte) *blob {
	t0 := time.Now()
	sum := sha256.Sum256(data)
	s.b.clock.since(stHash, t0)
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	bl, ok := s.blobs[key]
	if !ok {
		bl = &blob{sum: key, data: data, size: int64(len(data))}
		s.blobs[key] = bl
	}
	return bl
}

// dropSpill removes the spill directory once the tree links what it needs.
func (s *store) dropSpill() {
	if s.spillDir != "" {
		os.RemoveAll(s.spillDir)
	}
}
