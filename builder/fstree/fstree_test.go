package fstree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFingerprintString pins the fingerprint of a few entries: the cache
// records fingerprints, and a build compares the one of its output with
// the one recorded by the last build.
func TestFingerprintString(t *testing.T) {
	var f Fingerprint
	f.Add(".", Node{Kind: Dir})
	f.Add("frontend", Node{Kind: Dir})
	f.AddIn("frontend", "a.js", Node{Kind: File, Stat: Stat{Size: 10, Mtime: -5, Ctime: 1 << 62, Ino: 1<<64 - 1}, Dev: 7})
	f.AddIn(".", "link", Node{Kind: Other, Mode: fs.ModeSymlink})
	f.Add("frontend/b.js.gz", Node{Kind: File, Mode: fs.ModeNamedPipe, Stat: Stat{Size: 1, Mtime: 2, Ctime: 3, Ino: 4}})
	const want = "a0503a6e575ade2b43ab5ad8d8b6eb13-5"
	if got := f.String(); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
	var zero Fingerprint
	if got, want := zero.String(), strings.Repeat("0", 32)+"-0"; got != want {
		t.Errorf("empty fingerprint %s, want %s", got, want)
	}
}

// TestFingerprintOrder checks that a fingerprint depends on the entries
// only: not on their order, on how they are split between merged
// fingerprints, or on whether a path is given joined or as dir and name.
func TestFingerprintOrder(t *testing.T) {
	entries := []Entry{
		{".", Node{Kind: Dir}},
		{"a", Node{Kind: Dir}},
		{"a/b", Node{Kind: Dir}},
		{"a/b/c.js", Node{Kind: File, Stat: Stat{Size: 3, Mtime: 4, Ctime: 5, Ino: 6}, Dev: 1}},
		{"a/d.css", Node{Kind: File, Stat: Stat{Size: 3, Mtime: 4, Ctime: 5, Ino: 7}, Dev: 1}},
		{"e", Node{Kind: Other, Mode: fs.ModeSocket}},
	}
	var ref Fingerprint
	for _, e := range entries {
		ref.Add(e.Rel, e.Node)
	}
	var rev, half1, half2 Fingerprint
	for i, e := range slices.Backward(entries) {
		rev.Add(e.Rel, e.Node)
		part := &half1
		if i%2 == 0 {
			part = &half2
		}
		if d, name, ok := strings.Cut(e.Rel, "/"); ok {
			part.AddIn(d, name, e.Node)
		} else {
			part.AddIn("", e.Rel, e.Node)
		}
	}
	half1.Merge(&half2)
	if rev.String() != ref.String() || half1.String() != ref.String() {
		t.Errorf("fingerprints differ: %s, %s, %s", ref.String(), rev.String(), half1.String())
	}
	// Any change of an entry changes it.
	for i := range entries {
		changed := slices.Clone(entries)
		switch e := &changed[i]; e.Kind {
		case File:
			e.Stat.Ctime++
		case Dir:
			e.Rel += "x"
		default:
			e.Mode = fs.ModeNamedPipe
		}
		var f Fingerprint
		for _, e := range changed {
			f.Add(e.Rel, e.Node)
		}
		if f.String() == ref.String() {
			t.Errorf("changing %s did not change the fingerprint", entries[i].Rel)
		}
	}
}

