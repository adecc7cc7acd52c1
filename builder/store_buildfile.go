package builder

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"strconv"

	"github.com/scdtool/scd/manifest"
)

// build.json in parts. Job directories do not nest, so the tree's files,
// in sorted order, come job directory by job directory, with the files
// outside them (deployed_version.txt, an area's sri-hashes.json) each in
// its place: build.json is a head, one part for each job directory and
// each of those files, separated by commas, and a tail. The build's ID
// (treeDigest) and the sum the state keeps of build.json
// (buildLayout.sum) are made of the parts' digests, not of the whole
// file. A part depends on its job's files alone, and a clean job has the
// files of the last build, so a rebuild takes a clean job's part from the
// previous output's build.json: its digests from the state, its bytes
// copied, neither encoded nor hashed again. So does a job built again
// whose files came out as they were, once its list is hashed (partFor).

// buildPart is one part of build.json.
type buildPart struct {
	Key  string // the job directory, or the path of a file outside them
	Job  string // the job's digest; "" for a file outside the job directories
	N    int    // files listed
	List string // sha256 of its lines of the tree digest (see partOf)
	Sum  string // sha256 of its entries as build.json has them
	Len  int64  // their length in bytes
	// from is where its bytes start in the previous output's build.json,
	// when they are taken from there; 0 when they are encoded.
	from int64
}

// buildLayout is build.json as written: the sha256 and length of its
// head and of its tail, and its parts. The commas between the parts are
// not in any of them.
type buildLayout struct {
	HeadSum string
	HeadLen int64
	Parts   []buildPart
	TailSum string
	TailLen int64
}

// partOf makes the part of jf, encoding and hashing it.
func partOf(jf *jobFiles) buildPart { return listedPart(jf, "") }

// listedPart is partOf for files whose List is known (listOf), "" when
// it is not: it is then hashed with the entries, in the same pass.
func listedPart(jf *jobFiles, list string) buildPart {
	p := buildPart{Key: jf.key(), N: len(jf.entries), List: list}
	if jf.job != nil {
		p.Job = jf.job.digest
	}
	var lines hash.Hash
	if list == "" {
		lines = sha256.New()
	}
	entries := sha256.New()
	var line []byte
	jf.eachEntry(func(path []byte, f manifest.File, entry []byte) {
		if lines != nil {
			line = appendLine(append(line[:0], path...), f)
			lines.Write(line)
		}
		entries.Write(entry)
		p.Len += int64(len(entry))
	})
	if lines != nil {
		p.List = hex.EncodeToString(lines.Sum(nil))
	}
	p.Sum = hex.EncodeToString(entries.Sum(nil))
	return p
}

// appendLine ends a file's line of the tree digest, after its path: its
// digest and size ("%s %s %d\n" of path, digest and size).
func appendLine(buf []byte, f manifest.File) []byte {
	buf = append(buf, ' ')
	buf = append(buf, f.SHA256...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, f.Size, 10)
	return append(buf, '\n')
}

