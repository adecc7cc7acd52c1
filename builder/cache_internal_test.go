package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder/fstree"
)

// TestCacheGetMapped: a mapped entry reads as get reads it, also once
// its pages are released and the entry replaced, and one that does not
// verify (a byte changed, cut short, empty) is refused and removed, as
// get does.
func TestCacheGetMapped(t *testing.T) {
	c, err := openCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("ab", 32)
	payload := bytes.Repeat([]byte("a leaf's minified bytes; "), 4000)
	for what, damage := range map[string]func([]byte) []byte{
		"intact":    func(b []byte) []byte { return b },
		"a byte":    func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
		"header":    func(b []byte) []byte { return b[:frameHeader] },
		"empty":     func([]byte) []byte { return nil },
	} {
		c.put("pack", key, payload)
		data, err := os.ReadFile(c.path("pack", key))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path("pack", key), damage(data), 0o644); err != nil {
			t.Fatal(err)
		}
		got, mapping, ok := c.getMapped("pack", key)
		_, statErr := os.Stat(c.path("pack", key))
		if what == "intact" {
			if !ok || !bytes.Equal(got, payload) || statErr != nil || mapping == nil {
				t.Errorf("intact: ok %v, same bytes %v, file %v, mapped %v", ok, bytes.Equal(got, payload), statErr, mapping != nil)
			}
			// Its pages given back, and the entry replaced by a new file
			// (as a build's put does), it still reads the same.
			release([][]byte{mapping})
			c.put("pack", key, []byte("another payload"))
			if !bytes.Equal(got, payload) {
				t.Error("intact: released, the mapping no longer reads the payload")
			}
			continue
		}
		if ok || !os.IsNotExist(statErr) {
			t.Errorf("%s: ok %v, the entry was not removed (%v)", what, ok, statErr)
		}
	}
	if _, _, ok := c.getMapped("pack", strings.Repeat("cd", 32)); ok {
		t.Error("a missing entry was found")
	}
}

// TestUvarintLen checks the encoded lengths the encoders size their
// buffers with against the encoding itself.
func TestUvarintLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 16383, 16384, 1<<32 - 1, 1 << 35, 1<<63 + 5, ^uint64(0)} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}

// TestEncodeStateSideSized checks that the sidecars' table is encoded
// into a buffer made to its size: at 20 × 30 it is tens of megabytes,
// which growing would copy again and again.
func TestEncodeStateSideSized(t *testing.T) {
	st := &outputState{Side: map[string][]sideRec{}, Memo: map[string]memoRec{}}
	for i := range 2000 {
		sum := fmt.Sprintf("%064x", i)
		st.Side[sum] = []sideRec{{Enc: "gzip", SHA: sum, Size: int64(i) << 20}, {Enc: "br", SHA: sum, Size: 3}}
		st.Memo[fmt.Sprintf("memo key %d", i)] = memoRec{Sum: sum, Size: int64(i)}
	}
	var out []byte
	if n := testing.AllocsPerRun(5, func() { out = encodeStateSide(st) }); n > 2 {
		t.Errorf("%v allocations; want the buffer and its encoder", n)
	}
	if slack := cap(out) - len(out); slack > 2*(8+binary.MaxVarintLen64) {
		t.Errorf("buffer of %d bytes for %d", cap(out), len(out))
	}
}

// TestEncodeStateBodyContents encodes the contents of many probes, some
// files without a content and two with the same one, and decodes them
// back in order; the buffer is made at its size.
func TestEncodeStateBodyContents(t *testing.T) {
	var probes []fstree.DirProbe
	sums := map[string]string{} // by directory and name
	var want []string
	for d := range 300 {
		p := fstree.DirProbe{Rel: fmt.Sprintf("frontend/A/b/en_US/d%03d", d)}
		for f := range d % 7 {
			name := fmt.Sprintf("f%d.js", f)
			p.Files = append(p.Files, fstree.FileProbe{Name: name})
			sum := ""
			switch {
			case f == 3:
				// no content known
			case d == 20 && f == 1:
				sum = fmt.Sprintf("%064x", 10*1000+1) // as d010/f1.js
			default:
				sum = fmt.Sprintf("%064x", d*1000+f)
			}
			sums[p.Rel+"/"+name] = sum
			want = append(want, sum)
		}
		probes = append(probes, p)
	}
	byDir := map[string]func(string) string{} // made before, not per call
	for _, p := range probes {
		byDir[p.Rel] = func(name string) string { return sums[p.Rel+"/"+name] }
	}
	sumsIn := func(dir string) func(string) string { return byDir[dir] }
	var body []byte
	// The starts, the contents, the buffer and its encoder, the workers:
	// a few, not one per probe or per file.
	if n := testing.AllocsPerRun(3, func() { body = encodeStateBody(probes, sumsIn, 2) }); n > 16 {
		t.Errorf("%v allocations for %d probes", n, len(probes))
	}
	if slack := cap(body) - len(body); slack > 2*binary.MaxVarintLen64 {
		t.Errorf("buffer of %d bytes for %d", cap(body), len(body))
	}
	st := &outputState{Probes: probes, bodyRead: true}
	if err := st.setBody(append(body, encodeStateSide(&outputState{})...)); err != nil {
		t.Fatal(err)
	}
	got, err := st.contents()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("decoded %d contents, not the %d encoded (or not in order)", len(got), len(want))
	}
}

// TestLeafEntry: a leaf's pack entry gives back what was processed and
// the digest of its output, which the recalling build then neither
// computes for the store nor for the rewrite memo; an entry cut short
// anywhere is refused.
func TestLeafEntry(t *testing.T) {
	l := &leaf{out: []byte(`define(["jquery"],function($){return $.mage.__("Add to Cart")})`), marked: true,
		phrases: []string{"Add to Cart"}, srcRefs: []cssRef{{Off: 1, End: 9, URL: "a.png"}}, outRefs: []cssRef{{Off: 0, End: 7, URL: "a.png"}}}
	entry := encodeLeaf(l)
	var got leaf
	if !decodeLeaf(&got, entry) {
		t.Fatal("the entry does not decode")
	}
	if !bytes.Equal(got.out, l.out) || !got.marked || !slices.Equal(got.phrases, l.phrases) || !slices.Equal(got.outRefs, l.outRefs) || !slices.Equal(got.srcRefs, l.srcRefs) {
		t.Errorf("decoded out %q, phrases %q, refs %v %v", got.out, got.phrases, got.srcRefs, got.outRefs)
	}
	// The digest comes from the entry: had it been computed, it would be
	// this (the data given to get is not the output).
	if got.in.get([]byte("not the output")).sum != sha256.Sum256(l.out) {
		t.Error("the recalled leaf's digest is not its output's sha256")
	}
	for n := range len(entry) {
		if decodeLeaf(&leaf{}, entry[:n]) {
			t.Fatalf("an entry cut to %d of %d bytes decodes", n, len(entry))
		}
	}
}
