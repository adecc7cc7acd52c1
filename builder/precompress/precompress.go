// Package precompress produces the .gz, .br and .zst sidecars of published
// files, so that a server (the embedded one, nginx gzip_static/brotli_static,
// a CDN) can send compressed bytes without compressing on each request.
//
// Output is deterministic, because the build tree must be byte-identical for
// the same inputs: gzip headers carry no name and no modification time, zstd
// runs single-threaded without a dictionary, and every encoder is configured
// only by its level. Encoders are costly to create (zstd and brotli allocate
// large tables), so they are pooled per encoding and level (brotli: and
// window; zstd: kept for the life of the process, see zstdEncoders) and
// reused across goroutines; a reused encoder gives the bytes of a fresh
// one, which the tests check.
package precompress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Encoding is a content coding, named as in the HTTP Content-Encoding header.
type Encoding string

// Supported encodings.
const (
	Gzip   Encoding = "gzip"
	Brotli Encoding = "br"
	Zstd   Encoding = "zstd"
)

// Ext returns the file-name suffix of the encoding's sidecar, as servers
// expect it (nginx gzip_static: .gz; brotli_static: .br; zstd: .zst).
func (e Encoding) Ext() string {
	switch e {
	case Gzip:
		return ".gz"
	case Brotli:
		return ".br"
	case Zstd:
		return ".zst"
	}
	return ""
}

// ParseEncoding parses an encoding name as written in configuration: the
// Content-Encoding token (gzip, br, zstd), the usual long name (brotli) or the
// file suffix (gz, zst), in any case.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "gzip", "gz":
		return Gzip, nil
	case "br", "brotli":
		return Brotli, nil
	case "zstd", "zst":
		return Zstd, nil
	}
	return "", fmt.Errorf("unknown compression %q (want gzip, br or zstd)", s)
}

// Level ranges and defaults. Defaults favour build time: brotli above 9 is
// dozens of times slower for a few percent (see DESIGN.md, Performance).
const (
	GzipMinLevel, GzipMaxLevel, GzipDefaultLevel       = 1, 9, 6
	BrotliMinLevel, BrotliMaxLevel, BrotliDefaultLevel = 0, 11, 6
	ZstdMinLevel, ZstdMaxLevel, ZstdDefaultLevel       = 1, 22, 3
)

// Options configure Compress.
type Options struct {
	// Encodings to produce, in the order sidecars are reported.
	Encodings []Encoding
	// Levels per encoding; a missing entry means the default. gzip 1..9
	// (default 6), br 0..11 (default 6), zstd 1..22 (zstd's own levels,
	// default 3; see zstdLevel).
	Levels map[Encoding]int
	// MinSize: files smaller than this get no sidecars (a few hundred bytes
	// gain nothing once headers and a file per encoding are paid for).
	MinSize int
}

// Validate reports unknown encodings and levels out of range, for the
// configuration layer; Compress itself clamps levels rather than fail.
func (o Options) Validate() error {
	var errs []error
	for _, e := range o.Encodings {
		if e.Ext() == "" {
			errs = append(errs, fmt.Errorf("unknown compression %q (want gzip, br or zstd)", string(e)))
		}
	}
	for e, l := range o.Levels {
		lo, hi, _, ok := levelRange(e)
		if !ok {
			errs = append(errs, fmt.Errorf("compression level for unknown compression %q", string(e)))
			continue
		}
		if l < lo || l > hi {
			errs = append(errs, fmt.Errorf("%s compression level %d out of range %d..%d", e, l, lo, hi))
		}
	}
	if o.MinSize < 0 {
		errs = append(errs, fmt.Errorf("compression min size %d is negative", o.MinSize))
	}
	return errors.Join(errs...)
}

func levelRange(e Encoding) (lo, hi, def int, ok bool) {
	switch e {
	case Gzip:
		return GzipMinLevel, GzipMaxLevel, GzipDefaultLevel, true
	case Brotli:
		return BrotliMinLevel, BrotliMaxLevel, BrotliDefaultLevel, true
	case Zstd:
		return ZstdMinLevel, ZstdMaxLevel, ZstdDefaultLevel, true
	}
	return 0, 0, 0, false
}

// level returns the effective level of e: configured or default, clamped.
func (o Options) level(e Encoding) int {
	lo, hi, def, _ := levelRange(e)
	l, ok := o.Levels[e]
	if !ok {
		return def
	}
	return min(max(l, lo), hi)
}