// treeDigest is the digest of a tree's file list, in hex, made of its
// parts': the sha256 of a line of each part's file count and the sha256
// of its files' lines (path, digest, size), in sorted order. The build's
// ID is its first 20 digits.
func treeDigest(parts []buildPart) string {
	h := sha256.New()
	var line []byte
	for _, p := range parts {
		line = strconv.AppendInt(line[:0], int64(p.N), 10)
		line = append(line, ' ')
		line = append(line, p.List...)
		h.Write(append(line, '\n'))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listedDigest is treeDigest of a file list as build.json gives it, cut
// into parts of the recorded sizes; "" when the sizes do not add up.
func listedDigest(list []manifest.FileEntry, parts []buildPart) string {
	cut := make([]buildPart, len(parts))
	var buf []byte
	k := 0
	for i, p := range parts {
		if p.N > len(list)-k {
			return ""
		}
		h := sha256.New()
		for _, e := range list[k : k+p.N] {
			buf = appendLine(append(buf[:0], e.Path...), e.File)
			h.Write(buf)
		}
		k += p.N
		cut[i] = buildPart{N: p.N, List: hex.EncodeToString(h.Sum(nil))}
	}
	if k != len(list) || len(parts) == 0 {
		return ""
	}
	return treeDigest(cut)
}

// sum is what the state keeps of build.json: the sha256 of a line of the
// sha256 and length of each piece (the head, each part, the tail), in
// order. layoutHash makes it of the file's bytes.
func (l *buildLayout) sum() string {
	h := sha256.New()
	var line []byte
	piece := func(sum string, n int64) {
		line = append(append(line[:0], sum...), ' ')
		line = strconv.AppendInt(line, n, 10)
		h.Write(append(line, '\n'))
	}
	piece(l.HeadSum, l.HeadLen)
	for _, p := range l.Parts {
		piece(p.Sum, p.Len)
	}
	piece(l.TailSum, l.TailLen)
	return hex.EncodeToString(h.Sum(nil))
}

// layoutHash hashes build.json as a layout describes it, piece by piece,
// and sums the pieces' digests as buildLayout.sum does. Bytes beyond the
// pieces, too few, or a separator between parts that is not a comma give
// a sum that is not the layout's (all zeros).
type layoutHash struct {
	pieces []int64 // lengths of the pieces; the commas between parts are pieces of one byte
	at     int     // the piece being hashed
	left   int64   // its bytes still to come
	cur    hash.Hash
	sums   []string // of the pieces hashed
	over   bool     // bytes came beyond the last piece
}

func newLayoutHash(l *buildLayout) *layoutHash {
	h := &layoutHash{cur: sha256.New()}
	h.pieces = append(h.pieces, l.HeadLen)
	for i, p := range l.Parts {
		if i > 0 {
			h.pieces = append(h.pieces, 1)
		}
		h.pieces = append(h.pieces, p.Len)
	}
	h.pieces = append(h.pieces, l.TailLen)
	h.Reset()
	return h
}

func (h *layoutHash) Reset() {
	h.at, h.left, h.sums, h.over = 0, h.pieces[0], h.sums[:0], false
	h.cur.Reset()
	h.next()
}

// next ends the pieces that are complete (empty ones included).
func (h *layoutHash) next() {
	for h.left == 0 && h.at < len(h.pieces) {
		h.sums = append(h.sums, hex.EncodeToString(h.cur.Sum(nil)))
		h.cur.Reset()
		if h.at++; h.at < len(h.pieces) {
			h.left = h.pieces[h.at]
		}
	}
}

func (h *layoutHash) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if h.at == len(h.pieces) {
			h.over = true
			return n, nil
		}
		k := min(int64(len(b)), h.left)
		h.cur.Write(b[:k])
		b, h.left = b[k:], h.left-k
		h.next()
	}
	return n, nil
}

var commaSum = func() string { s := sha256.Sum256([]byte(",")); return hex.EncodeToString(s[:]) }()

func (h *layoutHash) Sum(b []byte) []byte {
	var zero [sha256.Size]byte
	if h.over || h.at != len(h.pieces) {
		return append(b, zero[:]...)
	}
	// The pieces are head, part, (comma, part)…, tail.
	l := buildLayout{HeadSum: h.sums[0], HeadLen: h.pieces[0], TailSum: h.sums[len(h.sums)-1], TailLen: h.pieces[len(h.pieces)-1]}
	for i := 1; i < len(h.sums)-1; i++ {
		if i%2 == 0 {
			if h.sums[i] != commaSum {
				return append(b, zero[:]...)
			}
			continue
		}
		l.Parts = append(l.Parts, buildPart{Sum: h.sums[i], Len: h.pieces[i]})
	}
	sum, _ := hex.DecodeString(l.sum())
	return append(b, sum...)
}

func (h *layoutHash) Size() int      { return sha256.Size }
func (h *layoutHash) BlockSize() int { return sha256.BlockSize }

// writeBuildFile writes build.json: bm's fields, then the parts of all's
// files (taken from prev, the previous output's build.json, where a part
// has its place there), and returns its size, its layout and how many
// parts were copied.
func writeBuildFile(name string, bm *manifest.Build, all []jobFiles, prev string) (int64, *buildLayout, int, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, nil, 0, err
	}
	w := &buildWriter{f: f, bw: bufio.NewWriterSize(f, 1<<20), layout: &buildLayout{}}
	err = w.write(bm, all, prev)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, nil, 0, err
	}
	return w.size, w.layout, w.copied, nil
}

