package builder

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scdtool/scd/builder/precompress"
)

// The content store. The compile and assemble stages put every final
// content here as they make it; each unique content is compressed once,
// on arrival (the compress step), and spilled to disk, and the store
// stage writes the tree from it (store.go). It is not a stage of its own
// but what the stages hand their results to, so every stage may use it.

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

// putSum is put for data whose sha256 the caller has.
func (s *store) putSum(data []byte, sum [32]byte, name string) *blob {
	return s.putKnown(data, sum, name, false)
}

func (s *store) putMode(data []byte, name string, now bool) *blob {
	t0 := time.Now()
	sum := sha256.Sum256(data)
	s.b.clock.since(stHash, t0)
	return s.putKnown(data, sum, name, now)
}

func (s *store) putKnown(data []byte, sum [32]byte, name string, now bool) *blob {
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
