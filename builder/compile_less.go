package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/alitto/pond/v2"

	"github.com/scdtool/scd/builder/less"
	"github.com/scdtool/scd/diag"
)

// LESS, for layouts that have Magento's (source.Styles). A root (as
// less.Roots chooses them: css/styles-m.less …) is preprocessed as Magento
// does (less.Expand) and compiled by less.js into the stylesheet of the
// same name with .css. A root's output does not depend on the locale
// unless a locale override is one of its inputs, so it is expanded once
// per theme and again only for a job whose overrides it reads; and every
// expansion with the same files is compiled once, whatever the number of
// themes and jobs that have it (a child theme that does not override a
// root's inputs shares its parent's compile).

// styleOut is the compiled stylesheet of one expansion, and its source
// map with --source-maps.
type styleOut struct {
	once sync.Once
	blob *blob
	smap *blob
	err  error
	// packKey is the pack entry that keeps it (cache_job.go claims it
	// for the jobs that publish it).
	packKey string
}

// sheet is a stylesheet built for a job by a step of its own (Tailwind),
// published at logical.
type sheet struct {
	logical string
	out     *styleOut
}

// styleState is what a theme's jobs share of the LESS work.
type styleState struct {
	collector *less.Collector // the theme chain's directories
	mu        sync.Mutex
	collect   map[string][]less.Collected // the collector's answers, by path
}

// collect is Magento's //@magento_import collector for the theme's chain,
// asked once per path.
func (s *styleState) collectFn(p string) []less.Collected {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.collect[p]; ok {
		return c
	}
	c := s.collector.Collect(p)
	s.collect[p] = c
	return c
}

// submitStyles queues, per theme and root, the expansions and compiles.
func (b *build) submitStyles(g pond.TaskGroup, themes map[string]*themeState) {
	for _, key := range slices.Sorted(maps.Keys(themes)) {
		ts := themes[key]
		if ts.styles == nil {
			continue
		}
		roots := map[string]bool{}
		for _, j := range ts.jobs {
			for _, r := range j.lessRoots {
				roots[r] = true
			}
		}
		for _, root := range slices.Sorted(maps.Keys(roots)) {
			b.task(g, "less "+root+" of "+key, func() { b.styleRoot(ts, root) })
		}
	}
}

// styleRoot expands root for the theme's files and, where a job's locale
// overrides are among the inputs, for that job's; each expansion is
// compiled (once for all that have the same files).
func (b *build) styleRoot(ts *themeState, root string) {
	var base *expansion
	var baseErr error
	_, inBase := ts.base.lookup(root) // else only some locales have the root
	expanded := false
	for _, j := range ts.jobs {
		i := slices.Index(j.lessRoots, root)
		if i < 0 {
			continue
		}
		if inBase && !expanded {
			base, baseErr = b.expandStyle(root, ts.base, ts.styles, j.id)
			expanded = true
		}
		if baseErr != nil {
			return // reported once, for the first job
		}
		e, fs := base, ts.base
		if !inBase || readsOverlay(j.fs, base.inputs) {
			var err error
			if e, err = b.expandStyle(root, j.fs, ts.styles, j.id); err != nil {
				continue
			}
			fs = j.fs
		}
		j.styles[i] = b.compileStyle(root, e, fs, ts.styles, j.id)
	}
}

// readsOverlay reports whether one of an expansion's inputs is a locale
// override of the job.
func readsOverlay(fs *fileset, inputs map[string]string) bool {
	for logical := range inputs {
		if _, ok := fs.overlay[logical]; ok {
			return true
		}
	}
	return false
}

