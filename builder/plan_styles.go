package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scdtool/scd/builder/less"
	sl "github.com/scdtool/scd/source"
)

// The plan's part of the stylesheets: which themes compile LESS and which
// are styled with Tailwind, and the digest of each Tailwind build's inputs.
// The compiles themselves are the compile stage's (compile_less.go,
// compile_tailwind.go).

// planStyles gives the theme its LESS state when the layout has LESS
// (whose sources are then never published; with --no-css nothing is
// compiled either).
func (b *build) planStyles(ts *themeState, area string) {
	st, ok := b.layout.(sl.Styles)
	if !ok || b.tailwindTheme(ts) { // a Hyvä theme has no LESS (compile_tailwind.go)
		return
	}
	d := st.StyleDirs(area, ts.chain)
	dirs := less.Dirs{Area: area, Lib: d.Lib, Themes: d.Themes, Exists: b.scanner.exists}
	for _, m := range d.Modules {
		dirs.Modules = append(dirs.Modules, less.ModuleDir{Name: m.Name, Dir: m.Dir})
	}
	ts.styles = &styleState{collector: dirs.Collector(), collect: map[string][]less.Collected{}}
}

// planTailwind finds out whether the theme is styled with Tailwind and,
// if a build gives its stylesheet, digests that build's inputs, which
// join the cache's view of the build's inputs.
func (b *build) planTailwind(ts *themeState, area string) {
	tl, ok := b.layout.(sl.Tailwind)
	if !ok {
		return
	}
	tw := tl.TailwindTheme(area, ts.chain)
	if tw == nil {
		return
	}
	if b.twThemes == nil {
		b.twThemes = map[*themeState]*twTheme{}
		b.twBuilds = map[string]*twBuild{}
	}
	st := &twTheme{}
	b.twThemes[ts] = st
	label := area + "/" + ts.theme.Name
	if tw.Theme == nil || b.opts.NoTailwind || b.opts.Skip.CSS {
		fmt.Fprintf(b.planSum, "tailwind %s off\n", label)
		return
	}
	tb := b.twBuilds[tw.Dir]
	if tb == nil {
		tb = &twBuild{tw: tw, name: tw.Theme.Name, out: &styleOut{}}
		t0 := time.Now()
		var n int
		tb.digest, n, tb.err = tailwindDigest(tw)
		if tb.err != nil {
			// Never up to date: the build reports the error.
			tb.digest = "unreadable " + time.Now().String()
		}
		tb.out.packKey = "tailwind/" + b.key("tailwind", tb.digest)
		b.log.Debug("tailwind inputs digested", "theme", tb.name, "files", n, "digest", tb.digest, "wall", time.Since(t0).Round(10*time.Microsecond))
		b.twBuilds[tw.Dir] = tb
	}
	st.build = tb
	fmt.Fprintf(b.planSum, "tailwind %s %q %s\n", label, tw.Dir, tb.digest)
}

// tailwindTheme reports whether the theme is styled with Tailwind (and so
// has no LESS).
func (b *build) tailwindTheme(ts *themeState) bool { return b.twThemes[ts] != nil }

// tailwindDigest digests the files of a build's inputs (path relative to
// the root, and content), and returns how many there are.
func tailwindDigest(tw *sl.TailwindTheme) (string, int, error) {
	type file struct{ rel, abs, sum string }
	var files []*file
	seen := map[string]bool{}
	for _, in := range tw.Inputs {
		real, err := filepath.EvalSymlinks(in)
		if err != nil {
			return "", 0, err
		}
		err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != real && (d.Name() == "node_modules" || d.Name() == ".git") {
					return filepath.SkipDir
				}
				return nil
			}
			// The input's own path, not the resolved one: what a
			// configuration names.
			abs := filepath.Join(in, strings.TrimPrefix(p, real))
			if abs == tw.Output || seen[abs] || d.Type()&fs.ModeType != 0 && d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			seen[abs] = true
			rel, err := filepath.Rel(tw.Root, abs)
			if err != nil {
				rel = abs
			}
			files = append(files, &file{rel: filepath.ToSlash(rel), abs: p})
			return nil
		})
		if err != nil {
			return "", 0, err
		}
	}
	// Read in parallel: a Hyvä theme and its modules are a few thousand
	// small files.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan *file)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				data, err := os.ReadFile(f.abs)
				if err != nil {
					if fi, serr := os.Stat(f.abs); serr == nil && fi.IsDir() {
						f.sum = "dir" // a link to a directory: not followed
						continue
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				s := sha256.Sum256(data)
				f.sum = hex.EncodeToString(s[:])
			}
		}()
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return "", 0, firstErr
	}
	slices.SortFunc(files, func(x, y *file) int { return strings.Compare(x.rel, y.rel) })
	h := sha256.New()
	fmt.Fprintf(h, "tailwind %q %q\n", filepath.ToSlash(relOr(tw.Root, tw.Dir)), filepath.ToSlash(relOr(tw.Root, tw.Output)))
	for _, f := range files {
		fmt.Fprintf(h, "%q %s\n", f.rel, f.sum)
	}
	return hex.EncodeToString(h.Sum(nil)), len(files), nil
}

// relOr is p relative to base, or p itself when it has no such form.
func relOr(base, p string) string {
	if rel, err := filepath.Rel(base, p); err == nil {
		return rel
	}
	return p
}
