package builder

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/manifest"
)

func sampleState() *outputState {
	return &outputState{
		Inputs: "in", OutputFP: "fp", CompKey: "gzip:6 min 256",
		Build: &manifest.Build{ID: "id", ConfigDigest: "cd", Version: "v", ContentVersion: "cv",
			Jobs: []manifest.Job{{Area: "frontend", Theme: "A/b", Locale: "fr_FR", Dir: "frontend/A/b/fr_FR", Files: 2, Bytes: 30}},
			Files: map[string]manifest.File{
				"build.json":                   {SHA256: "", Size: 0},
				"frontend/A/b/fr_FR/a.1.js":    {SHA256: "aa", Size: 10},
				"frontend/A/b/fr_FR/a.1.js.gz": {SHA256: "bb", Size: 1 << 40},
				"frontend/A/b/de_DE/a.1.js":    {SHA256: "aa", Size: 10},
			}},
		Side: map[string][]sideRec{"aa": {{Enc: "gzip", SHA: "bb", Size: 5}}, "cc": nil},
		Stat: map[string]statRec{"/src/a.js": {St: fstree.Stat{Size: 10, Mtime: -5, Ctime: 1 << 62, Ino: 1<<64 - 1}, Digest: "aa"}},
		Memo: map[string]memoRec{"\x00k\xff": {Sum: "aa", Size: 10}},
		Probes: []fstree.DirProbe{
			{Rel: ".", Node: fstree.Node{Kind: fstree.Dir, Dev: 3, Stat: fstree.Stat{Size: 80, Mtime: 1, Ctime: 2, Ino: 4}},
				Files: []fstree.FileProbe{{Name: "build.json", Node: fstree.Node{Kind: fstree.File, Dev: 3, Stat: fstree.Stat{Size: 9, Mtime: -1, Ctime: 1 << 62, Ino: 1<<64 - 1}}}}},
			{Rel: "frontend/A/b/fr_FR", Node: fstree.Node{Kind: fstree.Dir, Dev: 3, Stat: fstree.Stat{Ino: 5}}},
		},
		Result: savedResult{Jobs: []JobResult{{ID: "frontend/A/b/fr_FR", Files: 2, Missing: []string{"Hi"}}},
			Missing:  map[string]int{"fr_FR": 1},
			Warnings: []savedWarning{{Msg: "w"}, {Diag: &diag.Error{Kind: diag.Build, Scope: "s", File: "f", Line: 1, Col: 2, Msg: "m"}}}},
	}
}

