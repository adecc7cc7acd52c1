package matrix

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// themeSrc is a theme with the nodes its checks point at.
type themeSrc struct {
	t                              *Theme
	node                           *yaml.Node // the theme's mapping
	nameNode, pathNode, parentNode *yaml.Node
	nameOK                         bool
	dup                            bool   // a later theme of the same name
	path                           string // `path:` as written
}

// where returns the node that best locates a problem with the theme's
// directory: its `path:` when it has one, else its name.
func (ts *themeSrc) where() *yaml.Node {
	switch {
	case ts.pathNode != nil:
		return ts.pathNode
	case ts.nameNode != nil:
		return ts.nameNode
	}
	return ts.node
}

// parse reads data as the matrix file absFile in dir, naming it file in
// messages.
func parse(file, absFile, dir string, data []byte) (*Config, error) {
	r := &reader{file: file, src: data}
	root, empty := r.document()
	switch {
	case empty:
		r.errorf(0, 0, "matrix file is empty: expected a mapping with at least a themes: list")
	case root != nil && root.Kind != yaml.MappingNode:
		r.at(root, "matrix file must be a mapping of settings, got %s", describe(root))
	case root != nil:
		c := &Config{File: absFile, Dir: dir, Data: data}
		r.config(root, c)
		if err := r.err(); err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, r.err()
}

// config reads the top-level mapping into c, applies defaults, and checks
// everything that depends on more than one key.
func (r *reader) config(root *yaml.Node, c *Config) {
	var (
		sourceNode, outputNode      *yaml.Node
		themesNode, excludeNode     *yaml.Node
		source, output              string
		libs                        []string
		libNodes                    []*yaml.Node
		haveThemes                  bool
		compressionSet, entriesSet  bool
		localesSet, i18nSet, minSet bool
		sourceLocaleSet             bool
		magentoNode                 *yaml.Node
		magentoRoot                 string
	)
	c.CompressionLevels = map[string]int{}
	for _, c0 := range codecs {
		c.CompressionLevels[c0.name] = c0.def
	}

	for _, kv := range r.pairs(root) {
		key, v := kv.key.Value, kv.val
		switch key {
		case "source":
			if s, ok := r.nonEmpty(key, v); ok {
				source, sourceNode = s, v
			}
		case "output":
			if s, ok := r.nonEmpty(key, v); ok {
				output, outputNode = s, v
			}
		case "threads":
			if n, ok := r.integer(key, v); ok {
				if n < 0 {
					r.at(v, "threads: must not be negative, got %d", n)
				}
				c.Threads = n
			}
		case "libs":
			vals, nodes, _ := r.strList(key, v)
			for i, s := range vals {
				if s == "" {
					r.at(nodes[i], "libs: must not be empty")
					continue
				}
				libs = append(libs, s)
				libNodes = append(libNodes, nodes[i])
			}
		case "entries":
			if e, ok := r.entries(key, v); ok {
				c.Entries, entriesSet = e, true
			}
		case "locales":
			if l, ok := r.locales(key, v); ok {
				c.Locales, localesSet = l, true
			}
		case "compression":
			if cs, ok := r.compression(v); ok {
				c.Compression, compressionSet = cs, true
			}
		case "compression_levels":
			r.levels(v, c.CompressionLevels)
		case "compression_min_size":
			if n, ok := r.integer(key, v); ok {
				if n < 0 {
					r.at(v, "compression_min_size: must not be negative, got %d", n)
				}
				c.CompressionMinSize, minSet = n, true
			}
		case "i18n_strategy":
			if s, ok := r.str(key, v); ok {
				if s != "embedded" && s != "dictionary" {
					r.at(v, "invalid i18n_strategy %s: expected embedded or dictionary", quote(s))
				}
				c.I18nStrategy, i18nSet = s, true
			}
		case "asset_base":
			if s, ok := r.str(key, v); ok {
				c.AssetBase = s
			}
		case "source_locale":
			if s, ok := r.str(key, v); ok {
				if s != "" && !ValidLocale(s) {
					r.at(v, "invalid source_locale %s: expected a code such as en_US, or \"\" for none", quote(s))
				}
				c.SourceLocale, sourceLocaleSet = s, true
			}
		case "magento_root":
			if s, ok := r.nonEmpty(key, v); ok {
				magentoRoot, magentoNode = s, v
			}
		case "names":
			if s, ok := r.str(key, v); ok {
				if s != NamesHashed && s != NamesLogical {
					r.at(v, "invalid names %s: expected %s or %s", quote(s), NamesHashed, NamesLogical)
				}
				c.Names = s
			}
		case "themes":
			themesNode, haveThemes = v, true
		case "exclude_themes":
			excludeNode = v
		case "deploy":
			// Read by the deploy phase (package hooks), which reports its
			// own problems with positions in this file.
			c.Deploy = v
		default:
			r.at(kv.key, "unknown key %q", key)
		}
	}

	// Defaults. Slices are copied so that callers mutating one Config do
	// not change the defaults of the next.
	magentoOK := false
	if magentoRoot != "" {
		c.MagentoRoot = c.abs(magentoRoot)
		magentoOK = r.checkDir(magentoNode, c.MagentoRoot, c.display(c.MagentoRoot), "magento_root")
	}
	magento := c.MagentoRoot != ""
	switch {
	case entriesSet:
	case magento:
		// RequireJS loads every file of a Magento job by name: nothing
		// is bundled unless the file says so.
		c.Entries = []string{}
	default:
		c.Entries = slices.Clone(defaultEntries)
	}
	if !localesSet {
		c.Locales = slices.Clone(defaultLocales)
		c.LocalesDefault = true
	}
	if c.Names == "" {
		c.Names = NamesHashed
		if magento {
			c.Names = NamesLogical
		}
	}
	if !compressionSet {
		c.Compression = slices.Clone(defaultCompression)
	}
	if !minSet {
		c.CompressionMinSize = defaultMinSize
	}
	if !i18nSet {
		c.I18nStrategy = defaultI18nStrategy
	}
	if !sourceLocaleSet {
		c.SourceLocale = defaultSourceLocale
	}

	// Directories.
	c.Source = c.Dir
	if magento {
		c.Source = c.MagentoRoot
	}
	if source != "" {
		c.Source = c.abs(source)
	}
	c.Output = filepath.Join(c.Dir, filepath.FromSlash(defaultOutput))
	if magento {
		c.Output = filepath.Join(c.MagentoRoot, filepath.FromSlash(defaultOutput))
	}
	if output != "" {
		c.Output = c.abs(output)
	}
	sourceOK := r.checkDir(sourceNode, c.Source, c.display(c.Source), "source directory")
	if magento && libs == nil && magentoOK {
		// Magento's library directory, when the tree has one.
		if fi, err := os.Stat(filepath.Join(c.MagentoRoot, "lib", "web")); err == nil && fi.IsDir() {
			c.Libs = append(c.Libs, filepath.Join(c.MagentoRoot, "lib", "web"))
		}
	}
	for i, l := range libs {
		p := c.abs(l)
		c.Libs = append(c.Libs, p)
		r.checkDir(libNodes[i], p, l, "library directory")
	}

	// Themes.
	var themes []*themeSrc
	switch {
	case !haveThemes && magento:
		// Every theme of the Magento project (source.Magento.Configure).
	case !haveThemes:
		r.errorf(0, 0, "missing required key \"themes\": the list of themes to build, or magento_root")
	default:
		items, ok := r.list("themes", themesNode)
		if ok && len(items) == 0 {
			r.at(themesNode, "themes: the list is empty")
		}
		for _, it := range items {
			if ts := r.theme(it); ts != nil {
				themes = append(themes, ts)
				c.Themes = append(c.Themes, ts.t)
			}
		}
	}
	byName := r.names(themes)
	if magento {
		// Paths and parents come from the project's theme.xml files.
		for _, ts := range themes {
			if ts.pathNode != nil {
				r.at(ts.pathNode, "path: a theme of magento_root is found by Magento's rules, not by path")
			}
		}
	} else {
		for _, ts := range themes {
			r.locate(c, ts, sourceOK)
		}
		r.parents(themes, byName)
	}
	if excludeNode != nil {
		c.ExcludeThemes = r.excludes(excludeNode, byName)
	}
	r.checkOutput(c, outputNode, sourceNode)
}

// abs resolves a path from the file against the file's directory.
func (c *Config) abs(p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// display renders p for a message as the user would write it: relative to
// the matrix file's directory when inside it.
func (c *Config) display(p string) string {
	if within(c.Dir, p) {
		if rel, err := filepath.Rel(c.Dir, p); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return p
}

// checkDir reports a path that is missing or not a directory, at n.
func (r *reader) checkDir(n *yaml.Node, p, shown, what string) bool {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.at(n, "%s %q does not exist", what, shown)
	case err != nil:
		r.at(n, "%s %q: %v", what, shown, unwrapPath(err))
	case !fi.IsDir():
		r.at(n, "%s %q is not a directory", what, shown)
	default:
		return true
	}
	return false
}

// unwrapPath drops the path from an *fs.PathError, which the message
// already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// entries reads entry globs. They are matched with path.Match against
// slash-separated paths under web/, so they must be clean and relative: a
// glob that could never match, or would reach outside web/, is a mistake
// better reported now.
func (r *reader) entries(what string, n *yaml.Node) ([]string, bool) {
	vals, nodes, ok := r.strList(what, n)
	if !ok {
		return nil, false
	}
	for i, s := range vals {
		if _, err := path.Match(s, ""); err != nil {
			r.at(nodes[i], "invalid entry glob %s: %v", quote(s), err)
			ok = false
			continue
		}
		if s == "" || path.IsAbs(s) || path.Clean(s) != s || s == "." || s == ".." || strings.HasPrefix(s, "../") {
			r.at(nodes[i], "invalid entry glob %s: must be a clean path relative to web/", quote(s))
			ok = false
		}
	}
	return vals, ok
}

// compression reads the list of sidecar encodings.
func (r *reader) compression(n *yaml.Node) ([]string, bool) {
	vals, nodes, ok := r.strList("compression", n)
	if !ok {
		return nil, false
	}
	seen := map[string]bool{}
	for i, s := range vals {
		switch _, known := findCodec(s); {
		case !known:
			r.at(nodes[i], "unknown compression %s: expected %s", quote(s), oneOf(codecNames()))
			ok = false
		case seen[s]:
			r.at(nodes[i], "duplicate compression %q", s)
			ok = false
		}
		seen[s] = true
	}
	return vals, ok
}

func codecNames() []string {
	names := make([]string, len(codecs))
	for i, c := range codecs {
		names[i] = c.name
	}
	return names
}

// levels reads compression_levels into into, checking each encoder's range.
func (r *reader) levels(n *yaml.Node, into map[string]int) {
	pairs, ok := r.mapping("compression_levels", n)
	if !ok {
		return
	}
	for _, kv := range pairs {
		cd, known := findCodec(kv.key.Value)
		if !known {
			r.at(kv.key, "compression_levels: unknown compression %s: expected %s", quote(kv.key.Value), oneOf(codecNames()))
			continue
		}
		what := "compression_levels." + cd.name
		lvl, ok := r.integer(what, kv.val)
		if !ok {
			continue
		}
		if lvl < cd.min || lvl > cd.max {
			r.at(kv.val, "%s: level %d is out of range %d..%d", what, lvl, cd.min, cd.max)
			continue
		}
		into[cd.name] = lvl
	}
}

// theme reads one item of `themes:`.
func (r *reader) theme(n *yaml.Node) *themeSrc {
	v := resolve(n)
	if v == nil || v.Kind != yaml.MappingNode {
		r.at(n, "themes: expected a mapping for each theme, got %s", describe(v))
		return nil
	}
	ts := &themeSrc{t: &Theme{Area: defaultArea}, node: v}
	ts.t.Line, ts.t.Col = r.pos(v)
	haveName := false
	for _, kv := range r.pairs(v) {
		key, val := kv.key.Value, kv.val
		switch key {
		case "name":
			haveName = true
			ts.t.Line, ts.t.Col = r.pos(kv.key)
			s, ok := r.str(key, val)
			if !ok {
				continue
			}
			ts.nameNode = val
			ts.t.Name = s
			if !themeNameRe.MatchString(s) {
				r.at(val, "invalid theme name %s: expected Vendor/name (letters, digits, '_', '.', '-')", quote(s))
				continue
			}
			ts.nameOK = true
		case "area":
			if s, ok := r.str(key, val); ok {
				ts.t.Area = s
				if !areaRe.MatchString(s) {
					r.at(val, "invalid area %s: expected lowercase letters, digits and '_' (frontend, adminhtml)", quote(s))
				}
			}
		case "path":
			if s, ok := r.nonEmpty(key, val); ok {
				ts.path, ts.pathNode = s, val
			}
		case "parent":
			if s, ok := r.nonEmpty(key, val); ok {
				ts.t.Parent, ts.parentNode = s, val
			}
		case "locales":
			if l, ok := r.locales(key, val); ok {
				ts.t.Locales = l
			}
		case "entries":
			if e, ok := r.entries(key, val); ok {
				ts.t.Entries = e
			}
		default:
			r.at(kv.key, "unknown key %q", key)
		}
	}
	if !haveName {
		r.at(n, "theme has no name: expected name: Vendor/name")
	}
	return ts
}

// names indexes the themes by lower-case name and reports duplicates at
// the later one: Magento treats theme names case-insensitively, so two
// names differing only in case would collide there.
func (r *reader) names(themes []*themeSrc) map[string]*themeSrc {
	by := map[string]*themeSrc{}
	for _, ts := range themes {
		if !ts.nameOK {
			continue
		}
		k := strings.ToLower(ts.t.Name)
		if first, dup := by[k]; dup {
			r.at(ts.nameNode, "duplicate theme %q (first defined at line %d)", ts.t.Name, first.nameNode.Line)
			ts.dup = true
			continue
		}
		by[k] = ts
	}
	return by
}

// locate sets the theme's directory and checks that it exists and stays
// inside the source root, lexically and after resolving symlinks: the
// fallback and the watcher trust that everything a theme reads is under
// Source.
func (r *reader) locate(c *Config, ts *themeSrc, sourceOK bool) {
	t := ts.t
	switch {
	case ts.pathNode != nil:
		p := filepath.FromSlash(ts.path)
		if filepath.IsAbs(p) {
			t.Path = filepath.Clean(p)
		} else {
			t.Path = filepath.Join(c.Source, p)
		}
	case ts.nameOK && areaRe.MatchString(t.Area):
		vendor, name, _ := strings.Cut(t.Name, "/")
		t.Path = filepath.Join(c.Source, t.Area, vendor, name)
	default:
		return // the name or area is already reported
	}
	if ts.dup {
		return // one error per theme is enough
	}
	if !within(c.Source, t.Path) {
		r.at(ts.where(), "path escapes the source root")
		return
	}
	if !sourceOK {
		// Every theme would be missing; the source error says why.
		return
	}
	if !r.checkDir(ts.where(), t.Path, c.display(t.Path), "theme directory") {
		return
	}
	realSrc, err1 := filepath.EvalSymlinks(c.Source)
	realPath, err2 := filepath.EvalSymlinks(t.Path)
	if err1 == nil && err2 == nil && !within(realSrc, realPath) {
		r.at(ts.where(), "path escapes the source root: %q resolves to %q", c.display(t.Path), realPath)
	}
}

// parents resolves each `parent:` to the parent's own spelling and reports
// unknown parents and cycles. Each cycle is reported once, at the `parent:`
// of its member that comes first in the file, and named from there.
func (r *reader) parents(themes []*themeSrc, by map[string]*themeSrc) {
	order := map[*themeSrc]int{}
	for i, ts := range themes {
		order[ts] = i
	}
	parentOf := map[*themeSrc]*themeSrc{}
	for _, ts := range themes {
		if ts.parentNode == nil {
			continue
		}
		p, ok := by[strings.ToLower(ts.t.Parent)]
		if !ok {
			r.at(ts.parentNode, "unknown parent %q", ts.t.Parent)
			continue
		}
		ts.t.Parent = p.t.Name
		parentOf[ts] = p
	}
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[*themeSrc]int{}
	for _, start := range themes {
		var path []*themeSrc
		for ts := start; ts != nil && state[ts] != done; ts = parentOf[ts] {
			if state[ts] == onPath {
				i := slices.Index(path, ts)
				r.cycle(path[i:], order)
				break
			}
			state[ts] = onPath
			path = append(path, ts)
		}
		for _, ts := range path {
			state[ts] = done
		}
	}
}

// cycle reports a parent cycle, rotated to start at its member that comes
// first in the file so that the message does not depend on where the walk
// entered it.
func (r *reader) cycle(members []*themeSrc, order map[*themeSrc]int) {
	first := 0
	for i, ts := range members {
		if order[ts] < order[members[first]] {
			first = i
		}
	}
	members = append(slices.Clone(members[first:]), members[:first]...)
	names := make([]string, 0, len(members)+1)
	for _, ts := range members {
		names = append(names, ts.t.Name)
	}
	names = append(names, members[0].t.Name)
	r.at(members[0].parentNode, "parent cycle: %s", strings.Join(names, " -> "))
}

// excludes reads exclude_themes, which must name themes of the file:
// excluding a misspelt name would silently publish the theme.
func (r *reader) excludes(n *yaml.Node, by map[string]*themeSrc) []string {
	vals, nodes, _ := r.strList("exclude_themes", n)
	out := []string{}
	for i, s := range vals {
		ts, ok := by[strings.ToLower(s)]
		if !ok {
			r.at(nodes[i], "exclude_themes: unknown theme %q", s)
			continue
		}
		if !slices.Contains(out, ts.t.Name) {
			out = append(out, ts.t.Name)
		}
	}
	return out
}

// checkOutput refuses an output directory that contains the sources. The
// builder replaces the output directory as a whole, so such a setting
// would destroy the project.
func (r *reader) checkOutput(c *Config, outputNode, sourceNode *yaml.Node) {
	at := outputNode
	if at == nil {
		at = sourceNode
	}
	type dir struct{ what, path string }
	dirs := []dir{{"the matrix file's directory", c.Dir}, {"the source root", c.Source}}
	for _, l := range c.Libs {
		dirs = append(dirs, dir{"the library directory", l})
	}
	for _, t := range c.Themes {
		if t.Path != "" {
			dirs = append(dirs, dir{"the directory of theme " + t.Name, t.Path})
		}
	}
	for _, d := range dirs {
		if within(c.Output, d.path) {
			r.at(at, "output %q must not contain %s %q", c.display(c.Output), d.what, c.display(d.path))
			return
		}
	}
}
