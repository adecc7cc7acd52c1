package builder

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/scdtool/scd/builder/fstree"
	sl "github.com/scdtool/scd/source"
)

// source is one file of a theme, library or locale override.
type source struct {
	Abs  string // absolute path on disk
	Size int64
	st   fstree.Stat // for the cache's stat cache
}

// layer is the file list of one directory of a fallback chain: logical path
// (slash-separated, relative to web/) → file.
type layer map[string]source

// scanner walks each directory once, whatever number of jobs use it.
type scanner struct {
	layers map[string]layer
}

// scan lists the files under dir, skipping subtree skip (relative, slash
// form) and hidden files. A missing directory is an empty layer.
func (s *scanner) scan(dir, skip string) (layer, error) {
	key := dir + "\x00" + skip
	if l, ok := s.layers[key]; ok {
		return l, nil
	}
	l := layer{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || rel == skip {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			// Follow symlinks to regular files; ignore the rest.
			st, err := os.Stat(p)
			if err != nil || !st.Mode().IsRegular() {
				return nil
			}
			info = st
		}
		l[rel] = source{Abs: p, Size: info.Size(), st: fstree.StatOf(info)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.layers[key] = l
	return l, nil
}

// fileset resolves logical paths for one job (or for a theme without a
// locale, when locale is ""). It is immutable once built.
type fileset struct {
	// base holds, for each logical path, the first file in the chain's web/
	// directories and libraries, with the index of the level it came from.
	base map[string]resolved
	// overlay holds the locale overrides that win over base.
	overlay map[string]resolved
	// key identifies the resolution: the chain's directories and the
	// locale. Bundles are cached under it.
	key string
	// root is the chain's root theme directory: the file sets of one
	// chain share most of their files (see esbuild.go).
	root string
}

type resolved struct {
	source
	level int
}

func (f *fileset) lookup(logical string) (source, bool) {
	if r, ok := f.overlay[logical]; ok {
		return r.source, true
	}
	r, ok := f.base[logical]
	return r.source, ok
}

// paths lists every logical path of the set, sorted.
func (f *fileset) paths() []string {
	out := make([]string, 0, len(f.base)+len(f.overlay))
	for p := range f.base {
		out = append(out, p)
	}
	for p := range f.overlay {
		if _, ok := f.base[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// baseFileset builds the locale-independent resolution of a job's
// fallback chain: the layout's layers without Locale, first match winning.
// root names the chain (its root theme's directory).
func (s *scanner) baseFileset(layers []sl.Layer, root string) (*fileset, error) {
	f := &fileset{base: map[string]resolved{}, root: root}
	var key strings.Builder
	level := 0
	for _, ly := range layers {
		if ly.Locale {
			continue
		}
		fmt.Fprintf(&key, "%s\x00%s\x00%s\x00", ly.Dir, ly.Prefix, ly.Skip)
		l, err := s.scan(ly.Dir, ly.Skip)
		if err != nil {
			return nil, err
		}
		for p, src := range l {
			p = ly.Prefix + p
			if _, ok := f.base[p]; !ok {
				f.base[p] = resolved{src, level}
			}
		}
		level++
	}
	f.key = key.String()
	return f, nil
}

// withLocale returns the job's fileset: base plus the locale layers. A
// locale layer ranks just before the base layer that follows it in the
// list (a theme's web/i18n/<locale>/ before its web/), so its file wins
// over that layer's and every later one's, but not over an earlier base
// layer's (a child theme's file beats its parent's locale override).
func (s *scanner) withLocale(base *fileset, layers []sl.Layer, locale string) (*fileset, error) {
	f := &fileset{base: base.base, key: base.key + "\x00locale " + locale, root: base.root}
	level := 0
	for _, ly := range layers {
		if !ly.Locale {
			level++
			continue
		}
		l, err := s.scan(ly.Dir, ly.Skip)
		if err != nil {
			return nil, err
		}
		for p, src := range l {
			p = ly.Prefix + p
			if _, ok := f.overlay[p]; ok {
				continue
			}
			if b, ok := base.base[p]; ok && b.level < level {
				continue
			}
			if f.overlay == nil {
				f.overlay = map[string]resolved{}
			}
			f.overlay[p] = resolved{src, level}
		}
	}
	return f, nil
}

// isPartial reports whether a logical path is a partial: a file or a
// directory on its path starts with "_". Partials are bundled into other
// files and never published on their own.
func isPartial(logical string) bool {
	for _, seg := range strings.Split(logical, "/") {
		if strings.HasPrefix(seg, "_") {
			return true
		}
	}
	return false
}

// isEntry reports whether logical matches one of the entry globs.
func isEntry(logical string, globs []string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, logical); ok {
			return true
		}
	}
	return false
}
