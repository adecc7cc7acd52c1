package builder

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"slices"

	"github.com/scdtool/scd/builder/less"
	"github.com/scdtool/scd/diag"
)

// A LESS expansion is a pure function of what it asked: the answers of the
// job's file lookups (which file, with which content, or none) and of the
// //@magento_import collector. With the cache on, each expansion's
// questions and answers are kept in the pack (kind "lessdeps", by theme,
// root and file set) with what the compile needs of the result: the
// digest of the expanded files, the logical → source map and the
// warnings. A rebuild asks the same questions again — a map lookup and a
// digest comparison per file, the collector's stats — and, when every
// answer is the same, takes the recorded result instead of reading and
// expanding hundreds of files. The compile itself is then a pack lookup by
// the digest; only when that misses is the root expanded for real.

// styleDeps is what an expansion asked, with the answers it got.
type styleDeps struct {
	Lookups  []styleLookup
	Collects []styleCollect
}

// styleLookup is one lookup: Abs is "" when no file answered.
type styleLookup struct {
	Logical, Abs, Digest string
}

type styleCollect struct {
	Path  string
	Found []less.Collected
}

// styleMemo is a recorded expansion.
type styleMemo struct {
	Deps     styleDeps
	Digest   string            // of the expanded files (styleDigest)
	Inputs   map[string]string // less.Expansion.Inputs
	Warnings []*diag.Error     // as displayed, unscoped
}

// expansion is an expansion as the compile needs it: exp is nil when it
// was recalled from the pack rather than made.
type expansion struct {
	digest string
	inputs map[string]string
	exp    *less.Expansion
}

// styleMemoKey is the pack key of the expansion of root over fs. The
// working directory is part of it: the recorded warnings name files
// relative to it.
func (b *build) styleMemoKey(root string, fs *fileset) string {
	return b.key("lessdeps", root, fs.key, b.opts.WorkDir)
}

// recallStyle returns the recorded expansion of root over fs when every
// lookup and collector answer it was made from is unchanged.
func (b *build) recallStyle(root string, fs *fileset, st *styleState) (*styleMemo, bool) {
	if b.cache == nil || b.digests == nil {
		return nil, false
	}
	raw, ok := b.packGet("lessdeps", b.styleMemoKey(root, fs))
	if !ok {
		return nil, false
	}
	var m styleMemo
	if gob.NewDecoder(bytes.NewReader(raw)).Decode(&m) != nil {
		return nil, false
	}
	for _, l := range m.Deps.Lookups {
		src, ok := fs.lookup(l.Logical)
		switch {
		case !ok && l.Abs == "":
		case !ok || src.Abs != l.Abs || b.digests[src.Abs] != l.Digest || l.Digest == "":
			return nil, false
		}
	}
	for _, c := range m.Deps.Collects {
		if !slices.Equal(st.collectFn(c.Path), c.Found) {
			return nil, false
		}
	}
	return &m, true
}

// recordStyle keeps an expansion and what it asked in the pack.
func (b *build) recordStyle(root string, fs *fileset, deps *styleDeps, e *expansion) {
	if b.cache == nil || b.digests == nil {
		return
	}
	m := styleMemo{Deps: *deps, Digest: e.digest, Inputs: e.inputs}
	for _, w := range e.exp.Warnings {
		if de, ok := w.(*diag.Error); ok {
			m.Warnings = append(m.Warnings, de)
		} else {
			return // not recordable: expand again next time
		}
	}
	var buf bytes.Buffer
	if gob.NewEncoder(&buf).Encode(&m) != nil {
		return
	}
	b.packPut("lessdeps", b.styleMemoKey(root, fs), buf.Bytes())
}

// compiledStyleKey is the pack key of the compile of an expansion: its
// digest, less.js's version, whether it has a source map and the working
// directory (the map names the sources relative to it).
func (b *build) compiledStyleKey(digest string) string {
	return b.key("less", digest, b.lessVersion(), fmt.Sprint(b.opts.SourceMaps), b.opts.WorkDir)
}

// recallCompiledStyle returns the compiled stylesheet (and source map) of
// the expansion of digest from the pack.
func (b *build) recallCompiledStyle(digest string) (css, smap []byte, ok bool) {
	packed, ok := b.packGet("less", b.compiledStyleKey(digest))
	if !ok {
		return nil, nil, false
	}
	d := &dec{b: packed}
	css, smap = d.bytes(), d.bytes()
	return css, smap, !d.bad
}

// keepCompiledStyle keeps a compiled stylesheet for the next build.
func (b *build) keepCompiledStyle(digest string, css, smap []byte) {
	b.packPutLazy("less", b.compiledStyleKey(digest), func() []byte {
		e := &enc{}
		e.bytes(css)
		e.bytes(smap)
		return e.b
	})
}
