package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/scdtool/scd/builder/fstree"
	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/builder/less"
	"github.com/scdtool/scd/builder/requirejs"
	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/internal/par"
	sl "github.com/scdtool/scd/source"
	"golang.org/x/sys/unix"
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
	// links are the layers with a link the scan did not follow (to a
	// directory, or dangling): what is under it is not in the layer.
	links map[string]bool
	// skips are the skipped subtree of each directory scanned, for
	// exists; ambiguous when it was scanned with two.
	skips map[string]string
	// absent memoizes, per directory exists was asked about and that
	// was not scanned, whether it is missing (a func() bool).
	absent sync.Map
}

func newScanner() *scanner {
	return &scanner{layers: map[string]layer{}, links: map[string]bool{}, skips: map[string]string{}}
}

// scan lists the files under dir, skipping subtree skip (relative, slash
// form) and hidden files. A missing directory is an empty layer.
func (s *scanner) scan(dir, skip string) (layer, error) {
	key := layerKey(dir, skip)
	if l, ok := s.layers[key]; ok {
		return l, nil
	}
	l, links, err := scanDir(dir, skip)
	if err != nil {
		return nil, err
	}
	s.add(dir, skip, l, links)
	return l, nil
}

// ambiguous marks in scanner.skips a directory scanned with two skips.
const ambiguous = "\x00"

// add records a scanned layer.
func (s *scanner) add(dir, skip string, l layer, links bool) {
	key := layerKey(dir, skip)
	s.layers[key] = l
	if links {
		s.links[key] = true
	}
	if was, ok := s.skips[dir]; ok && was != skip {
		skip = ambiguous
	}
	s.skips[dir] = skip
}

// exists answers less.Dirs.Exists from the directories scanned: whether
// rel is a file of the layer scanned at dir. It cannot tell for a
// directory not scanned, nor for one whose scan found nothing (missing,
// or a link, which the scan does not follow) or passed a link it did not
// follow, nor for a path the scan leaves out (hidden, or under the
// layer's skipped subtree); a directory that is missing has none of the
// paths. It only reads the layers (the plan has scanned everything when
// the compile stage asks) and memoizes the missing directories: it is
// safe for concurrent use.
func (s *scanner) exists(dir, rel string) (found, known bool) {
	if rel == "" || rel[0] == '.' || strings.Contains(rel, "/.") || path.Clean(rel) != rel {
		return false, false // hidden, or not a plain path under dir
	}
	if skip, ok := s.skips[dir]; ok {
		key := layerKey(dir, skip)
		switch l := s.layers[key]; {
		case skip == ambiguous || s.links[key] || skip != "" && (rel == skip || strings.HasPrefix(rel, skip+"/")):
			return false, false
		case len(l) > 0:
			_, found = l[rel]
			return found, true
		}
		// Scanned empty: missing, a file or a link, asked below.
	}
	// Most of the module directories a collect asks about have no such
	// web directory: one stat of the directory answers for every path.
	missing, ok := s.absent.Load(dir)
	if !ok {
		missing, _ = s.absent.LoadOrStore(dir, sync.OnceValue(func() bool {
			_, err := os.Stat(dir)
			return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)
		}))
	}
	if missing.(func() bool)() {
		return false, true
	}
	return false, false
}

// scanDir is scan without the scanner's memory; links reports a link
// it did not follow. It lists each directory with getdents and stats
// each file relative to its directory's descriptor: a Magento project's
// scan is thousands of directories and tens of thousands of files.
func scanDir(dir, skip string) (l layer, links bool, err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP):
		// Missing, a file, or a link: nothing is scanned under it.
		return layer{}, false, nil
	case err != nil:
		return nil, false, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	s := &dirScan{l: layer{}, skip: skip, buf: make([]byte, 32<<10)}
	if err := s.dir(fd, filepath.Clean(dir), ""); err != nil {
		return nil, false, err
	}
	return s.l, s.links, nil
}

// dirScan is the state of one scanDir.
type dirScan struct {
	l     layer
	skip  string
	links bool
	buf   []byte // for getdents, reused: a directory's names are copied out first
}

// dir scans the open directory fd (abs on disk, rel in the layer) and
// closes it. Hidden names and the skipped subtree are left out; regular
// files, and links to regular files (with the stat of their target), are
// the layer's files; links to directories are not followed.
func (s *dirScan) dir(fd int, abs, rel string) error {
	defer unix.Close(fd)
	type entry struct {
		name string
		typ  byte
	}
	var ents []entry
	if err := fstree.ReadDirents(fd, s.buf, func(name string, typ byte, _ uint64) {
		if !strings.HasPrefix(name, ".") {
			ents = append(ents, entry{name, typ})
		}
	}); err != nil {
		return &os.PathError{Op: "getdents", Path: abs, Err: err}
	}
	for _, e := range ents {
		r, p := e.name, abs+string(filepath.Separator)+e.name
		if rel != "" {
			r = rel + "/" + e.name
		}
		if r == s.skip {
			continue
		}
		var st unix.Stat_t
		typ := e.typ
		if typ != unix.DT_DIR {
			if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return &os.PathError{Op: "lstat", Path: p, Err: err}
			}
			typ = fstree.DirentType(st.Mode)
		}
		switch typ {
		case unix.DT_DIR:
			sub, err := unix.Openat(fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: p, Err: err}
			}
			if err := s.dir(sub, p, r); err != nil {
				return err
			}
			continue
		case unix.DT_LNK:
			// Followed to a regular file; anything else is left out.
			if unix.Fstatat(fd, e.name, &st, 0) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
				s.links = true
				continue
			}
		case unix.DT_REG:
		default:
			continue // a fifo, a socket, a device
		}
		s.l[r] = source{Abs: p, Size: st.Size, st: fstree.StatOfSys(&st)}
	}
	return nil
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
	// chain share most of their files (see compile_esbuild.go).
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

