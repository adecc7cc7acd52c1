package builder

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder/precompress"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
)

// TestJobFileListAt checks that jobFileList tells where each file went in
// its sorted list, in the order writeJob puts them: each output, its
// sidecars, then the manifest. The names are chosen so that sorting moves
// a file's sidecars away from it ("a.js-x.js" sorts between "a.js" and
// "a.js.br") and puts the manifest among the outputs.
func TestJobFileListAt(t *testing.T) {
	both := []precompress.Encoding{precompress.Brotli, precompress.Gzip}
	blobOf := func(sum string, encs []precompress.Encoding) *blob {
		bl := &blob{sum: sum, size: int64(len(sum)), encs: encs}
		for _, e := range encs {
			bl.sides = append(bl.sides, sidecar{sum: sum + string(e), size: 1})
		}
		return bl
	}
	gzipFirst := []precompress.Encoding{precompress.Gzip, precompress.Zstd, precompress.Brotli}
	for what, outputs := range map[string][]output{
		"sidecars apart": {
			{name: "z.css", blob: blobOf("z", both)},
			{name: "a.js", blob: blobOf("a", both)},
			{name: "a.js-x.js", blob: blobOf("x", nil)},
			{name: "n/b.js", blob: blobOf("b", both[1:])},
		},
		// sorted by name once each output's sidecars are: encodings in
		// configured order, not their extensions'
		"sidecars by extension": {
			{name: "z.css", blob: blobOf("z", gzipFirst)},
			{name: "a.js", blob: blobOf("a", gzipFirst)},
			{name: "n/b.js", blob: blobOf("b", gzipFirst[:2])},
		},
	} {
		j := &job{Job: matrix.Job{Area: "frontend", Theme: "Acme/shop", Locale: "en_US"}, outputs: outputs}
		j.manifest = blobOf("m", both[:1])
		checkJobFileList(t, what, j)
	}
}

func checkJobFileList(t *testing.T, what string, j *job) {
	t.Helper()
	jf := (&build{}).jobFileList(j)
	var want []string // the names in writeJob's order
	for _, o := range j.outputs {
		want = append(want, o.name)
		for _, e := range o.blob.encs {
			want = append(want, o.name+e.Ext())
		}
	}
	want = append(want, manifest.ManifestFile, manifest.ManifestFile+".br")
	if len(jf.entries) != len(want) || len(jf.at) != len(want) {
		t.Fatalf("%s: %d entries and %d positions for %d files", what, len(jf.entries), len(jf.at), len(want))
	}
	if !slices.IsSortedFunc(jf.entries, func(x, y fileEntry) int { return strings.Compare(x.name, y.name) }) {
		t.Fatalf("%s: entries not sorted: %v", what, jf.entries)
	}
	for k, name := range want {
		e := jf.entries[jf.at[k]]
		if e.name != name {
			t.Errorf("%s: file %d (%s) is at %d, which holds %s", what, k, name, jf.at[k], e.name)
		}
	}
	for _, e := range jf.entries {
		if e.name == "a.js.gz" && (e.f.SHA256 != "a"+string(precompress.Gzip) || e.f.Size != 1) {
			t.Errorf("%s: a.js.gz has %+v, not its sidecar's digest and size", what, e.f)
		}
	}
}

// BenchmarkJobFileList lists a job of 2,500 outputs, most with the three
// sidecars of the default configuration in its order, as a Magento job
// has.
func BenchmarkJobFileList(b *testing.B) {
	all := []precompress.Encoding{precompress.Gzip, precompress.Brotli, precompress.Zstd}
	j := &job{Job: matrix.Job{Area: "frontend", Theme: "Acme/shop", Locale: "en_US"}}
	for i := range 2500 {
		bl := &blob{sum: strings.Repeat("ab", 32), size: int64(i)}
		if i%5 != 0 {
			bl.encs = all
			bl.sides = []sidecar{{sum: bl.sum, size: 1}, {sum: bl.sum, size: 2}, {sum: bl.sum, size: 3}}
		}
		name := fmt.Sprintf("Magento_Module%02d/js/view/component-%04d.js", i%60, i)
		j.outputs = append(j.outputs, output{name: name, blob: bl})
	}
	// sorted by name, as a job's outputs are by logical path
	slices.SortFunc(j.outputs, func(x, y output) int { return strings.Compare(x.name, y.name) })
	j.manifest = &blob{sum: "m"}
	bd := &build{}
	b.ReportAllocs()
	for b.Loop() {
		bd.jobFileList(j)
	}
}

// add appends a file to jf, in writeJob's order: for tests that make
// lists by hand.
func (jf *jobFiles) add(name string, f manifest.File) {
	jf.entries = append(jf.entries, fileEntry{name, f, int32(len(jf.entries))})
}