// expandStyle returns the expansion of root over a file set (Magento's
// preprocessing): recalled when nothing it read changed (cache_less.go),
// else made and recorded.
func (b *build) expandStyle(root string, fs *fileset, st *styleState, owner string) (*expansion, error) {
	defer b.clock.since(stLess, time.Now())
	if m, ok := b.recallStyle(root, fs, st); ok {
		for _, w := range m.Warnings {
			b.warn(diag.Scoped(owner, w))
		}
		return &expansion{digest: m.Digest, inputs: m.Inputs}, nil
	}
	e, deps, err := b.makeExpansion(root, fs, st)
	if err != nil {
		b.fail(diag.Scoped(owner, err))
		return nil, err
	}
	for _, w := range e.exp.Warnings {
		b.warn(diag.Scoped(owner, w))
	}
	b.recordStyle(root, fs, deps, e)
	return e, nil
}

// makeExpansion runs less.Expand over a file set, recording what it asks.
// Located errors and warnings name files as the build's messages do.
func (b *build) makeExpansion(root string, fs *fileset, st *styleState) (*expansion, *styleDeps, error) {
	deps := &styleDeps{}
	lookup := func(logical string) (string, []byte, bool) {
		src, ok := fs.lookup(logical)
		var sd *srcData
		if ok {
			var err error
			if sd, err = b.read(src.Abs); err != nil {
				ok = false
			}
		}
		if !ok {
			deps.Lookups = append(deps.Lookups, styleLookup{Logical: logical})
			return "", nil, false
		}
		deps.Lookups = append(deps.Lookups, styleLookup{logical, src.Abs, b.digests[src.Abs]})
		return src.Abs, sd.raw, true
	}
	collect := func(p string) []less.Collected {
		found := st.collectFn(p)
		deps.Collects = append(deps.Collects, styleCollect{p, found})
		return found
	}
	exp, err := less.Expand(root, lookup, collect)
	b.stats.lessExps.Add(1)
	if err != nil {
		return nil, nil, b.displayErrs(err)
	}
	for _, w := range exp.Warnings {
		b.displayErrs(w)
	}
	return &expansion{digest: styleDigest(root, exp), inputs: exp.Inputs, exp: exp}, deps, nil
}

// displayErrs names the files of located errors as the build's messages
// do (relative to the working directory).
func (b *build) displayErrs(err error) error {
	for _, e := range diag.Flatten(err) {
		var de *diag.Error
		if errors.As(e, &de) && de.File != "" {
			de.File = b.display(de.File)
		}
	}
	return err
}