// compressible lists the extensions of text-like and uncompressed binary
// formats. Everything else, notably images, fonts that are already
// compressed (woff, woff2), archives and media, gets no sidecar: compressing
// them costs CPU and files for a few bytes at best.
var compressible = map[string]bool{
	// code and text
	"js": true, "mjs": true, "cjs": true, "jsx": true, "ts": true, "tsx": true,
	"css": true, "less": true, "scss": true, "sass": true,
	"html": true, "htm": true, "xhtml": true, "shtml": true,
	"json": true, "jsonld": true, "map": true, "webmanifest": true, "manifest": true, "appcache": true,
	"xml": true, "rss": true, "atom": true, "xsl": true, "xslt": true, "dtd": true,
	"txt": true, "text": true, "md": true, "markdown": true, "csv": true, "tsv": true, "ics": true, "vcf": true,
	"svg": true, "vtt": true, "srt": true, "yaml": true, "yml": true, "toml": true,
	"mustache": true, "hbs": true, "handlebars": true, "tpl": true, "phtml": true,
	// uncompressed binary formats
	"ico": true, "cur": true, "bmp": true, "ttf": true, "otf": true, "eot": true, "ttc": true,
	"wasm": true, "tif": true, "tiff": true, "pbf": true,
}

// Compressible reports whether a file's type benefits from compression,
// judged by its extension (case-insensitive). Unknown types are not
// compressed: a sidecar is a promise that the result is worth serving.
func Compressible(name string) bool {
	ext := path.Ext(strings.ReplaceAll(name, "\\", "/"))
	if ext == "" {
		return false
	}
	return compressible[strings.ToLower(ext[1:])]
}

// Compress returns the sidecars of data that are strictly smaller than data,
// keyed by encoding; nil when data is smaller than MinSize, empty, or does
// not compress. The result does not alias pooled memory. Safe for
// concurrent use.
func (o Options) Compress(data []byte) map[Encoding][]byte {
	if len(data) == 0 || len(data) < o.MinSize {
		return nil
	}
	var out map[Encoding][]byte
	for _, e := range o.Encodings {
		if _, ok := out[e]; ok {
			continue
		}
		b, ok := compress(e, o.level(e), data)
		if !ok || len(b) >= len(data) {
			continue
		}
		if out == nil {
			out = make(map[Encoding][]byte, len(o.Encodings))
		}
		out[e] = b
	}
	return out
}

// errTooBig stops an encoder as soon as its output reaches the input's size:
// such a sidecar would be dropped anyway, so incompressible data (already
// compressed images that slipped through, random bytes) costs little.
var errTooBig = errors.New("compressed output not smaller than input")

// limitBuffer is a bytes.Buffer that refuses to grow to limit bytes.
type limitBuffer struct {
	buf   bytes.Buffer
	limit int
}

func (w *limitBuffer) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) >= w.limit {
		return 0, errTooBig
	}
	return w.buf.Write(p)
}

// poolKey names a set of interchangeable encoders. For brotli it also holds
// what the encoder fixes on first use and keeps across Reset: the window,
// and whether the first input was at least 1 MiB (the library picks its
// match finder from that size hint once, when it creates it). Encoders
// that agree on all of these give the bytes of a fresh encoder after Reset;
// TestBrotliPooledEqualsFresh holds the library to that.
type poolKey struct {
	e     Encoding
	level int
	lgwin int
	large bool
}

// pools holds one *sync.Pool per (encoding, level); the set of keys is tiny
// (a build uses one level per encoding).
var pools sync.Map

func pool(k poolKey) *sync.Pool {
	if p, ok := pools.Load(k); ok {
		return p.(*sync.Pool)
	}
	p, _ := pools.LoadOrStore(k, &sync.Pool{New: func() any { return newEncoder(k) }})
	return p.(*sync.Pool)
}

// brotliLargeInput is the size from which the brotli library switches to
// another match finder (its size hint of 1 MiB).
const brotliLargeInput = 1 << 20

// brotliPoolMaxQuality is the highest brotli quality whose encoders are
// reused: from 10 on the library runs its Zopfli path, which checks the
// hasher parameters that Reset clears, so those get a fresh encoder.
const brotliPoolMaxQuality = 9

// key returns the pool key for compressing n bytes with e at level.
func key(e Encoding, level, n int) poolKey {
	if e != Brotli {
		return poolKey{e: e, level: level}
	}
	return poolKey{e: e, level: level, lgwin: brotliWindow(n), large: n >= brotliLargeInput}
}

func newEncoder(k poolKey) any {
	e, level := k.e, k.level
	switch e {
	case Gzip:
		w, err := gzip.NewWriterLevel(io.Discard, level)
		if err != nil {
			panic(err) // the level was clamped to a valid range
		}
		return w
	case Brotli:
		// A window just larger than the data gives the same bytes as the
		// default 4 MiB window and is 2-3 times faster on small files.
		return brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: level, LGWin: k.lgwin})
	case Zstd:
		w, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstdLevel(level)),
			zstd.WithEncoderCRC(true))
		if err != nil {
			panic(err) // only invalid options fail, and these are constants
		}
		return w
	}
	return nil
}