// makeTree makes a small tree with what an output holds (directories,
// files, hard links) and what it should not (a symbolic link, a FIFO, an
// empty directory).
func makeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(from, to string) {
		p := filepath.Join(dir, filepath.FromSlash(to))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(dir, filepath.FromSlash(from)), p); err != nil {
			t.Fatal(err)
		}
	}
	write("build.json", "{}")
	write("frontend/A/b/en_US/js/a.js", "a")
	write("frontend/A/b/en_US/js/a.js.gz", "gz")
	write("frontend/A/b/en_US/css/s.css", "s")
	link("frontend/A/b/en_US/js/a.js", "frontend/A/b/fr_FR/js/a.js")
	link("frontend/A/b/en_US/js/a.js.gz", "frontend/A/b/fr_FR/js/a.js.gz")
	link("frontend/A/b/en_US/js/a.js", "frontend/A/b/fr_FR/js/copy.js")
	write("frontend/A/b/fr_FR/css/s.css", "autre")
	for i := range 300 { // more than one getdents buffer of the list's
		write(fmt.Sprintf("frontend/A/b/en_US/many/%03d-%s.js", i, strings.Repeat("x", 100)), "m")
	}
	if err := os.Symlink("a.js", filepath.Join(dir, "frontend/A/b/en_US/js/sym.js")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "frontend/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// walkRef lists a tree with the standard library: what Walk must find.
func walkRef(t *testing.T, dir string) []Entry {
	t.Helper()
	var out []Entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			out = append(out, Entry{rel, Node{Kind: Dir}})
		case fi.Mode().IsRegular():
			out = append(out, Entry{rel, Node{Kind: File, Stat: StatOf(fi), Dev: DevOf(fi)}})
		default:
			out = append(out, Entry{rel, Node{Kind: Other, Mode: fi.Mode().Type()}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedEntries(es []Entry) []Entry {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Rel, b.Rel) })
	return es
}

func fingerprintOf(es []Entry) string {
	var f Fingerprint
	for _, e := range es {
		f.Add(e.Rel, e.Node)
	}
	return f.String()
}

// TestWalk compares Walk with a walk by the standard library: the same
// entries, stats and fingerprint, with and without the list.
func TestWalk(t *testing.T) {
	dir := makeTree(t)
	want := walkRef(t, dir)
	got, fp, err := Walk(context.Background(), dir, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sortedEntries(got), sortedEntries(want); !slices.Equal(g, w) {
		t.Fatalf("Walk listed\n%v\nwant\n%v", g, w)
	}
	if fp.String() != fingerprintOf(want) {
		t.Errorf("Walk's fingerprint %s, want %s", fp.String(), fingerprintOf(want))
	}
	got, fp2, err := Walk(context.Background(), dir, false, "")
	if err != nil || got != nil || fp2.String() != fp.String() {
		t.Errorf("Walk without the list: %d entries, %s, %v", len(got), fp2.String(), err)
	}
	if s, err := FingerprintDir(dir); err != nil || s != fp.String() {
		t.Errorf("FingerprintDir: %s, %v; want %s", s, err, fp.String())
	}

	// skip leaves out the entry at the top of the tree only.
	got, fp, err = Walk(context.Background(), dir, true, "build.json")
	if err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(e Entry) bool { return e.Rel == "build.json" })
	if g, w := sortedEntries(got), sortedEntries(want); !slices.Equal(g, w) {
		t.Fatalf("Walk skipping build.json listed\n%v\nwant\n%v", g, w)
	}
	if fp.String() != fingerprintOf(want) {
		t.Errorf("Walk skipping build.json: fingerprint %s, want %s", fp.String(), fingerprintOf(want))
	}
}

// TestWalkChanges checks that what a build must notice in its output
// changes the fingerprint: a file written to with its size and
// modification time put back, and a new hard link to a file.
func TestWalkChanges(t *testing.T) {
	dir := makeTree(t)
	before, err := FingerprintDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "frontend/A/b/fr_FR/css/s.css")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // past the file system's time granularity
	if err := os.WriteFile(p, []byte("AUTRE"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	written, err := FingerprintDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if written == before {
		t.Error("writing to a file did not change the fingerprint")
	}
	time.Sleep(10 * time.Millisecond)
	if err := os.Link(p, filepath.Join(t.TempDir(), "staged.css")); err != nil {
		t.Fatal(err)
	}
	if linked, err := FingerprintDir(dir); err != nil || linked == written {
		t.Errorf("a new link from outside the tree did not change the fingerprint (%v)", err)
	}
}

// TestWalkErrors checks that a walk ends with ctx's error, and fails on a
// tree it cannot read.
func TestWalkErrors(t *testing.T) {
	dir := makeTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Walk(ctx, dir, true, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled walk returned %v", err)
	}
	if _, _, err := Walk(context.Background(), filepath.Join(dir, "missing"), true, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a walk of a missing directory returned %v", err)
	}
	if _, err := FingerprintDir(filepath.Join(dir, "build.json")); err == nil {
		t.Error("a file was fingerprinted as a tree")
	}
}

// TestList compares List with a walk by the standard library, and checks
// its order: the entries under a directory come right after it.
func TestList(t *testing.T) {
	dir := makeTree(t)
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []Dirent
	for _, e := range walkRef(t, dir) {
		if e.Rel == "." {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(e.Rel)))
		if err != nil {
			t.Fatal(err)
		}
		var typ byte
		switch e.Kind {
		case Dir:
			typ = unix.DT_DIR
		case File:
			typ = unix.DT_REG
		default:
			typ = direntTypeOf(e.Mode)
		}
		want = append(want, Dirent{Rel: e.Rel, Type: typ, Ino: Inode{Dev: DevOf(fi), Ino: StatOf(fi).Ino}})
	}
	sorted := slices.Clone(got)
	slices.SortFunc(sorted, func(a, b Dirent) int { return strings.Compare(a.Rel, b.Rel) })
	if !slices.Equal(sorted, want) {
		t.Fatalf("List listed\n%v\nwant\n%v", sorted, want)
	}
	for i, e := range got {
		if e.Type != unix.DT_DIR {
			continue
		}
		n := 0
		for _, w := range want {
			if strings.HasPrefix(w.Rel, e.Rel+"/") {
				n++
			}
		}
		for _, under := range got[i+1 : i+1+n] {
			if !strings.HasPrefix(under.Rel, e.Rel+"/") {
				t.Errorf("%s is among the entries under %s", under.Rel, e.Rel)
			}
		}
	}
	if _, err := List(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory returned %v", err)
	}
}

// TestListStat lists as List does, with the node of every directory
// listed, the root's as ".", equal to StatDir's.
func TestListStat(t *testing.T) {
	dir := makeTree(t)
	got, dirs, err := ListStat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := List(dir); !slices.Equal(got, want) {
		t.Fatalf("ListStat listed\n%v\nList\n%v", got, want)
	}
	want := map[string]Node{}
	for _, rel := range append([]string{"."}, direntsOf(got, unix.DT_DIR)...) {
		n, err := StatDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		want[rel] = n
	}
	if !maps.Equal(dirs, want) {
		t.Fatalf("ListStat gave the directories\n%v\nwant\n%v", dirs, want)
	}
}

// direntsOf lists the paths of the entries of type typ.
func direntsOf(es []Dirent, typ byte) []string {
	var out []string
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e.Rel)
		}
	}
	return out
}