// styleDigest identifies an expansion by its root and files: the key of
// its compile.
func styleDigest(root string, exp *less.Expansion) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q\n", root)
	for _, p := range slices.Sorted(maps.Keys(exp.Files)) {
		fmt.Fprintf(h, "%q %d\n", p, len(exp.Files[p]))
		h.Write(exp.Files[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// compileStyle returns the compiled stylesheet of an expansion, compiling
// it (or taking it from the cache) the first time these files are asked
// for. A recalled expansion whose compile is not in the cache is made
// again over fs first.
func (b *build) compileStyle(root string, e *expansion, fs *fileset, st *styleState, owner string) *styleOut {
	digest := e.digest
	b.styleMu.Lock()
	out := b.styleOuts[digest]
	if out == nil {
		out = &styleOut{packKey: "less/" + b.compiledStyleKey(digest)}
		b.styleOuts[digest] = out
	}
	b.styleMu.Unlock()
	out.once.Do(func() {
		defer b.clock.since(stLess, time.Now())
		css, smap, ok := b.recallCompiledStyle(digest)
		if !ok {
			exp := e.exp
			if exp == nil {
				made, _, err := b.makeExpansion(root, fs, st)
				if err != nil {
					out.err = diag.Scoped(owner, err)
					b.fail(out.err)
					return
				}
				exp = made.exp
			}
			css, smap, out.err = b.runLess(root, exp, owner)
			if out.err != nil {
				if b.ctx.Err() == nil { // else the build is failing already
					b.fail(out.err)
				}
				return
			}
			b.keepCompiledStyle(digest, css, smap)
		}
		out.blob = b.store.put(css, styleName(root))
		if len(smap) > 0 { // a map from the cache decodes as empty, not nil
			out.smap = b.store.put(smap, styleName(root)+".map")
		}
	})
	return out
}

// runLess compiles an expansion with less.js and minifies the result;
// with --source-maps it returns the stylesheet as less.js writes it (a
// minifier would move what the map points at) and its source map.
func (b *build) runLess(root string, exp *less.Expansion, owner string) (css, smap []byte, _ error) {
	t0 := time.Now()
	res, err := b.lessPool().Compile(b.ctx, root, exp.Files, less.CompileOptions{SourceMap: b.opts.SourceMaps})
	b.stats.lessRuns.Add(1)
	b.log.Debug("less.js compiled", "root", root, "for", owner, "files", len(exp.Files),
		"since start", t0.Sub(b.start).Round(time.Millisecond), "wall", time.Since(t0).Round(time.Millisecond))
	located := func(file string, line, col int, msg, source string) *diag.Error {
		if abs, ok := exp.Inputs[file]; ok {
			file = b.display(abs)
		}
		return &diag.Error{Kind: diag.Build, File: file, Line: line, Col: col, Msg: msg, Source: source}
	}
	if res != nil {
		for _, w := range res.Warnings {
			if w.File == "" {
				b.warn(diag.Scoped(owner, &diag.Error{Kind: diag.Build, File: b.display(exp.Inputs[root]), Msg: "less: " + w.Text}))
				continue
			}
			b.warn(diag.Scoped(owner, located(w.File, w.Line, w.Col, "less: "+w.Text, "")))
		}
	}
	var le *less.Error
	switch {
	case errors.As(err, &le):
		typ := le.Type
		if typ == "" {
			typ = "Syntax"
		}
		return nil, nil, diag.Scoped(owner, located(le.File, le.Line, le.Col, typ+"Error: "+le.Text, le.Extract))
	case err != nil && b.ctx.Err() == nil:
		// No node, no less.js: the machine's setup, not the sources.
		return nil, nil, &diag.Error{Kind: diag.Config, Scope: owner, Msg: fmt.Sprintf("compiling %s: %v (--no-css skips stylesheets)", root, err)}
	case err != nil:
		return nil, nil, err
	}
	if b.opts.SourceMaps {
		smap, err := b.styleSourceMap(res.Map, exp)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: source map: %w", root, err)
		}
		name := path.Base(styleName(root))
		return fmt.Appendf(bytes.TrimRight(res.CSS, "\n"), "\n/*# sourceMappingURL=%s.map */\n", name), smap, nil
	}
	// The minifier may write past the end of its input: give it a copy.
	in := append(make([]byte, 0, len(res.CSS)+1), res.CSS...)
	min, merr := minifiers.Bytes("text/css", in)
	if merr != nil {
		b.warn(diag.Scoped(owner, &diag.Error{Kind: diag.Build, File: b.display(exp.Inputs[root]), Msg: fmt.Sprintf("the compiled stylesheet is published unminified: %v", merr)}))
		return res.CSS, nil, nil
	}
	return min, nil, nil
}

// styleSourceMap names each source of a less.js source map by its file,
// as the build's messages name it (relative to the working directory):
// the original .less sources, not the logical paths of the expansion. The
// sources' contents stay in the map, so a browser shows them without
// their being published.
func (b *build) styleSourceMap(raw []byte, exp *less.Expansion) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if srcs, ok := m["sources"].([]any); ok {
		for i, s := range srcs {
			if p, ok := s.(string); ok {
				if abs, ok := exp.Inputs[p]; ok {
					srcs[i] = filepath.ToSlash(b.display(abs))
				}
			}
		}
	}
	return json.Marshal(m)
}

// lessPool starts the less.js workers on first use.
func (b *build) lessPool() *less.Pool {
	b.styleMu.Lock()
	defer b.styleMu.Unlock()
	if b.less == nil {
		b.less = less.NewPool(less.Options{Workers: min(b.opts.Threads, 4)})
	}
	return b.less
}

// closeLess stops the less.js workers.
func (b *build) closeLess() {
	b.styleMu.Lock()
	defer b.styleMu.Unlock()
	if b.less != nil {
		b.less.Close()
		b.less = nil
	}
}
