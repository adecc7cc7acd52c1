package builder

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/scdtool/scd/builder/fstree"
)

// sampleRecord is the record of a tree of two job directories.
func sampleRecord(t testing.TB) []byte {
	node := func(k fstree.Kind, ino uint64) fstree.Node {
		return fstree.Node{Kind: k, Dev: 7, Stat: fstree.Stat{Size: 4096, Mtime: int64(ino) * 1e9, Ctime: int64(ino)*1e9 + 5, Ino: ino}}
	}
	ps := &probeSet{dirs: map[string]*fstree.DirProbe{}}
	tw := &treeWriter{spare: true, jobs: map[string]*jobTree{}, probes: ps}
	ino := uint64(100)
	for _, dir := range []string{"frontend/Acme/shop/en_US", "frontend/Acme/shop/de_DE"} {
		jt := &jobTree{dir: dir, dirs: map[string]bool{".": true, "js": true, "js/widgets": true, "css": true}}
		for _, name := range []string{"css/styles.css", "css/styles.css.gz", "js/app.js", "js/widgets/slider.js", "manifest.json"} {
			jt.files = append(jt.files, fileEntry{name: name})
			ino++
			jt.inos = append(jt.inos, ino)
		}
		for d := range jt.dirs {
			ino++
			ps.dirs[fstree.JoinRel(dir, d)] = &fstree.DirProbe{Node: node(fstree.Dir, ino)}
		}
		ps.dirs[dir] = &fstree.DirProbe{Node: node(fstree.Dir, 1)}
		tw.jobs[dir] = jt
	}
	data := tw.record(node(fstree.File, 99), 2)
	if data == nil {
		t.Fatal("no record")
	}
	return data
}

// TestRecordRoundTrip decodes what record encodes: every directory with
// its node ("." first), every file's name and inode in order.
func TestRecordRoundTrip(t *testing.T) {
	rec, err := decodeRecord(sampleRecord(t))
	if err != nil {
		t.Fatal(err)
	}
	if rec.build.Stat.Ino != 99 || len(rec.jobs) != 2 {
		t.Fatalf("decoded %+v", rec)
	}
	job := func(dir string) *jobRecord {
		jr, err := decodeJobRecord(rec.jobs[dir])
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		return jr
	}
	jr := job("frontend/Acme/shop/de_DE")
	if len(jr.dirs) != 4 || jr.dirs[0].rel != "." || jr.dirs[0].node.Stat.Ino != 1 ||
		jr.dirs[1].rel != "css" || jr.dirs[3].rel != "js/widgets" {
		t.Fatalf("directories %+v", jr)
	}
	want := []string{"css/styles.css", "css/styles.css.gz", "js/app.js", "js/widgets/slider.js", "manifest.json"}
	for i, name := range want {
		if jr.name(i) != name || jr.inos[i] == 0 {
			t.Errorf("file %d: %q, inode %d; want %q", i, jr.name(i), jr.inos[i], name)
		}
	}
	if jr.inos[0] == job("frontend/Acme/shop/en_US").inos[0] {
		t.Error("two jobs' files have one inode")
	}
}

// FuzzDecodeRecord feeds damaged records: an error, never a panic, and a
// record that decodes has names within its bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(sampleRecord(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodeRecord(data)
		if err != nil {
			return
		}
		for _, raw := range rec.jobs {
			jr, err := decodeJobRecord(raw)
			if err != nil {
				continue
			}
			for i := range jr.inos {
				_ = jr.name(i)
			}
		}
	})
}

// TestWalkedTakesInodes gives walked the directories of a job written
// whole, as a walk reads them (in no order): every file gets its inode,
// and anything the build did not put there leaves the tree unrecorded.
func TestWalkedTakesInodes(t *testing.T) {
	file := func(name string, ino uint64) fstree.Named {
		return fstree.Named{Name: []byte(name), Node: fstree.Node{Kind: fstree.File, Dev: 7, Stat: fstree.Stat{Ino: ino}}}
	}
	dir := func(name string) fstree.Named {
		return fstree.Named{Name: []byte(name), Node: fstree.Node{Kind: fstree.Dir}}
	}
	const job = "frontend/Acme/shop/en_US"
	setup := func() (*treeWriter, *jobTree) {
		// Names chosen so that a directory's files do not follow one
		// another in the sorted list ("js-x" sorts between "js" and "js/").
		jt := &jobTree{dir: job, dirs: map[string]bool{".": true, "js": true, "js/w": true}, inos: make([]uint64, 6)}
		for _, name := range []string{"js-x.js", "js/a.js", "js/a.js.gz", "js/w/b.js", "js/z.js", "manifest.json"} {
			jt.files = append(jt.files, fileEntry{name: name})
		}
		return &treeWriter{jobs: map[string]*jobTree{job: jt}}, jt
	}
	reads := func(tw *treeWriter) {
		tw.walked(".", []fstree.Named{dir("frontend")})
		tw.walked("frontend/Acme/shop", []fstree.Named{dir("en_US")})
		tw.walked(job+"/js/w", []fstree.Named{file("b.js", 4)})
		tw.walked(job+"/js", []fstree.Named{file("z.js", 5), dir("w"), file("a.js.gz", 3), file("a.js", 2)})
		tw.walked(job, []fstree.Named{file("manifest.json", 6), dir("js"), file("js-x.js", 1)})
	}
	tw, jt := setup()
	reads(tw)
	if tw.odd.Load() || !slices.Equal(jt.inos, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("odd %v, inodes %v; want false, 1…6", tw.odd.Load(), jt.inos)
	}
	link := fstree.Named{Name: []byte("manifest.json"), Node: fstree.Node{Kind: fstree.Other, Mode: fs.ModeSymlink}}
	for what, also := range map[string]struct {
		rel  string
		ents []fstree.Named
	}{
		"a file the job does not have": {job + "/js", []fstree.Named{file("junk.js", 9)}},
		"a file of another directory":  {job, []fstree.Named{file("a.js", 9)}},
		"a directory the job has not":  {job + "/css", nil},
		"a link where a file goes":     {job, []fstree.Named{link}},
	} {
		tw, _ := setup()
		reads(tw)
		tw.walked(also.rel, also.ents)
		if !tw.odd.Load() {
			t.Errorf("%s: not odd", what)
		}
	}
	// A tree with an odd job directory has no record.
	tw, _ = setup()
	tw.probes = &probeSet{dirs: map[string]*fstree.DirProbe{}}
	tw.odd.Store(true)
	if tw.record(fstree.Node{}, 1) != nil {
		t.Error("an odd tree recorded")
	}
}
