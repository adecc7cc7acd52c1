package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/internal/par"
	"golang.org/x/sys/unix"
)

// The persistent cache (Options.CacheDir) makes a rebuild redo only what
// changed inputs affect. Its entries are files named by a key under
// <dir>/v1/<kind>/<key[:2]>/<key>; per output directory:
//
//   - state: what the last build of the output saw and wrote, as a head
//     every build reads (inputs digest, fingerprint and probes of the output
//     tree, a stat cache of the sources, the summary) and a body only a
//     build with work reads (the content of each probed file, the sidecars
//     of every compressed content, the rewrites), kind "statebody/…"
//     (cache_state.go; read by cache_prev.go); the output's file list is
//     its build.json, under a digest the head records;
//   - pack: the leaf and bundle entries that build used, each under its own
//     key. A leaf entry is the processed form of one source file (minified
//     bytes with translation markers, phrases, template tags, CSS
//     references), keyed by the file's content digest, its kind and the
//     options that change its processing. A bundle entry is one esbuild
//     result, keyed by the entry and the fallback chain it was resolved
//     through, holding every file the bundle looked up with its content
//     digest; it is reused only when each still resolves to the same file
//     with the same digest. A theme's merged requirejs-config.js is kept
//     under the digest of its inputs' contents. The pack is split in
//     shards, mapped when read (getMapped), beside an attic of what recent
//     builds let go (below).
//
// and per job, shared by every output: a job record (kind "job", keyed by
// the digest of the job's inputs), the files the job published by content
// digest (cache_job.go).
//
// Every key includes the cache format, the scd version and Options.CacheKey,
// so a new scd never reads an older one's entries. Every entry carries a
// CRC-32C and the length of its payload, verified on read (a check against
// damage, not tampering: the cache is the user's): a corrupted or truncated entry
// is removed and recomputed, never used. Entries are written to a temporary
// file in the same directory and renamed into place, so concurrent builds
// sharing the directory see whole entries or none; the last writer wins,
// and since entries are keyed by content, either is right.
//
// Compressed sidecars and unchanged output files are not copied into the
// cache: they are hard-linked from the previous output, which the state
// describes, when that output is verified intact (its fingerprint —
// paths, sizes, modification and change times and inodes of every file —
// is the one recorded right after it was written).
type cache struct {
	dir string
}

const cacheFormat = "scd-cache-v11"

var cacheMagic = []byte("SCDC2\x00\x00\x00")

// crc32c is the table of the entries' checksum: CRC-32C runs at memory
// speed where the CPU has it (SSE4.2, ARMv8), and a rebuild reads the
// whole pack and state (tens of megabytes for a Magento project).
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// frameHeader is the magic, the CRC-32C of the payload and its length.
const frameHeader = 8 + 4 + 8

func openCache(dir string) (*cache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "v1"), 0o755); err != nil {
		return nil, err
	}
	return &cache{dir: dir}, nil
}

func (c *cache) path(kind, key string) string {
	return filepath.Join(c.dir, "v1", kind, key[:2], key)
}

// get returns the payload of an entry, or false when it is missing or
// does not verify (a damaged entry is removed).
func (c *cache) get(kind, key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	p := c.path(kind, key)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	payload, ok := unframe(data)
	if !ok {
		_ = os.Remove(p)
		return nil, false
	}
	return payload, true
}

// getMapped is get for the pack's shards, the largest entries a rebuild
// reads: the file is mapped rather than read, so that its tens of
// megabytes are not copied into memory the process must first fault in
// (that copy was most of the cost of loading the pack). The mapping
// (returned as mapping; nil when the file was read instead, where mapping
// fails) is read-only and never unmapped: what the build takes from it
// may be held to its end, and a replaced entry is a new file (put
// renames), so the mapped one does not change under it. Once the build is
// done with the pack, release gives its pages back.
func (c *cache) getMapped(kind, key string) (payload, mapping []byte, ok bool) {
	if c == nil {
		return nil, nil, false
	}
	p := c.path(kind, key)
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= frameHeader || fi.Size() > math.MaxInt32 {
		payload, ok = c.get(kind, key)
		return payload, nil, ok
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		payload, ok = c.get(kind, key)
		return payload, nil, ok
	}
	if payload, ok = unframe(data); !ok {
		_ = unix.Munmap(data)
		_ = os.Remove(p)
		return nil, nil, false
	}
	return payload, data, true
}

