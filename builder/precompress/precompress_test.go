package precompress

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

var all = []Encoding{Gzip, Brotli, Zstd}

// sampleJS returns n bytes of minified-JS-like text. Names, words and
// numbers are drawn at random from small vocabularies so that it compresses
// about as well as real minified bundles (gzip: roughly 3 to 4 times), not as
// well as a repeated template would.
func sampleJS(n int) []byte {
	words := strings.Fields(`add cart checkout customer product price total item items quantity shipping billing
		address email password sign in out account wishlist compare search filter sort page next previous close open
		menu header footer minicart review rating stock available backorder discount coupon apply remove update
		the a to of and for with your this that is are be not`)
	r := rand.New(rand.NewPCG(1, 2))
	ident := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$"
		k := 1 + r.IntN(3)
		b := make([]byte, k)
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		return string(b)
	}
	phrase := func() string {
		k := 1 + r.IntN(5)
		p := make([]string, k)
		for i := range p {
			p[i] = words[r.IntN(len(words))]
		}
		return strings.Join(p, " ")
	}
	var b strings.Builder
	for b.Len() < n {
		switch r.IntN(6) {
		case 0:
			fmt.Fprintf(&b, `define("Acme_%s/js/%s",["jquery","ko","%s"],function(%s,%s){"use strict";`, ident(), ident(), ident(), ident(), ident())
		case 1:
			fmt.Fprintf(&b, `var %s=%s.%s(%d),%s="%s";`, ident(), ident(), ident(), r.IntN(100000), ident(), phrase())
		case 2:
			fmt.Fprintf(&b, `if(%s.%s>%d){%s.push({id:%s,label:"%s",qty:%d/%d|0})}`, ident(), ident(), r.IntN(500), ident(), ident(), phrase(), r.IntN(999), 1+r.IntN(9))
		case 3:
			fmt.Fprintf(&b, `return %s("%s").toggleClass("%s",%s>%d)}`, ident(), phrase(), ident(), ident(), r.IntN(50))
		case 4:
			fmt.Fprintf(&b, `function %s(%s,%s){return %s?%s[%s]:%s.%s("%s")}`, ident(), ident(), ident(), ident(), ident(), ident(), ident(), ident(), phrase())
		default:
			fmt.Fprintf(&b, `%s.%s=%s.extend({defaults:{template:"%s/%s",visible:!%d}});`, ident(), ident(), ident(), ident(), ident(), r.IntN(2))
		}
	}
	return []byte(b.String()[:n])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSampleIsRealistic(t *testing.T) {
	data := sampleJS(50 << 10)
	gz := Options{Encodings: []Encoding{Gzip}}.Compress(data)[Gzip]
	if r := float64(len(data)) / float64(len(gz)); r < 2.5 || r > 5 {
		t.Fatalf("gzip ratio %.1f: the sample no longer resembles minified JS", r)
	}
}

func TestCompressRoundTrip(t *testing.T) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"js 50KB", sampleJS(50 << 10)},
		{"js 1KB", sampleJS(1 << 10)},
		{"short text", []byte(strings.Repeat("hello ", 20))},
		{"zeros 1MB", make([]byte, 1<<20)},
		{"large js 2MB", sampleJS(2 << 20)},
	}
	levels := []struct {
		name   string
		levels map[Encoding]int
	}{
		{"defaults", nil},
		{"fastest", map[Encoding]int{Gzip: 1, Brotli: 0, Zstd: 1}},
		{"best", map[Encoding]int{Gzip: 9, Brotli: 11, Zstd: 19}},
		{"zstd better", map[Encoding]int{Zstd: 7}},
	}
	for _, in := range inputs {
		for _, lv := range levels {
			t.Run(in.name+"/"+lv.name, func(t *testing.T) {
				if lv.name == "best" && len(in.data) > 64<<10 {
					t.Skip("brotli 11 runs at ~0.5 MB/s: kept to small inputs")
				}
				o := Options{Encodings: all, Levels: lv.levels}
				got := o.Compress(in.data)
				if len(got) != len(all) {
					t.Fatalf("got %d sidecars, want %d", len(got), len(all))
				}
				for e, c := range got {
					if len(c) >= len(in.data) {
						t.Errorf("%s sidecar (%d bytes) not smaller than input (%d)", e, len(c), len(in.data))
					}
					d, err := Decompress(e, c)
					if err != nil {
						t.Fatalf("%s: %v", e, err)
					}
					if !bytes.Equal(d, in.data) {
						t.Fatalf("%s: round trip differs", e)
					}
				}
			})
		}
	}
}

