package fstree

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProbes checks that a tree's probes cover it: every directory is
// probed, every file inode at least once, and each kind of change a walk's
// fingerprint sees makes Check fail, with no directory read.
func TestProbes(t *testing.T) {
	dir := makeTree(t)
	list, fp, probes, err := WalkProbes(context.Background(), dir, true, "build.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	refList, ref, err := Walk(context.Background(), dir, true, "build.json")
	if err != nil || fp.String() != ref.String() || len(list) != len(refList) {
		t.Fatalf("WalkProbes' fingerprint %v and %d entries, Walk's %v and %d (%v)", fp, len(list), ref, len(refList), err)
	}
	dirs, inodes := map[string]bool{}, map[Inode]int{}
	for _, p := range probes {
		if p.Node.Kind != Dir || dirs[p.Rel] {
			t.Errorf("probe %q: kind %c, or probed twice", p.Rel, p.Node.Kind)
		}
		dirs[p.Rel] = true
		for _, f := range p.Files {
			if p.Rel == "." && f.Name == "build.json" {
				t.Error("the skipped file is probed")
			}
			inodes[f.Node.Inode()]++
		}
	}
	for _, e := range walkRef(t, dir) {
		switch {
		case e.Kind == Dir && !dirs[e.Rel]:
			t.Errorf("directory %s not probed", e.Rel)
		case e.Kind == File && e.Rel != "build.json" && inodes[e.Inode()] == 0:
			// (twice is possible: two workers stat'ing one inode at once)
			t.Errorf("file %s: its inode not probed", e.Rel)
		}
	}
	if !Check(context.Background(), dir, probes) {
		t.Fatal("Check fails on the tree as it was probed")
	}
	SortProbes(probes)
	if !Check(context.Background(), dir, probes) {
		t.Fatal("Check fails on the tree as it was probed, probes sorted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Check(ctx, dir, probes) {
		t.Error("Check passes with its context done")
	}

	rel := func(r string) string { return filepath.Join(dir, filepath.FromSlash(r)) }
	// rewrite writes data over the file at r and sets its times back.
	rewrite := func(r, data string) error {
		p := rel(r)
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
		return os.Chtimes(p, fi.ModTime(), fi.ModTime())
	}
	changes := []struct {
		name   string
		change func() error
	}{
		{"file rewritten, times set back", func() error {
			return rewrite("frontend/A/b/fr_FR/css/s.css", "AUTRE")
		}},
		{"file of a large directory rewritten, times set back", func() error {
			// (a directory of more than probeOpenMin probed files, opened)
			return rewrite("frontend/A/b/en_US/many/150-"+strings.Repeat("x", 100)+".js", "M")
		}},
		{"small directory replaced by a link to its copy", func() error {
			// (a directory of few files, stat'ed through its parent)
			css := rel("frontend/A/b/fr_FR/css")
			moved := filepath.Join(t.TempDir(), "css")
			if err := os.Rename(css, moved); err != nil {
				return err
			}
			return os.Symlink(moved, css)
		}},
		{"second name of a linked file rewritten", func() error {
			return os.WriteFile(rel("frontend/A/b/fr_FR/js/copy.js"), []byte("b"), 0o644)
		}},
		{"file added deep down", func() error {
			return os.WriteFile(rel("frontend/A/b/en_US/js/new.js"), nil, 0o644)
		}},
		{"file removed", func() error { return os.Remove(rel("frontend/A/b/en_US/css/s.css")) }},
		{"file replaced by a rename", func() error {
			p := rel("frontend/A/b/en_US/many/other")
			if err := os.WriteFile(p, []byte("m"), 0o644); err != nil {
				return err
			}
			return os.Rename(p, rel("frontend/A/b/fr_FR/js/a.js"))
		}},
		{"directory added", func() error { return os.Mkdir(rel("empty/sub"), 0o755) }},
		{"mode changed", func() error { return os.Chmod(rel("frontend/A/b/en_US/js/a.js.gz"), 0o600) }},
		{"new link from outside", func() error {
			return os.Link(rel("frontend/A/b/en_US/css/s.css"), filepath.Join(t.TempDir(), "staged.css"))
		}},
		{"file next to the skipped one", func() error { return os.WriteFile(rel("extra.json"), nil, 0o644) }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			dir = makeTree(t)
			_, _, probes, err := WalkProbes(context.Background(), dir, false, "build.json", nil)
			if err != nil {
				t.Fatal(err)
			}
			SortProbes(probes)
			time.Sleep(10 * time.Millisecond) // past the file system's time granularity
			if err := c.change(); err != nil {
				t.Fatal(err)
			}
			if Check(context.Background(), dir, probes) {
				t.Error("Check passes after the change")
			}
		})
	}
}

// TestWalkProbesRead checks what a walk tells its Read: every directory
// once, each of its entries with the node a walk by the standard library
// finds (a directory's without its stat), the skipped name left out.
func TestWalkProbesRead(t *testing.T) {
	dir := makeTree(t)
	var mu sync.Mutex
	got := map[string]Node{}
	reads := map[string]int{}
	_, _, _, err := WalkProbes(context.Background(), dir, false, "build.json", func(rel string, ents []Named) {
		mu.Lock()
		defer mu.Unlock()
		reads[rel]++
		for _, e := range ents {
			got[JoinRel(rel, string(e.Name))] = e.Node
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Node{}
	for _, e := range walkRef(t, dir) {
		if e.Rel == "." || e.Rel == "build.json" {
			continue
		}
		want[e.Rel] = e.Node
		if e.Kind == Dir && reads[e.Rel] != 1 {
			t.Errorf("directory %s read %d times", e.Rel, reads[e.Rel])
		}
	}
	if reads["."] != 1 {
		t.Errorf("the top read %d times", reads["."])
	}
	if !maps.Equal(got, want) {
		t.Errorf("entries read:\n%v\nwant\n%v", got, want)
	}
}