// prefetch scans, on a few goroutines, every directory of the fallback
// chains given, so that the plan, which goes job by job, finds them
// scanned: on a Magento project that is hundreds of module directories.
// A directory whose scan fails is left to the plan, which reports it.
func (s *scanner) prefetch(chains [][]sl.Layer) {
	var todo []sl.Layer
	seen := map[string]bool{}
	for _, layers := range chains {
		for _, ly := range layers {
			if k := layerKey(ly.Dir, ly.Skip); !seen[k] && s.layers[k] == nil {
				seen[k] = true
				todo = append(todo, ly)
			}
		}
	}
	found := make([]layer, len(todo))
	links := make([]bool, len(todo))
	par.For(len(todo), 4, func(i int) { found[i], links[i], _ = scanDir(todo[i].Dir, todo[i].Skip) })
	for i, ly := range todo {
		if found[i] != nil {
			s.add(ly.Dir, ly.Skip, found[i], links[i])
		}
	}
}

// layerKey names a scanned directory in scanner.layers.
func layerKey(dir, skip string) string { return dir + "\x00" + skip }

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
	return strings.HasPrefix(logical, "_") || strings.Contains(logical, "/_")
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

// plan resolves every job's files and dictionaries. It runs before any
// work starts, so that a configuration problem costs nothing.
func (b *build) plan() ([]*job, map[string]*themeState, error) {
	sc := newScanner()
	b.scanner = sc
	chains := make([][]sl.Layer, len(b.opts.Jobs))
	for i, mj := range b.opts.Jobs {
		chains[i] = b.layout.Layers(mj.Area, mj.Chain, mj.Locale)
	}
	sc.prefetch(chains)
	themes := map[string]*themeState{}
	var jobs []*job
	for i, mj := range b.opts.Jobs {
		key := themeKey(mj)
		ts := themes[key]
		layers := chains[i]
		if ts == nil {
			base, err := sc.baseFileset(layers, mj.Chain[len(mj.Chain)-1].Path)
			if err != nil {
				return nil, nil, err
			}
			ts = &themeState{theme: mj.Chain[0], chain: mj.Chain, base: base, bundles: map[string]*bundle{}}
			themes[key] = ts
			if err := b.planRequireJS(ts, mj.Area); err != nil {
				return nil, nil, err
			}
			b.planTailwind(ts, mj.Area)
			b.planStyles(ts, mj.Area)
		}
		fs, err := sc.withLocale(ts.base, layers, mj.Locale)
		if err != nil {
			return nil, nil, err
		}
		j := &job{Job: mj, id: mj.ID(), fs: fs, layers: layers}
		ts.jobs = append(ts.jobs, j)
		jobs = append(jobs, j)

		// Dictionaries merge in the layout's order, the later winning: the
		// order is an input too (a project's module order may change).
		// They are read and digested here, parsed once the build knows
		// it has work to do (parseDictionaries).
		j.dictFiles = b.layout.Dictionaries(mj.Area, mj.Chain, mj.Locale)
		fmt.Fprintf(b.planSum, "%s %q\n", j.id, j.dictFiles)
		for _, file := range j.dictFiles {
			if _, seen := b.dictSums[file]; seen {
				continue
			}
			data, err := os.ReadFile(file)
			switch {
			case os.IsNotExist(err):
				b.dictSums[file] = "-"
			case err != nil:
				return nil, nil, err
			default:
				sum := sha256.Sum256(data)
				b.dictSums[file] = hex.EncodeToString(sum[:])
				b.dictData[file] = data
			}
		}
	}
	return jobs, themes, nil
}

// planFiles gives every job what it publishes: its LESS roots, the
// entries it bundles and its leaves. It runs once the build knows it has
// work to do: the up-to-date check needs none of it (at 600 jobs, that is
// most of the plan). The jobs' lists are made on the workers; their leaves
// are then shared in plan order, so that a leaf's owner (the job whose
// messages name it) is the first job of the plan that publishes it,
// however the workers ran.
func (b *build) planFiles(jobs []*job, themes map[string]*themeState) {
	srcs := make([][]source, len(jobs))
	par.For(len(jobs), b.opts.Threads, func(i int) {
		srcs[i] = b.planJobFiles(jobs[i], themes[themeKey(jobs[i].Job)])
	})
	for i, j := range jobs {
		for k := range j.leaves {
			j.leaves[k].leaf = b.leafFor(srcs[i][k], j.leaves[k].logical, j.id)
		}
	}
}