// direntTypeOf is the d_type of an fs.FileMode type.
func direntTypeOf(m fs.FileMode) byte {
	switch {
	case m&fs.ModeSymlink != 0:
		return unix.DT_LNK
	case m&fs.ModeNamedPipe != 0:
		return unix.DT_FIFO
	case m&fs.ModeSocket != 0:
		return unix.DT_SOCK
	case m&fs.ModeCharDevice != 0:
		return unix.DT_CHR
	case m&fs.ModeDevice != 0:
		return unix.DT_BLK
	}
	return unix.DT_UNKNOWN
}

// TestReadDirents reads a directory larger than the buffer: every name
// but "." and "..", once, with its type and inode.
func TestReadDirents(t *testing.T) {
	dir := t.TempDir()
	want := map[string]byte{}
	for i := range 500 {
		name := fmt.Sprintf("%d-%s", i, strings.Repeat("n", i%40))
		if i%10 == 0 {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			want[name] = unix.DT_DIR
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = unix.DT_REG
	}
	fd, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	got := map[string]byte{}
	err = ReadDirents(fd, make([]byte, 1024), func(name string, typ byte, ino uint64) {
		if _, dup := got[name]; dup {
			t.Errorf("%s listed twice", name)
		}
		got[name] = typ
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || StatOf(fi).Ino != ino {
			t.Errorf("%s: inode %d, stat %v %v", name, ino, fi, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("%s: type %d, want %d", name, got[name], typ)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d names, want %d", len(got), len(want))
	}
	if _, err := OpenDir(filepath.Join(dir, "1-n")); err == nil {
		t.Error("a file was opened as a directory")
	}
}
