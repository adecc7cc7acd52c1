package builder

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scdtool/scd/manifest"
)

// sampleLists are the sorted file lists of two job directories and of a
// file outside them, with their parts.
func sampleLists() []jobFiles {
	sum := func(s string) string { return fmt.Sprintf("%064x", []byte(s)) }
	var all []jobFiles
	for _, dir := range []string{"frontend/Acme/shop/de_DE", "frontend/Acme/shop/en_US"} {
		jf := jobFiles{dir: dir, job: &job{digest: "job " + dir}}
		for i, name := range []string{"css/styles.css", "css/styles.css.br", "js/app \"quoted\".js", "manifest.json"} {
			jf.add(name, manifest.File{SHA256: sum(dir + name), Size: int64(100 * i)})
		}
		all = append(all, jf)
	}
	all = append(all, jobFiles{entries: []fileEntry{{name: manifest.VersionFile, f: manifest.File{SHA256: sum("v"), Size: 10}}}})
	sortJobFiles(all) // as listTree does: the tree's order
	for i := range all {
		all[i].part = partOf(&all[i])
	}
	return all
}

// writeSample writes build.json of all into dir, parts taken from prev.
func writeSample(t *testing.T, dir string, all []jobFiles, prev string) (string, *buildLayout, int) {
	t.Helper()
	name := filepath.Join(dir, manifest.BuildFile)
	bm := &manifest.Build{ID: "id", ConfigDigest: "cfg", Version: "v1", ContentVersion: "1", Jobs: []manifest.Job{{Area: "frontend", Theme: "Acme/shop", Locale: "de_DE"}}}
	size, l, copied, err := writeBuildFile(name, bm, all, prev)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(name); err != nil || fi.Size() != size {
		t.Fatalf("size %d, file %v %v", size, fi, err)
	}
	return name, l, copied
}

func layoutSum(l *buildLayout, data []byte) string {
	h := newLayoutHash(l)
	h.Write(data[:len(data)/3]) // in pieces that do not follow the layout's
	h.Write(data[len(data)/3:])
	return hex.EncodeToString(h.Sum(nil))
}

// TestBuildFileInParts: build.json written in parts is the file the
// streaming writer gives, its layout's sum is that of its bytes and of
// no others, a part copied from a previous file gives the same bytes,
// and the list read back digests to the tree's digest.
func TestBuildFileInParts(t *testing.T) {
	all := sampleLists()
	name, l, _ := writeSample(t, t.TempDir(), all, "")
	data, _ := os.ReadFile(name)

	bm := &manifest.Build{ID: "id", ConfigDigest: "cfg", Version: "v1", ContentVersion: "1", Jobs: []manifest.Job{{Area: "frontend", Theme: "Acme/shop", Locale: "de_DE"}}}
	whole := *bm
	whole.Files = map[string]manifest.File{}
	for p, f := range treeFiles(all) {
		whole.Files[string(p)] = f
	}
	want, err := manifest.Marshal(&whole)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("build.json in parts:\n%s\nwant (Marshal):\n%s", data, want)
	}
	if !json.Valid(data) {
		t.Fatal("not JSON")
	}
	if got := layoutSum(l, data); got != l.sum() {
		t.Fatalf("layout hash %s, sum %s", got, l.sum())
	}
	comma := bytes.Index(data, []byte(`,
    "frontend/Acme/shop/en_US/css/styles.css"`))
	for what, bad := range map[string][]byte{
		"a byte changed":      append(append([]byte{}, data[:40]...), append([]byte{'X'}, data[41:]...)...),
		"a byte more":         append(append([]byte{}, data...), '\n'),
		"a byte less":         data[:len(data)-1],
		"the parts' comma":    append(append(append([]byte{}, data[:comma]...), ' '), data[comma+1:]...),
		"two parts' bytes":    bytes.Replace(data, []byte("de_DE/manifest.json"), []byte("de_DE/manifest.jsoN"), 1),
		"the empty file":      nil,
		"another head length": append([]byte(" "), data[:len(data)-1]...),
	} {
		if layoutSum(l, bad) == l.sum() {
			t.Errorf("%s: the layout's sum still holds", what)
		}
	}

	// A second file copying every job's part from the first.
	p := &prev{dir: filepath.Dir(name)}
	p.takeLayout(l)
	again := sampleLists()
	for i := range again[:2] {
		again[i].part = p.parts[again[i].key()]
		if again[i].part.from == 0 {
			t.Fatalf("%s: no place in the previous file", again[i].key())
		}
	}
	name2, l2, copied := writeSample(t, t.TempDir(), again, p.buildFile())
	if copied != 2 {
		t.Errorf("%d parts copied, want the 2 jobs'", copied)
	}
	if data2, _ := os.ReadFile(name2); !bytes.Equal(data2, data) {
		t.Fatalf("copied parts:\n%s\nwant:\n%s", data2, data)
	}
	if l2.sum() != l.sum() {
		t.Fatal("copied parts: another layout")
	}
	// A previous file that cannot give the parts (shorter than its
	// layout, or gone): they are made, and the file is the same.
	short := filepath.Join(t.TempDir(), manifest.BuildFile)
	os.WriteFile(short, data[:again[1].part.from+10], 0o644)
	for _, c := range []struct {
		what, prev string
		copied     int
	}{{"a shorter file", short, 1}, {"no file", short + ".gone", 0}} {
		name3, l3, copied := writeSample(t, t.TempDir(), again, c.prev)
		if data3, _ := os.ReadFile(name3); !bytes.Equal(data3, data) || l3.sum() != l.sum() {
			t.Errorf("%s: parts copied from it:\n%s\nwant:\n%s", c.what, data3, data)
		}
		if copied != c.copied {
			t.Errorf("%s: %d parts copied, want %d", c.what, copied, c.copied)
		}
	}

	_, list, err := manifest.ReadBuildList(filepath.Dir(name))
	if err != nil {
		t.Fatal(err)
	}
	id := treeDigest(partsOf(all))
	if got := listedDigest(list, l.Parts); got != id {
		t.Fatalf("listed digest %s, tree digest %s", got, id)
	}
	list[0], list[1] = list[1], list[0]
	if listedDigest(list, l.Parts) == id {
		t.Error("a list in another order digests the same")
	}
	list[0], list[1] = list[1], list[0]
	if listedDigest(list[1:], l.Parts) != "" || listedDigest(append(list, list[0]), l.Parts) != "" {
		t.Error("a list of another length cut into the parts")
	}
}

// TestListOf: listOf is the List partOf makes, and none for files whose
// path holds a newline (their lines would not split back into files);
// a part made with a known list is the part made without it.
func TestListOf(t *testing.T) {
	for _, jf := range sampleLists() {
		if got := listOf(&jf); got != jf.part.List {
			t.Errorf("%s: listOf %s, partOf's List %s", jf.key(), got, jf.part.List)
		}
		if got := listedPart(&jf, jf.part.List); got != jf.part {
			t.Errorf("%s: listedPart %+v, partOf %+v", jf.key(), got, jf.part)
		}
	}
	jf := jobFiles{dir: "frontend/Acme/shop/en_US", job: &job{}}
	jf.add("a s 1\nb", manifest.File{SHA256: fmt.Sprintf("%064x", 1), Size: 1})
	if got := listOf(&jf); got != "" {
		t.Errorf("a path with a newline: listOf %q, want none", got)
	}
}