type buildWriter struct {
	f      *os.File
	bw     *bufio.Writer
	size   int64
	layout *buildLayout
	copied int // parts copied from the previous file
}

func (w *buildWriter) write(bm *manifest.Build, all []jobFiles, prev string) error {
	head, err := manifest.BuildHead(bm)
	if err != nil {
		return err
	}
	w.layout.HeadSum, w.layout.HeadLen = hashed(head)
	w.put(head)
	// The previous file is only a faster way to the same bytes: a part
	// it cannot give is made.
	var src *os.File
	if prev != "" {
		if src, err = os.Open(prev); err == nil {
			defer src.Close()
		}
	}
	for i := range all {
		jf := &all[i]
		if i > 0 {
			w.put([]byte{','})
		}
		p := jf.part
		copied := false
		if p.from > 0 && src != nil {
			if copied, err = w.copy(src, p.from, p.Len); err != nil {
				return err
			}
		}
		if copied {
			w.copied++
		} else {
			jf.eachEntry(func(_ []byte, _ manifest.File, entry []byte) { w.put(entry) })
		}
		p.from = 0
		w.layout.Parts = append(w.layout.Parts, p)
	}
	tail := []byte(manifest.BuildTail(len(all) > 0))
	w.layout.TailSum, w.layout.TailLen = hashed(tail)
	w.put(tail)
	return w.bw.Flush()
}

func (w *buildWriter) put(b []byte) {
	w.bw.Write(b)
	w.size += int64(len(b))
}

// copy appends n bytes of src from off, by copy_file_range where the
// system has it (os.File.ReadFrom). When src cannot give them, it leaves
// the file as it was and returns false; an error is the new file's.
func (w *buildWriter) copy(src *os.File, off, n int64) (bool, error) {
	if err := w.bw.Flush(); err != nil {
		return false, err
	}
	if _, err := src.Seek(off, io.SeekStart); err != nil {
		return false, nil
	}
	got, err := w.f.ReadFrom(&io.LimitedReader{R: src, N: n})
	if err == nil && got == n {
		w.size += n
		return true, nil
	}
	// Back to where the part begins.
	if err := w.f.Truncate(w.size); err != nil {
		return false, err
	}
	_, err = w.f.Seek(w.size, io.SeekStart)
	return false, err
}

// eachEntry calls do with each of jf's files, its path in the tree and
// its entry of build.json, after the comma that separates it from the one
// before (none for the first): the part's bytes, entry by entry. The
// slices are valid during the call only.
func (jf *jobFiles) eachEntry(do func(path []byte, f manifest.File, entry []byte)) {
	var buf []byte
	first := true
	for path, f := range jf.files() {
		buf = buf[:0]
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = manifest.AppendFile(buf, path, f)
		do(path, f, buf)
	}
}

func hashed(b []byte) (string, int64) {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

// partsOf lists the parts of all.
func partsOf(all []jobFiles) []buildPart {
	parts := make([]buildPart, len(all))
	for i := range all {
		parts[i] = all[i].part
	}
	return parts
}

// partFor gives the part of a job's files: the previous build's, when
// the job is clean and its directory had that job's files there, or when
// the job was built again and its files came out as they were (a row of a
// dictionary its pages do not use), else made of the files (partOf).
func (b *build) partFor(jf *jobFiles) buildPart {
	if b.prev == nil {
		return partOf(jf)
	}
	j := jf.job
	p, ok := b.prev.parts[jf.key()]
	if !ok || p.N != len(jf.entries) {
		return partOf(jf)
	}
	if j.clean && j.digest != "" && p.Job == j.digest {
		return p
	}
	list := listOf(jf)
	if list != "" && list == p.List {
		p.Job = j.digest
		return p
	}
	return listedPart(jf, list)
}

// listOf is the List of jf's part (see partOf), without its entries; ""
// when a path holds a newline: only without one do equal lists mean equal
// files (each line then splits into a path, a digest and a size), and so
// equal entries.
func listOf(jf *jobFiles) string {
	h := sha256.New()
	var line []byte
	for path, f := range jf.files() {
		if bytes.IndexByte(path, '\n') >= 0 {
			return ""
		}
		line = appendLine(append(line[:0], path...), f)
		h.Write(line)
	}
	return hex.EncodeToString(h.Sum(nil))
}