// release gives back the pages of mappings made by getMapped, which stay
// mapped: a later read faults them in again from the file, so a slice
// into them that is still read reads the same bytes. (A rebuild of a
// large matrix maps hundreds of megabytes of pack it is done with before
// it writes the tree.)
func release(mappings [][]byte) {
	for _, m := range mappings {
		_ = unix.Madvise(m, unix.MADV_DONTNEED)
	}
}

// releaseMin is the size of a pack whose pages a build gives back before
// it writes the tree (release): below it they are few next to the
// build's own memory, and a smaller project's rebuild measured slower
// for faulting in again what it still read.
const releaseMin = 64 << 20

// mapped is the size of mappings.
func mapped(mappings [][]byte) int {
	n := 0
	for _, m := range mappings {
		n += len(m)
	}
	return n
}

// staleTemp is the age past which a temporary file of the cache (put's,
// before its rename) is taken for one a killed build left: a build writes
// an entry in well under a second, and builds of other outputs may share
// the directory.
const staleTemp = time.Hour

// sweepEvery is how often sweepTemp walks the cache: a temporary file
// goes once it is older than staleTemp, so a walk more often finds
// nothing new to remove, and each costs a rebuild about a millisecond per
// hundred directories of the cache.
const sweepEvery = 10 * time.Minute

// sweepTemp removes the temporary files that killed builds left in the
// cache, those older than staleTemp: nothing reads them (an entry is
// renamed into place whole), but on a CI runner that keeps the cache a
// kill in the middle of a large matrix's state leaves tens of megabytes
// each time. It walks the cache at most every sweepEvery, as the time
// of v1/.swept records (a time ahead of now is not trusted).
func (c *cache) sweepTemp(now time.Time) {
	if c == nil {
		return
	}
	mark := filepath.Join(c.dir, "v1", ".swept")
	if fi, err := os.Stat(mark); err == nil {
		if age := now.Sub(fi.ModTime()); age >= 0 && age < sweepEvery {
			return
		}
	}
	_ = filepath.WalkDir(filepath.Join(c.dir, "v1"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		if fi, err := d.Info(); err == nil && now.Sub(fi.ModTime()) > staleTemp {
			_ = os.Remove(p)
		}
		return nil
	})
	if err := os.WriteFile(mark, nil, 0o644); err == nil {
		_ = os.Chtimes(mark, now, now)
	}
}

