package builder

import (
	"cmp"
	"errors"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/manifest"
)

func sampleState() *outputState {
	file := func(ino uint64) fstree.Node {
		return fstree.Node{Kind: fstree.File, Dev: 3, Stat: fstree.Stat{Size: 9, Mtime: -1, Ctime: 1 << 62, Ino: ino}}
	}
	return &outputState{
		Inputs: "in", OutputFP: "fp", CompKey: "gzip:6 min 256", List: "list",
		Build: &manifest.Build{ID: "id", ConfigDigest: "cd", Version: "v", ContentVersion: "cv",
			Jobs: []manifest.Job{{Area: "frontend", Theme: "A/b", Locale: "fr_FR", Dir: "frontend/A/b/fr_FR", Files: 2, Bytes: 30}},
			Files: map[string]manifest.File{
				"frontend/A/b/fr_FR/js/a.1.js":    {SHA256: "aa", Size: 10},
				"frontend/A/b/fr_FR/js/a.1.js.gz": {SHA256: "bb", Size: 1 << 40},
				"frontend/A/b/de_DE/js/a.1.js":    {SHA256: "aa", Size: 10},
			}},
		Side: map[string][]sideRec{"aa": {{Enc: "gzip", SHA: "bb", Size: 5}}, "cc": nil},
		Stat: map[string]statRec{"/src/a.js": {St: fstree.Stat{Size: 10, Mtime: -5, Ctime: 1 << 62, Ino: 1<<64 - 1}, Digest: "aa"}},
		Memo: map[string]memoRec{"\x00k\xff": {Sum: "aa", Size: 10}},
		Probes: []fstree.DirProbe{
			{Rel: ".", Node: fstree.Node{Kind: fstree.Dir, Dev: 3, Stat: fstree.Stat{Size: 80, Mtime: 1, Ctime: 2, Ino: 4}},
				Files: []fstree.FileProbe{{Name: "build.json", Node: file(1<<64 - 1)}}},
			{Rel: "frontend/A/b/de_DE/js", Node: fstree.Node{Kind: fstree.Dir, Dev: 3, Stat: fstree.Stat{Ino: 6}}},
			{Rel: "frontend/A/b/fr_FR/js", Node: fstree.Node{Kind: fstree.Dir, Dev: 3, Stat: fstree.Stat{Ino: 5}},
				Files: []fstree.FileProbe{{Name: "a.1.js.gz", Node: file(8)}, {Name: "a.1.js", Node: file(7)}}},
		},
		Result: savedResult{Jobs: []JobResult{{ID: "frontend/A/b/fr_FR", Files: 2, Missing: []string{"Hi"}}},
			Missing:  map[string]int{"fr_FR": 1},
			Warnings: []savedWarning{{Msg: "w"}, {Diag: &diag.Error{Kind: diag.Build, Scope: "s", File: "f", Line: 1, Col: 2, Msg: "m"}}}},
	}
}

func sampleBody(st *outputState) []byte {
	return append(encodeStateBody(st.Probes, filesSums(st.Build.Files), 2), encodeStateSide(st)...)
}

