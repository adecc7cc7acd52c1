package builder

import (
	"reflect"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
)

func sampleJobRec() *jobRec {
	sum := func(c string) string { return strings.Repeat(c, 64) }
	return &jobRec{
		outputs: []recFile{
			{logical: "js/app.js", name: "js/app.js", sum: sum("a"), size: 120},
			{logical: "css/styles-m.css", name: "css/styles-m.3f2a.css", sum: sum("b"), size: 9000},
		},
		manifest: recFile{sum: sum("c"), size: 300},
		missing:  []string{"Add to Cart"},
		memo:     []memoEntry{{key: strings.Repeat("\x01", 32), rec: memoRec{Sum: sum("d"), Size: 7}}},
		warnings: []savedWarning{{Diag: &diag.Error{Kind: diag.Build, Scope: "frontend/A/b/fr_FR", File: "web/x.css", Line: 3, Col: 9, Msg: "unclosed"}}},
		packKeys: []string{"less/abc", "tailwind/def"},
	}
}

func TestJobRecRoundTrip(t *testing.T) {
	want := sampleJobRec()
	data, err := encodeJobRec(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJobRec(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nwant %+v", got, want)
	}
	for n := range len(data) {
		if _, err := decodeJobRec(data[:n]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", n, len(data))
		}
	}
}

// FuzzDecodeJobRec: a damaged record is an error, never a panic, and what
// decodes encodes back to a record that decodes the same.
func FuzzDecodeJobRec(f *testing.F) {
	data, err := encodeJobRec(sampleJobRec())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeJobRec(data)
		if err != nil {
			return
		}
		again, err := encodeJobRec(r)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		r2, err := decodeJobRec(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, r, r2)
		}
	})
}
