package builder

// The check of the previous output, which runs beside the plan: the
// state loaded, then the output's probes checked (fstree.Check) or, when
// one does not hold, the output walked; and the reading back of a walked
// output's files (asRecorded, verifyContent), which prev.walked asks for.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/manifest"
)

// outputCheck finds out, while the build plans, what the previous output
// offers: the state the last build recorded of it, and whether the output
// is still as written — by the state's probes when they all hold
// (fstree.Check), else by a walk, whose list and fingerprint the build
// then compares with the state.
type outputCheck struct {
	cancel context.CancelFunc
	done   chan struct{}
	loaded chan struct{} // closed once st is loaded
	// decided is closed once probed is set, before a walk: when the
	// probes held, or could not (none, a probe that differs, no output).
	decided chan struct{}
	asked   chan struct{} // closed once the build waits for the verdict (see holdProbes)
	askOnce sync.Once
	st      *outputState
	probed  bool              // the probes held: the output is as written
	tree    []fstree.Entry    // the walk's list, when not probed
	fp      string            // the walk's fingerprint; "": not walked (no state, no output, unreadable)
	probes  []fstree.DirProbe // the walk's probes
}

// startOutputCheck starts the check under ctx: not the build's own, as a
// build that trusted the probes before they were all checked is built
// again with the check's walk when they do not hold (see Build).
func (b *build) startOutputCheck(ctx context.Context) *outputCheck {
	ctx, cancel := context.WithCancel(ctx)
	c := &outputCheck{cancel: cancel, done: make(chan struct{}), loaded: make(chan struct{}),
		decided: make(chan struct{}), asked: make(chan struct{})}
	dir := b.opts.Output
	go func() {
		defer close(c.done)
		decided := false
		decide := func() {
			if !decided {
				decided = true
				close(c.decided)
			}
		}
		defer decide()
		c.st = b.loadState()
		close(c.loaded)
		if c.st == nil {
			return
		}
		if _, err := os.Stat(filepath.Join(dir, manifest.BuildFile)); err != nil {
			return
		}
		if holdProbes.Load() {
			select {
			case <-c.asked:
			case <-ctx.Done():
			}
		}
		if c.st.Probes != nil && fstree.Check(ctx, dir, c.st.Probes) {
			c.probed = true
			return
		}
		decide()
		if tree, fp, probes, err := fstree.WalkProbes(ctx, dir, true, "", nil); err == nil {
			c.tree, c.fp, c.probes = tree, fp.String(), probes
		}
	}()
	return c
}

// state returns the state as soon as it is loaded, while the check may
// still run (it only reads the state's probes).
func (c *outputCheck) state() *outputState {
	<-c.loaded
	return c.st
}

// wait returns the state, once the check is done. The check keeps no
// reference to it: at 2 million files, the state's probes and stat
// cache are tens of megabytes the build must be able to let go.
func (c *outputCheck) wait() *outputState {
	c.ask()
	<-c.done
	st := c.st
	c.st = nil
	return st
}

// holdProbes, set by tests, makes a check's probes wait until the build
// waits for their verdict: a build with work to do then always trusts
// them first (trustProbes), and confirmPrev alone stands between a probe
// that does not hold and the output.
var holdProbes atomic.Bool

// ask tells the check that the build waits for its verdict.
func (c *outputCheck) ask() { c.askOnce.Do(func() { close(c.asked) }) }

// held waits for the probes' verdict: whether they all held.
func (c *outputCheck) held() bool {
	c.ask()
	<-c.decided
	return c.probed
}

// isDecided reports whether the probes' verdict is in.
func (c *outputCheck) isDecided() bool {
	select {
	case <-c.decided:
		return true
	default:
		return false
	}
}

// how names the way the output was found intact, for -v.
func (c *outputCheck) how() string {
	if c.probed {
		return "probes"
	}
	return "walk"
}

// stop ends the check early if the build no longer needs it, and waits
// for it: nothing reads the output once Build has returned.
func (c *outputCheck) stop() {
	c.cancel()
	<-c.done
}

// asRecorded reports whether the tree walked in dir is the one the build
// bm describes: every file of bm.Files at its path with its bytes verified,
// build.json as that build wrote it (as layout describes it), and
// nothing else.
func asRecorded(dir string, tree []fstree.Entry, bm *manifest.Build, layout *buildLayout, inodes *fstree.InodeMap[*verified]) bool {
	dirs := map[string]bool{".": true}
	for rel := range bm.Files {
		addDirs(dirs, rel)
	}
	n, buildFile := 0, false
	for _, e := range tree {
		switch {
		case e.Kind == fstree.Dir:
			if !dirs[e.Rel] {
				return false
			}
		case e.Kind == fstree.File && e.Mode == 0 && e.Rel == manifest.BuildFile:
			if layout == nil || !sameContent(filepath.Join(dir, manifest.BuildFile), e.Inode(), e.Stat, layout.sum(), newLayoutHash(layout), make([]byte, 64<<10)) {
				return false
			}
			buildFile = true
		case e.Kind == fstree.File && e.Mode == 0:
			f, ok := bm.Files[e.Rel]
			if v, _ := inodes.Get(e.Inode()); !ok || v == nil || v.sha != f.SHA256 {
				return false
			}
			n++
		default:
			return false
		}
	}
	return buildFile && n == len(bm.Files)
}

// verifyContent reads each inode of inodes once, through a path of tree
// that has it, and keeps it only if its bytes have the recorded sha256 and
// it did not change between the walk and the read; the others get no sha
// and are not reused. It returns how many inodes it kept.
func verifyContent(dir string, tree []fstree.Entry, inodes *fstree.InodeMap[*verified]) int {
	type check struct {
		k   fstree.Inode
		rel string
		st  fstree.Stat
		sha string
	}
	var todo []check
	seen := make(map[fstree.Inode]bool, inodes.Len())
	for _, e := range tree {
		k := e.Inode()
		if v, ok := inodes.Get(k); ok && v.sha != "" && !seen[k] && e.Kind == fstree.File && e.Mode == 0 {
			seen[k] = true
			todo = append(todo, check{k, e.Rel, e.Stat, v.sha})
		}
	}
	// Biggest first, so the workers finish together.
	slices.SortFunc(todo, func(a, b check) int { return cmp.Compare(b.st.Size, a.st.Size) })
	ok := make([]bool, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(4, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			h := sha256.New()
			buf := make([]byte, 256<<10)
			for {
				n := int(next.Add(1) - 1)
				if n >= len(todo) {
					return
				}
				c := todo[n]
				ok[n] = sameContent(filepath.Join(dir, filepath.FromSlash(c.rel)), c.k, c.st, c.sha, h, buf)
			}
		})
	}
	wg.Wait()
	kept := 0
	for n, c := range todo {
		if ok[n] {
			kept++
		} else {
			v, _ := inodes.Get(c.k)
			v.sha = "" // untrusted
		}
	}
	return kept
}

// sameContent reports whether the file at name is still the inode k with
// stat st (no change since the walk) and holds bytes of sha256 sha.
func sameContent(name string, k fstree.Inode, st fstree.Stat, sha string, h hash.Hash, buf []byte) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fstree.StatOf(fi) != st || fstree.DevOf(fi) != k.Dev {
		return false
	}
	h.Reset()
	// (the wrapper hides File.WriteTo, which would not use buf)
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == sha
}