// planJobFiles lists the job's LESS roots, entries and leaves, and
// returns the source of each leaf, whose leafOnce is left to planFiles.
func (b *build) planJobFiles(j *job, ts *themeState) []source {
	fs, mj := j.fs, j.Job
	paths := fs.paths()
	compiled := map[string]bool{} // LESS roots and the stylesheets they give
	if ts.styles != nil && !b.opts.Skip.CSS {
		j.lessRoots = less.Roots(paths)
		j.styles = make([]*styleOut, len(j.lessRoots))
		for _, r := range j.lessRoots {
			compiled[r], compiled[styleName(r)] = true, true
		}
	}
	j.leaves = make([]jobLeaf, 0, len(paths))
	srcs := make([]source, 0, len(paths))
	for _, logical := range paths {
		if isPartial(logical) || logical == requireJSFile && len(ts.requirejs) > 0 || compiled[logical] ||
			ts.styles != nil && strings.HasSuffix(logical, ".less") {
			// The merged configuration or a compiled stylesheet takes
			// that name; LESS sources are compiled, not published.
			continue
		}
		k := kindOf(logical)
		entry := isEntry(logical, mj.Entries) && isBundleable(logical)
		if entry {
			if (kindOf(logical) == kindCSS && b.opts.Skip.CSS) || (kindOf(logical) != kindCSS && b.opts.Skip.JS) {
				continue
			}
			j.entries = append(j.entries, logical)
			continue
		}
		if b.opts.Skip.skips(k) {
			continue
		}
		src, _ := fs.lookup(logical)
		j.leaves = append(j.leaves, jobLeaf{logical: logical})
		srcs = append(srcs, src)
	}
	return srcs
}

// parseDictionaries parses every dictionary the plan read, each once and
// on the pool, and gives each job the merge of its own, in its order. A
// file's warnings and errors are scoped to the first job that reads it.
func (b *build) parseDictionaries(jobs []*job) error {
	type parsed struct {
		owner    string
		dict     *i18n.Dictionary
		warnings []error
		err      error
	}
	// A file's owner is the first job of the plan that reads it, clean
	// or not, so that its warnings are scoped as in a cold build; only
	// the files of the jobs to assemble are parsed.
	owner := map[string]string{}
	for _, j := range jobs {
		for _, f := range j.dictFiles {
			if _, ok := owner[f]; !ok {
				owner[f] = j.id
			}
		}
	}
	files := map[string]*parsed{}
	var order []string
	for _, j := range dirtyJobs(jobs) {
		for _, f := range j.dictFiles {
			if _, ok := files[f]; !ok && b.dictData[f] != nil {
				files[f] = &parsed{owner: owner[f]}
				order = append(order, f)
			}
		}
	}
	g := b.pool.NewGroupContext(b.ctx)
	for _, f := range order {
		p := files[f]
		g.Submit(func() {
			p.dict, p.warnings, p.err = i18n.ParseCSV(b.display(f), b.dictData[f], i18n.ParseOptions{})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	b.dictData = nil
	var errs []error
	for _, f := range order {
		p := files[f]
		for _, w := range p.warnings {
			b.warn(diag.Scoped(p.owner, w))
		}
		if p.err != nil {
			errs = append(errs, diag.Scoped(p.owner, p.err))
		}
	}
	if len(errs) > 0 {
		return joinSorted(errs)
	}
	merged := map[string]*job{} // by the list of files: the first job with it
	for _, j := range dirtyJobs(jobs) {
		key := strings.Join(j.dictFiles, "\x00")
		if first, ok := merged[key]; ok {
			j.dict = first.dict
			continue
		}
		parts := make([]*i18n.Dictionary, 0, len(j.dictFiles))
		for _, f := range j.dictFiles {
			if p := files[f]; p != nil {
				parts = append(parts, p.dict)
			}
		}
		j.dict = i18n.MergeAll(parts...)
		merged[key] = j
	}
	return nil
}

// planRequireJS reads the theme's requirejs-config.js inputs, whose
// digests join the dictionaries' in the cache's view of the inputs.
func (b *build) planRequireJS(ts *themeState, area string) error {
	files := b.layout.RequireJS(area, ts.chain)
	fmt.Fprintf(b.planSum, "requirejs %s/%s %q\n", area, ts.theme.Name, files)
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		b.dictSums[f.Path] = hex.EncodeToString(sum[:])
		ts.requirejs = append(ts.requirejs, requirejs.File{Path: f.Path, Name: b.display(f.Path), Module: f.Module})
		ts.rjsData = append(ts.rjsData, data)
	}
	return nil
}

// leafFor returns the leaf of a source file, creating it on first use.
func (b *build) leafFor(src source, logical, owner string) *leafOnce {
	b.leafMu.Lock()
	defer b.leafMu.Unlock()
	l, ok := b.leaves[src.Abs]
	if !ok {
		l = &leafOnce{leaf: leaf{src: src, logical: logical, owner: owner, kind: kindOf(logical)}}
		b.leaves[src.Abs] = l
	}
	return l
}