func TestCompressDeterministic(t *testing.T) {
	a, b := sampleJS(40<<10), sampleJS(70 << 10)[7:]
	o := Options{Encodings: all}
	first := o.Compress(a)
	o.Compress(b) // the pooled encoders now hold state from other data
	again := o.Compress(a)
	for _, e := range all {
		if !bytes.Equal(first[e], again[e]) {
			t.Errorf("%s: compressing the same bytes twice differs", e)
		}
		// A fresh encoder must agree with a pooled one.
		fresh, ok := compressFresh(e, o.level(e), a)
		if !ok || !bytes.Equal(fresh, first[e]) {
			t.Errorf("%s: pooled encoder output differs from a fresh encoder's", e)
		}
	}
	// gzip header: no name, no modification time.
	gz := first[Gzip]
	if gz[3]&0x08 != 0 || gz[3]&0x10 != 0 || !bytes.Equal(gz[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header has a name, comment or mtime: % x", gz[:10])
	}
}

// compressFresh compresses with a new encoder, bypassing the pools.
func compressFresh(e Encoding, level int, data []byte) ([]byte, bool) {
	k := key(e, level, len(data))
	p, _ := pools.Load(k)
	defer func() {
		if p != nil {
			pools.Store(k, p)
		}
	}()
	pools.Delete(k)
	return compress(e, level, data)
}

// TestBrotliPooledEqualsFresh holds the brotli library to what the pools
// rely on: after Reset, an encoder of the same pool key gives the bytes of a
// fresh encoder, whatever it compressed before. Inputs of all sizes, large
// ones (which make the library pick another match finder) among them, are
// compressed in a shuffled order by every pooled quality.
func TestBrotliPooledEqualsFresh(t *testing.T) {
	big := sampleJS(3 << 20)
	r := rand.New(rand.NewPCG(5, 6))
	var inputs [][]byte
	for _, n := range []int{0, 1, 200, 511, 512, 513, 4 << 10, 40 << 10, 70 << 10, 300 << 10,
		1<<20 - 1, 1 << 20, 1<<20 + 1, 2<<20 + 5} {
		off := r.IntN(len(big) - n + 1)
		inputs = append(inputs, big[off:off+n])
	}
	for range 40 {
		n := r.IntN(200 << 10)
		off := r.IntN(len(big) - n + 1)
		inputs = append(inputs, big[off:off+n])
	}
	inputs = append(inputs, randomBytes(3000), append(randomBytes(5000), big[:20000]...))
	for q := BrotliMinLevel; q <= brotliPoolMaxQuality; q++ {
		order := r.Perm(len(inputs))
		want := make([][]byte, len(inputs)) // a fresh encoder's bytes, made once per input
		for _, i := range append(order, order...) {
			in := inputs[i]
			if q > 6 && len(in) > 512<<10 {
				continue // slow, and the large-input hasher is the same from 5 on
			}
			got, gotOK := compress(Brotli, q, in)
			if want[i] == nil {
				fresh := brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: q, LGWin: brotliWindow(len(in))})
				var b bytes.Buffer
				fresh.Reset(&b)
				fresh.Write(in)
				fresh.Close()
				want[i] = b.Bytes()
			}
			if gotOK && !bytes.Equal(got, want[i]) {
				t.Fatalf("quality %d, %d bytes: a pooled encoder gave %d bytes, a fresh one %d", q, len(in), len(got), len(want[i]))
			}
		}
	}
}