// TestStateRoundTrip checks that a state decodes to what was encoded:
// the head, and the body once a part of it is asked for.
func TestStateRoundTrip(t *testing.T) {
	st := sampleState()
	head, err := encodeStateHead(st)
	if err != nil {
		t.Fatal(err)
	}
	body := encodeStateBody(st, maps.All(st.Build.Files))
	got, err := decodeState(head)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	got.readBody = func() ([]byte, bool) { reads++; return body, true }
	if got.Build.Files != nil || got.Side != nil || got.Memo != nil || reads != 0 {
		t.Error("the body was read before it was asked for")
	}
	_, err1 := got.files()
	_, err2 := got.side()
	_, err3 := got.memo()
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Errorf("the body was read %d times", reads)
	}
	// The list is sorted by path (the body's is in map order here) and
	// found by path.
	list, _ := got.fileList()
	if !slices.IsSortedFunc(list, func(a, b stateFile) int { return strings.Compare(a.rel, b.rel) }) {
		t.Errorf("file list not sorted: %v", list)
	}
	for rel, f := range st.Build.Files {
		if sf, ok := lookup(list, rel); !ok || sf.sum != f.SHA256 || sf.size != f.Size {
			t.Errorf("lookup(%s) = %v, %v", rel, sf, ok)
		}
	}
	if _, ok := lookup(list, "frontend/A/b/fr_FR/a.1.js.br"); ok {
		t.Error("lookup found a path not in the list")
	}
	got.filesRaw, got.sideRaw, got.memoRaw, got.readBody, got.list, got.bodyRead = nil, nil, nil, nil, nil, false
	st.Side["cc"] = []sideRec{} // nil and empty are the same to the builder
	if !reflect.DeepEqual(got, st) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, st)
	}

	// A missing body, or a damaged part of it, is an error when it is
	// decoded, never a partial state.
	missing, _ := decodeState(head)
	missing.readBody = func() ([]byte, bool) { return nil, false }
	if _, err := missing.files(); err == nil {
		t.Error("a state without its body gave a file list")
	}
	for name, part := range map[string]func(st *outputState) error{
		"file list": func(st *outputState) error {
			st.filesRaw = append([]byte{0xff}, st.filesRaw[1:]...)
			_, err := st.files()
			return err
		},
		"sidecars": func(st *outputState) error {
			st.sideRaw = st.sideRaw[:len(st.sideRaw)-1]
			_, err := st.side()
			return err
		},
		"memo": func(st *outputState) error {
			st.memoRaw = append(st.memoRaw, 0)
			_, err := st.memo()
			return err
		},
	} {
		bad, _ := decodeState(head)
		if err := bad.setBody(body); err != nil {
			t.Fatal(err)
		}
		if err := part(bad); err == nil {
			t.Errorf("a damaged %s decoded", name)
		}
	}
	// A path listed twice is an error.
	twice := encodeStateBody(st, func(yield func(string, manifest.File) bool) {
		_ = yield("b", manifest.File{SHA256: "aa"}) && yield("a", manifest.File{}) && yield("b", manifest.File{})
	})
	dup, _ := decodeState(head)
	if err := dup.setBody(twice); err != nil {
		t.Fatal(err)
	}
	if _, err := dup.fileList(); err == nil {
		t.Error("a file list with a path twice decoded")
	}
	// Every truncation is an error, never a panic or a partial state.
	for n := range len(head) {
		if _, err := decodeState(head[:n]); err == nil {
			t.Fatalf("a state head cut at %d of %d bytes decoded", n, len(head))
		}
	}
	for n := range len(body) {
		var st outputState
		if err := st.setBody(body[:n]); err == nil {
			t.Fatalf("a state body cut at %d of %d bytes was taken", n, len(body))
		}
	}
}

// TestTreeFilesSorted checks that per-job file lists, sorted by directory
// and "/", yield the tree's paths in sorted order even when one job
// directory's name is a prefix of another's.
func TestTreeFilesSorted(t *testing.T) {
	dirs := []string{"frontend/A/b/en_US2", "frontend/A/b/en_US", "frontend/A/b/en_US-x", "adminhtml/A/b/en_US", "frontend/A/b-c/en_US"}
	var all []jobFiles
	for _, d := range dirs {
		jf := jobFiles{dir: d}
		for _, n := range []string{"z.js", "a/b.css", "a.b/c.js", "a-b/c.js", "manifest.json"} {
			jf.add(n, manifest.File{SHA256: d + "/" + n})
		}
		slices.SortFunc(jf.entries, func(x, y fileEntry) int { return strings.Compare(x.name, y.name) })
		all = append(all, jf)
	}
	sortJobFiles(all)
	var got []string
	for p, f := range treeFiles(all) {
		if f.SHA256 != p {
			t.Fatalf("%s carries the file of %s", p, f.SHA256)
		}
		got = append(got, p)
	}
	if len(got) != len(dirs)*5 || !slices.IsSorted(got) {
		t.Errorf("paths not sorted:\n%s", strings.Join(got, "\n"))
	}
}

// FuzzDecodeState feeds a state's decoders damaged input: a head or a
// body that does not decode is an error, never a panic, and a head that
// decodes encodes to one that decodes the same.
func FuzzDecodeState(f *testing.F) {
	st := sampleState()
	head, err := encodeStateHead(st)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(head, encodeStateBody(st, maps.All(st.Build.Files)))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, head, body []byte) {
		if got, err := decodeState(head); err == nil {
			again, err := encodeStateHead(got)
			if err != nil {
				t.Fatalf("a decoded head does not encode: %v", err)
			}
			got2, err := decodeState(again)
			if err != nil || !reflect.DeepEqual(got, got2) {
				t.Fatalf("round trip: %v\n%+v\n%+v", err, got, got2)
			}
		}
		st := &outputState{Build: &manifest.Build{}}
		if st.setBody(body) == nil {
			st.files()
			st.side()
			st.memo()
		}
	})
}