// TestStateRoundTrip checks that a state decodes to what was encoded:
// the head, and the body once a part of it is asked for.
func TestStateRoundTrip(t *testing.T) {
	st := sampleState()
	head, err := encodeStateHead(st)
	if err != nil {
		t.Fatal(err)
	}
	body := sampleBody(st)
	got, err := decodeState(head)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	got.readBody = func() ([]byte, bool) { reads++; return body, true }
	if got.Build.Files != nil || got.Side != nil || got.Memo != nil || reads != 0 {
		t.Error("the body was read before it was asked for")
	}
	sums, err1 := got.contents()
	_, err2 := got.side()
	_, err3 := got.memo()
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Errorf("the body was read %d times", reads)
	}
	// One content per file probe, in the probes' order; build.json has
	// none.
	if want := []string{"", "bb", "aa"}; !slices.Equal(sums, want) {
		t.Errorf("probed contents %q, want %q", sums, want)
	}
	got.contentsRaw, got.sideRaw, got.memoRaw, got.readBody, got.bodyRead = nil, nil, nil, nil, false
	st.Side["cc"] = []sideRec{} // nil and empty are the same to the builder
	st.Build.Files = nil        // build.json has them, not the state
	if !reflect.DeepEqual(got, st) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, st)
	}

	// A missing body, or a damaged part of it, is an error when it is
	// decoded, never a partial state.
	missing, _ := decodeState(head)
	missing.readBody = func() ([]byte, bool) { return nil, false }
	if _, err := missing.contents(); err == nil {
		t.Error("a state without its body gave the probed contents")
	}
	for name, part := range map[string]func(st *outputState) error{
		"contents": func(st *outputState) error {
			st.contentsRaw = append([]byte{0xff}, st.contentsRaw[1:]...)
			_, err := st.contents()
			return err
		},
		"contents index": func(st *outputState) error {
			st.contentsRaw[len(st.contentsRaw)-1] = 9 // past the table
			_, err := st.contents()
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
		if err := bad.setBody(slices.Clone(body)); err != nil {
			t.Fatal(err)
		}
		if err := part(bad); err == nil {
			t.Errorf("a damaged %s decoded", name)
		}
	}
	// A body of other probes than the head's is an error.
	other := sampleState()
	other.Probes = other.Probes[1:]
	odd, _ := decodeState(head)
	if err := odd.setBody(sampleBody(other)); err != nil {
		t.Fatal(err)
	}
	if _, err := odd.contents(); err == nil {
		t.Error("the contents of other probes decoded")
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

// TestTreeSums checks that the new tree's digests are found directory by
// directory: in a job directory and below it, when one job directory's
// name is a prefix of another's, and outside the job directories.
func TestTreeSums(t *testing.T) {
	files := map[string]string{
		"frontend/A/b/en_US/manifest.json":    "m1",
		"frontend/A/b/en_US/js/a.js":          "a1",
		"frontend/A/b/en_US/js/lib/b.js":      "b1",
		"frontend/A/b/en_US-x/js/a.js":        "a2",
		"frontend/sri-hashes.json":            "s",
		"deployed_version.txt":                "v",
		"frontend/A/b/en_US-x/manifest.json":  "m2",
		"frontend/A/b/en_US/js/lib/c.min.css": "c1",
	}
	var all []jobFiles
	jobs := map[string]*jobFiles{}
	for rel, sum := range files {
		dir := ""
		for _, d := range []string{"frontend/A/b/en_US", "frontend/A/b/en_US-x"} {
			if strings.HasPrefix(rel, d+"/") {
				dir = d
			}
		}
		if dir == "" {
			all = append(all, jobFiles{entries: []fileEntry{{name: rel, f: manifest.File{SHA256: sum}}}})
			continue
		}
		if jobs[dir] == nil {
			jobs[dir] = &jobFiles{dir: dir}
		}
		jobs[dir].add(strings.TrimPrefix(rel, dir+"/"), manifest.File{SHA256: sum})
	}
	for _, jf := range jobs {
		slices.SortFunc(jf.entries, func(x, y fileEntry) int { return strings.Compare(x.name, y.name) })
		all = append(all, *jf)
	}
	sortJobFiles(all)
	sumsIn := treeSums(all)
	for rel, sum := range files {
		dir, name := path.Split(rel)
		if got := sumsIn(strings.TrimSuffix(cmp.Or(dir, "."), "/"))(name); got != sum {
			t.Errorf("%s: got %q, want %q", rel, got, sum)
		}
	}
	for _, rel := range []string{"frontend/A/b/en_US/js/c.js", "frontend/A/b/en_US/x.js", "build.json", "frontend/A/b/x.js"} {
		dir, name := path.Split(rel)
		if got := sumsIn(strings.TrimSuffix(cmp.Or(dir, "."), "/"))(name); got != "" {
			t.Errorf("%s is not in the tree, got %q", rel, got)
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
	for b, f := range treeFiles(all) {
		p := string(b)
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
	f.Add(head, sampleBody(st))
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
		st := sampleState()
		st.Side, st.Memo = nil, nil // decoded from body
		if st.setBody(body) == nil {
			st.contents()
			st.side()
			st.memo()
		}
	})
}