// TestZstdEncoders checks the zstd encoder list: a few small inputs, even
// from several goroutines at once, are served by one encoder; more work
// gets more encoders, up to GOMAXPROCS, and a large input never waits for
// a busy one. Whichever encoder serves an input, the bytes are a fresh
// encoder's.
func TestZstdEncoders(t *testing.T) {
	big := sampleJS(300 << 10)
	k := poolKey{e: Zstd, level: 3}
	fresh := func(in []byte) []byte {
		w := newEncoder(k).(*zstd.Encoder)
		return w.EncodeAll(in, nil)
	}
	l := &zstdEncoders{k: k}
	l.cond.L = &l.mu
	use := func(in []byte) {
		w := l.get(len(in))
		got := w.EncodeAll(in, nil)
		l.put(w)
		if !bytes.Equal(got, fresh(in)) {
			t.Errorf("%d bytes: the listed encoder's output differs from a fresh one's", len(in))
		}
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { use(big[i*1000 : i*1000+2000]) })
	}
	wg.Wait()
	if l.made != 1 {
		t.Errorf("4 small inputs made %d encoders, want 1", l.made)
	}
	// A large input while the only encoder is busy: a second one.
	w := l.get(10)
	use(big[:zstdSmall])
	l.put(w)
	if l.made != 2 {
		t.Errorf("a large input beside a busy encoder: %d encoders, want 2", l.made)
	}
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				use(big[(g*50+i)*100 : (g*50+i)*100+1500])
			}
		})
	}
	wg.Wait()
	if max := max(2, runtime.GOMAXPROCS(0)); l.made > max {
		t.Errorf("200 small inputs made %d encoders, more than %d", l.made, max)
	}
}

// TestZstdLevels checks that a configured zstd level is the zstd command
// line's: each picks the klauspost encoder the README names for it.
func TestZstdLevels(t *testing.T) {
	in := sampleJS(200 << 10)
	for level, want := range map[int]zstd.EncoderLevel{
		1: zstd.SpeedFastest, 2: zstd.SpeedFastest,
		3: zstd.SpeedDefault, 5: zstd.SpeedDefault,
		6: zstd.SpeedBetterCompression, 9: zstd.SpeedBetterCompression,
		10: zstd.SpeedBestCompression, 22: zstd.SpeedBestCompression,
	} {
		w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(want), zstd.WithEncoderCRC(true))
		if err != nil {
			t.Fatal(err)
		}
		got := Options{Encodings: []Encoding{Zstd}, Levels: map[Encoding]int{Zstd: level}}.Compress(in)[Zstd]
		if !bytes.Equal(got, w.EncodeAll(in, nil)) {
			t.Errorf("zstd level %d: not the bytes of klauspost's %s encoder", level, want)
		}
	}
	def := Options{Encodings: []Encoding{Zstd}}.Compress(in)[Zstd]
	if three := (Options{Encodings: []Encoding{Zstd}, Levels: map[Encoding]int{Zstd: 3}}).Compress(in)[Zstd]; !bytes.Equal(def, three) {
		t.Error("the default zstd level is not 3")
	}
}

func TestCompressMinSize(t *testing.T) {
	data := sampleJS(2000)
	tests := []struct {
		name    string
		minSize int
		want    int
	}{
		{"below", 2001, 0},
		{"equal", 2000, 3},
		{"above", 100, 3},
		{"zero", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Options{Encodings: all, MinSize: tt.minSize}).Compress(data); len(got) != tt.want {
				t.Fatalf("MinSize %d: %d sidecars, want %d", tt.minSize, len(got), tt.want)
			}
		})
	}
}

func TestCompressNoSidecar(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		o    Options
	}{
		{"random bytes", randomBytes(64 << 10), Options{Encodings: all}},
		{"random bytes small", randomBytes(300), Options{Encodings: all}},
		{"tiny", []byte("a"), Options{Encodings: all}},
		{"empty", nil, Options{Encodings: all}},
		{"no encodings", sampleJS(10000), Options{}},
		{"unknown encoding", sampleJS(10000), Options{Encodings: []Encoding{"lzma"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.Compress(tt.data); len(got) != 0 {
				for e, c := range got {
					t.Errorf("%s sidecar of %d bytes for %d bytes of input", e, len(c), len(tt.data))
				}
			}
		})
	}
}

func TestCompressSubsetAndDuplicates(t *testing.T) {
	got := Options{Encodings: []Encoding{Zstd, Gzip, Zstd}}.Compress(sampleJS(5000))
	if len(got) != 2 || got[Zstd] == nil || got[Gzip] == nil {
		t.Fatalf("got %v", got)
	}
}