// zstdEncoders hands out the zstd encoders of one level. A new encoder is
// costly: its match tables (4.7 MB at the "better" level) are allocated and
// faulted in by its first use, 5–10 ms in a build, which a rebuild that
// compresses a handful of small files would pay once per worker. So
// encoders are kept for the life of the process (a sync.Pool drops its
// items every other collection), and an input under zstdSmall waits for a
// busy encoder instead of making another until enough inputs went through
// to show that the work is there: one more encoder per zstdGrowth small
// inputs, none beyond GOMAXPROCS. A large input never waits. Every encoder
// gives the same bytes, so which one serves an input does not matter.
type zstdEncoders struct {
	k    poolKey
	mu   sync.Mutex
	cond sync.Cond
	idle []*zstd.Encoder
	made int
	uses int
}

const (
	zstdSmall  = 64 << 10
	zstdGrowth = 32
)

var zstdLists sync.Map // poolKey → *zstdEncoders

func zstdList(k poolKey) *zstdEncoders {
	if l, ok := zstdLists.Load(k); ok {
		return l.(*zstdEncoders)
	}
	l := &zstdEncoders{k: k}
	l.cond.L = &l.mu
	got, _ := zstdLists.LoadOrStore(k, l)
	return got.(*zstdEncoders)
}

func (l *zstdEncoders) get(n int) *zstd.Encoder {
	l.mu.Lock()
	l.uses++
	for len(l.idle) == 0 {
		if n >= zstdSmall || l.made == 0 || l.made < min(1+l.uses/zstdGrowth, runtime.GOMAXPROCS(0)) {
			l.made++
			l.mu.Unlock()
			return newEncoder(l.k).(*zstd.Encoder)
		}
		l.cond.Wait()
	}
	w := l.idle[len(l.idle)-1]
	l.idle = l.idle[:len(l.idle)-1]
	l.mu.Unlock()
	return w
}

func (l *zstdEncoders) put(w *zstd.Encoder) {
	l.mu.Lock()
	l.idle = append(l.idle, w)
	l.mu.Unlock()
	l.cond.Signal()
}

// zstdLevel maps a level of the zstd command line (1..22) onto the four
// encoders klauspost's package has, as that package documents the
// correspondence: 1–2 fastest, 3–5 default (zstd's own default, 3), 6–9
// better, 10 and up best.
func zstdLevel(l int) zstd.EncoderLevel { return zstd.EncoderLevelFromZstd(l) }

// compress encodes data with e at level; ok is false when e is unknown or the
// result would not be smaller than data.
func compress(e Encoding, level int, data []byte) ([]byte, bool) {
	if e.Ext() == "" {
		return nil, false
	}
	k := key(e, level, len(data))
	var enc any
	switch {
	case e == Brotli && level > brotliPoolMaxQuality:
		enc = newEncoder(k)
	case e == Zstd:
		l := zstdList(k)
		w := l.get(len(data))
		defer l.put(w)
		enc = w
	default:
		p := pool(k)
		enc = p.Get()
		defer p.Put(enc)
	}
	switch w := enc.(type) {
	case *zstd.Encoder:
		// EncodeAll on a one-goroutine encoder is deterministic and needs no
		// Reset; the output is allocated here, not pooled.
		return w.EncodeAll(data, make([]byte, 0, len(data)/3+64)), true
	case *gzip.Writer:
		lb := &limitBuffer{limit: len(data)}
		lb.buf.Grow(len(data)/3 + 64)
		w.Reset(lb) // Reset clears the header: no name, no comment
		// No mtime: the header field must be 0. klauspost writes the zero
		// time.Time as uint32(-62135596800), not 0, unlike compress/gzip.
		w.ModTime = time.Unix(0, 0)
		_, err := w.Write(data)
		if err == nil {
			err = w.Close()
		}
		w.Reset(io.Discard) // drop the reference to the result
		if err != nil {
			return nil, false
		}
		return lb.buf.Bytes(), true
	case *brotli.Writer:
		lb := &limitBuffer{limit: len(data)}
		lb.buf.Grow(len(data)/4 + 64)
		w.Reset(lb)
		_, err := w.Write(data)
		if err == nil {
			err = w.Close()
		}
		w.Reset(io.Discard)
		if err != nil {
			return nil, false
		}
		return lb.buf.Bytes(), true
	}
	return nil, false
}

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdDecErr  error
)

// Decompress decodes data compressed with e: the inverse of Compress, for
// verification (a build checks every sidecar) and tests.
func Decompress(e Encoding, data []byte) ([]byte, error) {
	switch e {
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return out, nil
	case Brotli:
		out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(data)))
		if err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
		return out, nil
	case Zstd:
		zstdDecOnce.Do(func() {
			// DecodeAll is safe for concurrent use on one decoder.
			zstdDec, zstdDecErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
		})
		if zstdDecErr != nil {
			return nil, fmt.Errorf("zstd: %w", zstdDecErr)
		}
		out, err := zstdDec.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown compression %q", string(e))
}

// brotliWindow is the log2 window size for n bytes of input: the smallest
// that holds them, within brotli's 10..22 (22 is the encoder's default).
func brotliWindow(n int) int {
	return min(max(bits.Len(uint(n)), 10), 22)
}