// put stores an entry atomically (temporary file + rename), its payload
// given in parts that are stored one after the other. Failing to write
// the cache never fails the build.
func (c *cache) put(kind, key string, payload ...[]byte) {
	if c == nil {
		return
	}
	p := c.path(kind, key)
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, ".tmp-")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.CreateTemp(dir, ".tmp-")
		}
	}
	if err != nil {
		return
	}
	// The frame's header, then the payload's parts: no copy of a large
	// payload, nor of its parts into one.
	var sum uint32
	var size uint64
	for _, part := range payload {
		sum = crc32.Update(sum, crc32c, part)
		size += uint64(len(part))
	}
	hdr := append(slices.Clip(cacheMagic), make([]byte, frameHeader-len(cacheMagic))...)
	binary.LittleEndian.PutUint32(hdr[8:], sum)
	binary.LittleEndian.PutUint64(hdr[12:], size)
	_, err = f.Write(hdr)
	for _, part := range payload {
		if err == nil {
			_, err = f.Write(part)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
}

// unframe checks an entry as put writes it (the magic, the CRC-32C and
// length of the payload, the payload) and returns the payload.
func unframe(data []byte) ([]byte, bool) {
	if len(data) < frameHeader || !bytes.Equal(data[:len(cacheMagic)], cacheMagic) {
		return nil, false
	}
	payload := data[frameHeader:]
	if binary.LittleEndian.Uint64(data[12:]) != uint64(len(payload)) ||
		binary.LittleEndian.Uint32(data[8:]) != crc32.Checksum(payload, crc32c) {
		return nil, false
	}
	return payload, true
}

// key digests the parts of a cache key, with the format and the version.
func (b *build) key(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range append([]string{cacheFormat, b.opts.Version, b.opts.CacheKey, kind}, parts...) {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// enc and dec are a small binary encoding for cache entries: faster than
// gob for thousands of small entries, and entirely explicit.
type enc struct{ b []byte }

func (e *enc) uint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }
func (e *enc) int(n int)     { e.uint(uint64(n)) }
func (e *enc) bool(v bool) {
	if v {
		e.uint(1)
	} else {
		e.uint(0)
	}
}
func (e *enc) bytes(p []byte) { e.int(len(p)); e.b = append(e.b, p...) }

// section appends what fill encodes, prefixed with its length on 8 bytes
// (written once known), so that a reader can take or skip it whole.
func (e *enc) section(fill func()) {
	at := len(e.b)
	e.b = append(e.b, make([]byte, 8)...)
	fill()
	binary.LittleEndian.PutUint64(e.b[at:], uint64(len(e.b)-at-8))
}
func (e *enc) str(s string) { e.int(len(s)); e.b = append(e.b, s...) }

// strLen is the length of s as str encodes it.
func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// uvarintLen is the length of v as uint encodes it.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
func (e *enc) strs(ss []string) {
	e.int(len(ss))
	for _, s := range ss {
		e.str(s)
	}
}

type dec struct {
	b   []byte
	bad bool
	// all, when set, holds the whole input as one string (sharedDec):
	// str then returns substrings of it instead of a copy each.
	all string
}

// sharedDec decodes data with its strings cut from data itself: no copy
// and no allocation for a head of hundreds of thousands of names, which
// all live as long as the decoded value anyway. The decoder takes data
// over: nothing may write to it afterwards (its callers decode what
// cache.get read for them alone).
func sharedDec(data []byte) *dec { return &dec{b: data, all: frozen(data)} }

// frozen returns b's bytes as a string without copying them; b must never
// be written to again.
func frozen(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int {
	v := d.uint()
	if v > uint64(len(d.b))+1<<31 {
		d.bad = true
		return 0
	}
	return int(v)
}
func (d *dec) bool() bool { return d.uint() == 1 }

// count reads the number of elements that follow; each takes a byte at
// least, so a count past the bytes left marks the input bad (and is 0).
func (d *dec) count() int {
	n := d.int()
	if d.bad || n > len(d.b) {
		d.bad = true
		return 0
	}
	return n
}

func (d *dec) bytes() []byte {
	n := d.count()
	if d.bad {
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}
func (d *dec) str() string {
	if d.all == "" {
		return string(d.bytes())
	}
	n := d.count()
	if d.bad {
		return ""
	}
	at := len(d.all) - len(d.b)
	d.b = d.b[n:]
	return d.all[at : at+n]
}

// section reads what enc.section wrote, without copying it.
func (d *dec) section() []byte {
	if d.bad || len(d.b) < 8 {
		d.bad = true
		return nil
	}
	n := binary.LittleEndian.Uint64(d.b)
	if n > uint64(len(d.b)-8) {
		d.bad = true
		return nil
	}
	s := d.b[8 : 8+n : 8+n]
	d.b = d.b[8+n:]
	return s
}

// skip passes over a string or bytes without copying it.
func (d *dec) skip() { d.bytes() }
func (d *dec) strs() []string {
	n := d.count()
	if d.bad {
		return nil
	}
	var out []string
	for range n {
		out = append(out, d.str())
	}
	return out
}

// recallLeaf fills a leaf from the pack when the cache has its source's
// content processed the same way.
func (b *build) recallLeaf(l *leafOnce) bool {
	d, ok := b.digests[l.src.Abs]
	if !ok || b.cache == nil {
		return false
	}
	data, ok := b.packGet("leaf", b.leafKey(d, l.kind))
	return ok && decodeLeaf(&l.leaf, data)
}

// keepLeaf keeps a processed leaf for the next build, keyed by the bytes
// processed, which may be newer than the digest of the plan if the file
// changed meanwhile.
func (b *build) keepLeaf(l *leafOnce) {
	if b.cache == nil {
		return
	}
	if sd, err := b.read(l.src.Abs); err == nil {
		b.packPutLazy("leaf", b.leafKey(sd.digest(), l.kind), func() []byte { return encodeLeaf(&l.leaf) })
	}
}

// recallBytes returns the bytes kept in the pack under kind and the
// digest of what made them (a Tailwind build's stylesheet by its inputs'
// digest, a theme's merged requirejs-config.js by requireJSDigest).
func (b *build) recallBytes(kind, digest string) ([]byte, bool) {
	packed, ok := b.packGet(kind, b.key(kind, digest))
	if !ok {
		return nil, false
	}
	d := &dec{b: packed}
	out := d.bytes()
	return out, !d.bad
}

// keepBytes keeps out for the next build, for recallBytes.
func (b *build) keepBytes(kind, digest string, out []byte) {
	b.packPutLazy(kind, b.key(kind, digest), func() []byte {
		e := &enc{}
		e.bytes(out)
		return e.b
	})
}

// requireJSDigest identifies a theme's requirejs-config.js inputs: their
// contents in merge order. The merge depends on nothing else (a file's
// name only appears in its errors, and a merge that fails is not kept);
// kept, it spares a rebuild of a dirty theme minifying each of its
// hundreds of inputs again.
func requireJSDigest(data [][]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, d := range data {
		binary.LittleEndian.PutUint64(n[:], uint64(len(d)))
		h.Write(n[:])
		h.Write(d)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// leafKey is the pack key of a leaf: its content's digest after a salt
// of its kind and the options that change how it is processed. (The
// pack's own key has the format and version; a rebuild asks thousands of
// leaves, one digest of the key's parts each was measurable.)
func (b *build) leafKey(digest string, k kind) string {
	return b.leafSalts[k] + digest
}

// makeLeafSalts makes the first part of a leaf's key for each kind.
func (b *build) makeLeafSalts() (salts [kindFont + 1]string) {
	for k := range salts {
		salts[k] = b.key("leaf", strconv.Itoa(k), strconv.FormatBool(b.embedded),
			strconv.FormatBool(b.opts.Skip.NoHTMLMinify))[:16] + ":"
	}
	return salts
}

func encodeLeaf(l *leaf) []byte {
	e := &enc{}
	e.bytes(l.out)
	e.b = append(e.b, l.in.get(l.out).sum[:]...)
	e.bool(l.marked)
	e.strs(l.phrases)
	for _, tags := range [][]i18n.Tag{l.srcTags, l.outTags} {
		e.int(len(tags))
		for _, t := range tags {
			e.str(t.Kind)
			e.str(t.Arg)
			e.int(t.Off)
			e.int(t.End)
		}
	}
	for _, refs := range [][]cssRef{l.srcRefs, l.outRefs} {
		e.int(len(refs))
		for _, r := range refs {
			e.int(r.Off)
			e.int(r.End)
			e.str(r.URL)
		}
	}
	return e.b
}

func decodeLeaf(l *leaf, data []byte) bool {
	d := &dec{b: data}
	out := d.bytes()
	if len(d.b) < sha256.Size {
		return false
	}
	var sum [sha256.Size]byte
	d.b = d.b[copy(sum[:], d.b):]
	marked := d.bool()
	phrases := d.strs()
	var tags [2][]i18n.Tag
	for i := range tags {
		n := d.count()
		if d.bad {
			return false
		}
		for range n {
			tags[i] = append(tags[i], i18n.Tag{Kind: d.str(), Arg: d.str(), Off: d.int(), End: d.int()})
		}
	}
	var refs [2][]cssRef
	for i := range refs {
		n := d.count()
		if d.bad {
			return false
		}
		for range n {
			refs[i] = append(refs[i], cssRef{Off: d.int(), End: d.int(), URL: d.str()})
		}
	}
	if d.bad || len(d.b) != 0 {
		return false
	}
	l.out, l.marked, l.phrases = out, marked, phrases
	l.in.set(sum)
	l.srcTags, l.outTags, l.srcRefs, l.outRefs = tags[0], tags[1], refs[0], refs[1]
	return true
}

// bundleKey is the cache key of a bundle: its entry, the resolution it is
// built with and the options that change its output (names: the URLs of
// the assets a stylesheet bundle references). The entry holds the
// digest of every file the bundle looked up, checked before reuse.
func (b *build) bundleKey(bd *bundle) string {
	return b.key("bundle", bd.entry, bd.fs.key, fmt.Sprint(b.embedded), fmt.Sprintf("%+v", b.opts.Skip), fmt.Sprint(b.logicalNames))
}

// bundleCached reports whether the last build left an entry for bd,
// without using it.
func (b *build) bundleCached(bd *bundle) bool { return b.packHas("bundle", b.bundleKey(bd)) }

// loadBundle fills bd from the cache when every file it depended on still
// resolves to the same file with the same content.
func (b *build) loadBundle(bd *bundle) bool {
	data, ok := b.packGet("bundle", b.bundleKey(bd))
	if !ok {
		return false
	}
	d := &dec{b: data}
	n := d.count()
	if d.bad {
		return false
	}
	deps := make(map[string]string, n)
	for range n {
		logical, abs, digest := d.str(), d.str(), d.str()
		if d.bad {
			return false
		}
		src, ok := bd.fs.lookup(logical)
		if ok != (abs != "") || src.Abs != abs || (ok && b.digests[abs] != digest) {
			return false
		}
		deps[logical] = abs
	}
	out, marked, phrases := d.bytes(), d.bool(), d.strs()
	if d.bad || len(d.b) != 0 {
		return false
	}
	bd.deps, bd.out, bd.marked, bd.phrases = deps, out, marked, phrases
	return true
}

// storeBundle puts the bundle's entry into the pack, encoded when the pack
// is saved: the build holds the bundle until then anyway.
func (b *build) storeBundle(bd *bundle, loaded map[string]string) {
	b.packPutLazy("bundle", b.bundleKey(bd), func() []byte { return b.encodeBundle(bd, loaded) })
}

// encodeBundle encodes a bundle's entry: its dependencies with the digest
// each had when bundled (from loaded when the bundle read the file),
// then its output.
func (b *build) encodeBundle(bd *bundle, loaded map[string]string) []byte {
	e := &enc{}
	e.int(len(bd.deps))
	for _, logical := range slices.Sorted(maps.Keys(bd.deps)) {
		abs := bd.deps[logical]
		digest := ""
		if abs != "" {
			var ok bool
			if digest, ok = loaded[abs]; !ok {
				digest = b.digests[abs]
			}
		}
		e.str(logical)
		e.str(abs)
		e.str(digest)
	}
	e.bytes(bd.out)
	e.bool(bd.marked)
	e.strs(bd.phrases)
	return e.b
}

// The leaf and bundle entries of one output are kept together in a pack
// (kind "pack", keyed by the output like the state): creating a file per
// entry cost more than the minifying it saves. The pack a build writes
// holds the entries it used, so it never grows past one build's worth (the
// attic, below, keeps what it lets go for a few builds); a build that
// fails keeps the previous entries too. The pack is split in
// packShards files by entry key, and a build rewrites only the shards
// whose entries changed: after a one-file change, a few.
const packShards = 32

func packShard(k string) int {
	h := fnv.New32a()
	h.Write([]byte(k))
	return int(h.Sum32() % packShards)
}

func (b *build) packKey(shard int) string {
	abs, err := filepath.Abs(b.opts.Output)
	if err != nil {
		abs = b.opts.Output
	}
	return b.key("pack", abs, strconv.Itoa(shard))
}

func (b *build) loadPack() {
	shards := make([]map[string][]byte, packShards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			data, mapping, ok := b.cache.getMapped("pack", b.packKey(i))
			if !ok {
				return
			}
			if mapping != nil {
				b.packMu.Lock()
				b.packMaps = append(b.packMaps, mapping)
				b.packMu.Unlock()
			}
			d := &dec{b: data}
			n := d.count()
			if d.bad {
				return
			}
			m := make(map[string][]byte, n)
			for range n {
				k, v := d.str(), d.bytes()
				if d.bad || packShard(k) != i {
					return
				}
				m[k] = v
			}
			shards[i] = m
		})
	}
	wg.Wait()
	b.packOld = map[string][]byte{}
	b.packOldCount = make([]int, packShards)
	for i, m := range shards {
		maps.Copy(b.packOld, m)
		b.packOldCount[i] = len(m)
	}
}

// packHas reports whether the last build left an entry, without using it.
func (b *build) packHas(kind, key string) bool {
	_, ok := b.packOld[kind+"/"+key]
	return ok
}

func (b *build) packGet(kind, key string) ([]byte, bool) {
	if b.cache == nil {
		return nil, false
	}
	k := kind + "/" + key
	v, ok := b.packOld[k]
	fromAttic := false
	if !ok {
		v, ok = b.atticGet(k)
		fromAttic = ok
	}
	if ok {
		b.packMu.Lock()
		if b.packNew != nil { // nil once saved
			b.packNew[k] = func() []byte { return v }
			if fromAttic {
				b.packDirty[packShard(k)] = true
			}
		}
		b.packMu.Unlock()
	}
	return v, ok
}

// The attic keeps what the pack let go: the entries a build used that the
// next one did not, for atticSlots builds, so that a change undone (a
// partial edited and restored, a commit reverted, a runner alternating
// between branches) finds its compiles again instead of redoing them.
// Each build that lets entries go writes them to the next of atticSlots
// files in turn (overwriting the oldest), unless they are more than
// atticMax bytes (a new compiler or configuration lets everything go). A
// build reads the attic only when the pack misses, once.
const (
	atticSlots = 3
	atticMax   = 64 << 20
)

func (b *build) atticKey(name string) string {
	abs, err := filepath.Abs(b.opts.Output)
	if err != nil {
		abs = b.opts.Output
	}
	return b.key("attic", abs, name)
}

// atticGet looks an entry up in the attic, loading it on first use.
func (b *build) atticGet(k string) ([]byte, bool) {
	b.atticOnce.Do(func() {
		b.attic = map[string][]byte{}
		for slot := range atticSlots {
			data, ok := b.cache.get("attic", b.atticKey(strconv.Itoa(slot)))
			if !ok {
				continue
			}
			d := &dec{b: data}
			n := d.int()
			for range n {
				key, v := d.str(), d.bytes()
				if d.bad {
					break
				}
				b.attic[key] = v
			}
		}
	})
	v, ok := b.attic[k]
	return v, ok
}

// saveAttic writes the entries of the last build's pack that this build
// did not use into the next attic slot.
func (b *build) saveAttic(used map[string]func() []byte) {
	var keys []string
	size := 0
	for k, v := range b.packOld {
		if _, ok := used[k]; !ok {
			keys = append(keys, k)
			size += len(k) + len(v)
		}
	}
	if len(keys) == 0 || size > atticMax {
		return
	}
	slot := 0
	if data, ok := b.cache.get("attic", b.atticKey("next")); ok {
		d := &dec{b: data}
		if n := d.int(); !d.bad {
			slot = n % atticSlots
		}
	}
	slices.Sort(keys)
	e := &enc{b: make([]byte, 0, size+(2*len(keys)+1)*binary.MaxVarintLen64)}
	e.int(len(keys))
	for _, k := range keys {
		e.str(k)
		e.bytes(b.packOld[k])
	}
	b.cache.put("attic", b.atticKey(strconv.Itoa(slot)), e.b)
	next := &enc{}
	next.int(slot + 1)
	b.cache.put("attic", b.atticKey("next"), next.b)
}

func (b *build) packPut(kind, key string, payload []byte) {
	b.packPutLazy(kind, key, func() []byte { return payload })
}

// packPutLazy is packPut with the payload made when the pack is saved:
// for entries whose bytes the build holds anyway (a leaf's output), so
// that a large matrix does not hold them twice.
func (b *build) packPutLazy(kind, key string, payload func() []byte) {
	if b.cache == nil {
		return
	}
	k := kind + "/" + key
	b.packMu.Lock()
	defer b.packMu.Unlock()
	if b.packNew == nil {
		return // saved already: a task that outlived a failed build
	}
	b.packNew[k] = payload
	b.packDirty[packShard(k)] = true
}

// savePack writes the pack; after a failed build the previous entries are
// kept beside the new ones.
func (b *build) savePack(ok bool) {
	if b.leafClaims != nil {
		<-b.leafClaims // packCarried reads packClaim
	}
	if b.cache == nil || b.packNew == nil {
		return
	}
	b.packMu.Lock()
	defer b.packMu.Unlock()
	m := b.packNew
	// Saved once: by dropWork as soon as the work is done (a later
	// failure leaves this build's entries, which are as good), or by run
	// when the build fails before.
	b.packNew = nil
	if !ok {
		for k, v := range b.packOld {
			if _, seen := m[k]; !seen {
				m[k] = func() []byte { return v }
			}
		}
	} else {
		for k, v := range b.packOld {
			if _, used := m[k]; !used && b.packCarried(k) {
				m[k] = func() []byte { return v }
			}
		}
		b.saveAttic(m)
	}
	shards := make([][]string, packShards)
	for k := range m {
		i := packShard(k)
		shards[i] = append(shards[i], k)
	}
	var todo []int
	for i, keys := range shards {
		if !b.packSame(i, keys) {
			todo = append(todo, i)
		}
	}
	// A shard is encoded into a buffer of its exact size: grown by
	// appends, the shards of a large matrix cost seconds of copying and
	// twice their size in memory, at the build's peak.
	par.For(len(todo), b.opts.Threads, func(t int) {
		i := todo[t]
		keys := shards[i]
		slices.Sort(keys)
		vals := make([][]byte, len(keys))
		size := uvarintLen(uint64(len(keys)))
		for j, k := range keys {
			vals[j] = m[k]()
			size += strLen(k) + uvarintLen(uint64(len(vals[j]))) + len(vals[j])
		}
		e := &enc{b: make([]byte, 0, size)}
		e.int(len(keys))
		for j, k := range keys {
			e.str(k)
			e.bytes(vals[j])
		}
		b.cache.put("pack", b.packKey(i), e.b)
	})
}

// packSame reports whether shard i, to hold keys, is the one the last
// build wrote. A shard is written again when an entry was put into it (a
// bundle's key names the bundle, not its content) or its set of keys
// changed.
func (b *build) packSame(i int, keys []string) bool {
	if b.packDirty[i] || b.packOldCount == nil || len(keys) != b.packOldCount[i] {
		return false
	}
	for _, k := range keys {
		if _, ok := b.packOld[k]; !ok {
			return false
		}
	}
	return true
}