func TestCompressConcurrent(t *testing.T) {
	inputs := [][]byte{sampleJS(30 << 10), sampleJS(50 << 10)[100:], sampleJS(8 << 10), randomBytes(10 << 10)}
	o := Options{Encodings: all, MinSize: 256}
	want := make([]map[Encoding][]byte, len(inputs))
	for i, in := range inputs {
		want[i] = o.Compress(in)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for j := range 6 {
				i := (g + j) % len(inputs)
				got := o.Compress(inputs[i])
				if len(got) != len(want[i]) {
					errs <- fmt.Sprintf("input %d: %d sidecars, want %d", i, len(got), len(want[i]))
					return
				}
				for e, c := range got {
					if !bytes.Equal(c, want[i][e]) {
						errs <- fmt.Sprintf("input %d: %s differs under concurrency", i, e)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestCompressible(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"js/app.js", true}, {"js/app.3fa9c2d1.mjs", true}, {"css/styles.css", true}, {"index.html", true},
		{"page.htm", true}, {"images/logo.svg", true}, {"manifest.json", true}, {"app.js.map", true},
		{"feed.xml", true}, {"robots.txt", true}, {"favicon.ico", true}, {"fonts/a.ttf", true},
		{"fonts/a.otf", true}, {"fonts/a.eot", true}, {"m.wasm", true}, {"data.csv", true}, {"README.md", true},
		{"site.webmanifest", true}, {"UPPER.JS", true}, {`win\path\a.css`, true},
		{"a.png", false}, {"a.jpg", false}, {"a.jpeg", false}, {"a.gif", false}, {"a.webp", false},
		{"a.avif", false}, {"fonts/a.woff", false}, {"fonts/a.woff2", false}, {"a.zip", false},
		{"a.js.gz", false}, {"a.js.br", false}, {"a.js.zst", false}, {"a.mp4", false}, {"a.svgz", false},
		{"noext", false}, {"dir.js/file", false}, {".hidden", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compressible(tt.name); got != tt.want {
				t.Fatalf("Compressible(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestParseEncoding(t *testing.T) {
	tests := []struct {
		in   string
		want Encoding
		err  string
	}{
		{in: "gzip", want: Gzip}, {in: "GZ", want: Gzip}, {in: " br ", want: Brotli}, {in: "brotli", want: Brotli},
		{in: "zstd", want: Zstd}, {in: "zst", want: Zstd},
		{in: "deflate", err: `unknown compression "deflate" (want gzip, br or zstd)`},
		{in: "", err: `unknown compression "" (want gzip, br or zstd)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEncoding(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseEncoding(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}

func TestExt(t *testing.T) {
	for e, want := range map[Encoding]string{Gzip: ".gz", Brotli: ".br", Zstd: ".zst", "x": ""} {
		if got := e.Ext(); got != want {
			t.Errorf("%q.Ext() = %q, want %q", e, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		err  string
	}{
		{name: "defaults", o: Options{Encodings: all}},
		{name: "bounds", o: Options{Encodings: all, Levels: map[Encoding]int{Gzip: 9, Brotli: 0, Zstd: 4}}},
		{name: "gzip 0", o: Options{Levels: map[Encoding]int{Gzip: 0}}, err: "gzip compression level 0 out of range 1..9"},
		{name: "br 12", o: Options{Levels: map[Encoding]int{Brotli: 12}}, err: "br compression level 12 out of range 0..11"},
		{name: "zstd 23", o: Options{Levels: map[Encoding]int{Zstd: 23}}, err: "zstd compression level 23 out of range 1..22"},
		{name: "unknown", o: Options{Encodings: []Encoding{"lz4"}}, err: `unknown compression "lz4" (want gzip, br or zstd)`},
		{name: "negative min size", o: Options{MinSize: -1}, err: "compression min size -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("Validate() = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestCompressClampsLevels(t *testing.T) {
	data := sampleJS(5000)
	got := Options{Encodings: all, Levels: map[Encoding]int{Gzip: 42, Brotli: -3, Zstd: 0}}.Compress(data)
	for _, e := range all {
		d, err := Decompress(e, got[e])
		if err != nil || !bytes.Equal(d, data) {
			t.Errorf("%s with an out-of-range level: %v", e, err)
		}
	}
}

func TestDecompressErrors(t *testing.T) {
	for _, e := range append(all, "x") {
		if _, err := Decompress(e, []byte("not compressed at all")); err == nil {
			t.Errorf("%s: no error for garbage", e)
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	data := sampleJS(50 << 10)
	for _, e := range all {
		b.Run(string(e), func(b *testing.B) {
			o := Options{Encodings: []Encoding{e}}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if len(o.Compress(data)) != 1 {
					b.Fatal("no sidecar")
				}
			}
		})
	}
}

func BenchmarkCompressIncompressible(b *testing.B) {
	data := randomBytes(50 << 10)
	o := Options{Encodings: all}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		o.Compress(data)
	}
}
