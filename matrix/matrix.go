// Package matrix reads themes.yml, the file that says which themes exist,
// where their sources live and which locales each one is built for, and
// expands it into the list of (area, theme, locale) jobs the builder runs.
//
// Everything the rest of scd needs to trust about the configuration is
// checked here, once, with the position of the offending key or value, so
// that later phases can assume a consistent matrix: names are well formed
// and unique, parents exist and form no cycle, directories exist and stay
// inside the source root, locales and enums are valid. All problems in a
// file are reported together (errors.Join of *diag.Error, Kind diag.Config),
// because fixing a configuration one error per run is tedious.
package matrix

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/scdtool/scd/diag"
)

// Config is a parsed, validated themes.yml. All paths are absolute and
// cleaned.
type Config struct {
	File    string   // absolute path of the matrix file
	Dir     string   // its directory
	Source  string   // `source:` resolved against Dir (default Dir)
	Output  string   // `output:` resolved against Dir (default Dir/pub/static)
	Threads int      // `threads:` (default 0 = number of CPUs)
	Libs    []string // `libs:` directories resolved against Dir; each exists
	Entries []string // `entries:` globs relative to a theme's web/ (default js/*.js, css/*.css)
	Locales []string // `locales:` default locales for themes without their own (default en_US)

	// Compression lists the sidecars to produce, a subset of gzip, br and
	// zstd. Absent means all three; an explicit empty list means none, so a
	// nil slice never appears in a parsed Config: it is either the defaults
	// or an empty, non-nil slice.
	Compression []string
	// CompressionLevels always holds a level for each of gzip, br and zstd,
	// the file's value or the default (gzip 6, br 6, zstd 3).
	CompressionLevels  map[string]int
	CompressionMinSize int    // `compression_min_size:` in bytes (default 256)
	I18nStrategy       string // "embedded" (default) or "dictionary"
	// SourceLocale is the language phrases are written in (default en_US):
	// its jobs need no dictionary, so their phrases are never counted as
	// missing. "" counts every locale.
	SourceLocale string
	AssetBase    string // URL prefix for {{asset}}; "" = relative to the HTML file

	// MagentoRoot is `magento_root:`, the root of a Magento 2 project
	// whose themes, modules and language packs are built (see package
	// source), or "". With it, source and output default to the root and
	// its pub/static, libs to its lib/web, entries to none, names to
	// logical, and themes and their parents come from the project.
	MagentoRoot string
	// Names is how published files are named: NamesHashed (content hash
	// in the name, the default) or NamesLogical (the logical path, as
	// Magento publishes; the default with MagentoRoot).
	Names string
	// LocalesDefault is set when Locales is the default rather than the
	// file's `locales:`, so that a project's own locales may replace it.
	LocalesDefault bool

	Themes []*Theme // in file order

	// Deploy is the `deploy:` section, left to the deploy phase to decode
	// (nil when absent); Data is the file's content, for its messages.
	Deploy *yaml.Node
	Data   []byte
	// ExcludeThemes names themes that are resolved as parents but not
	// published. Names are normalised to the spelling of the theme's own
	// `name:`.
	ExcludeThemes []string
}

// Theme is one entry of `themes:`.
type Theme struct {
	Name string // "Vendor/name"
	Area string // default "frontend"
	Path string // absolute; inside Config.Source
	// Parent is the name of the parent theme, normalised to the parent's
	// own spelling, or "".
	Parent  string
	Locales []string // nil = use Config.Locales
	Entries []string // nil = use Config.Entries; empty = no bundled entries
	// Line and Col locate the theme's `name:` key in the file, so that later
	// phases can point at the theme when something about it goes wrong.
	Line, Col int
}

// Defaults, documented on Config. Parse clones the slices, so a caller
// editing its Config cannot change them.
var (
	defaultEntries     = []string{"js/*.js", "css/*.css"}
	defaultLocales     = []string{"en_US"}
	defaultCompression = []string{"gzip", "br", "zstd"}
)

// Values of Config.Names.
const (
	NamesHashed  = "hashed"
	NamesLogical = "logical"
)

const (
	defaultArea         = "frontend"
	defaultOutput       = "pub/static"
	defaultMinSize      = 256
	defaultI18nStrategy = "embedded"
	defaultSourceLocale = "en_US"
)

// codec describes a compression sidecar and the range of levels its encoder
// accepts. zstd levels are the zstd command line's 1..22, mapped onto
// klauspost's four encoders (builder/precompress).
type codec struct {
	name          string
	min, max, def int
}

var codecs = []codec{
	{"gzip", 1, 9, 6},
	{"br", 0, 11, 6},
	{"zstd", 1, 22, 3},
}

func findCodec(name string) (codec, bool) {
	for _, c := range codecs {
		if c.name == name {
			return c, true
		}
	}
	return codec{}, false
}

var (
	themePartRe = `[A-Za-z0-9][A-Za-z0-9_.-]*`
	themeNameRe = regexp.MustCompile(`^` + themePartRe + `/` + themePartRe + `$`)
	areaRe      = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// localeRe accepts Magento's ll_CC and the script form ll_Scrp_CC
	// (zh_Hans_CN, sr_Cyrl_RS).
	localeRe = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z][a-z]{3})?_[A-Z]{2}$`)
)

// ValidLocale reports whether code is a locale code scd accepts.
func ValidLocale(code string) bool { return localeRe.MatchString(code) }

// ValidThemeName reports whether name has the Vendor/name form.
func ValidThemeName(name string) bool { return themeNameRe.MatchString(name) }

// Load reads and validates a matrix file. Messages name the file as path
// was given, since that is how the user knows it; Config.File is absolute.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, diag.Configf(path, 0, 0, "cannot read matrix file: %v", err)
	}
	abs, aerr := filepath.Abs(path)
	if aerr != nil {
		abs = filepath.Clean(path)
	}
	return parse(path, abs, filepath.Dir(abs), data)
}

// Parse is Load on bytes: dir is the directory relative paths resolve
// against and file names the data in messages. The file is taken to live in
// dir, so Config.File is file itself when absolute, else dir/base(file).
func Parse(file, dir string, data []byte) (*Config, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		absDir = filepath.Clean(dir)
	}
	absFile := filepath.Clean(file)
	if !filepath.IsAbs(file) {
		absFile = filepath.Join(absDir, filepath.Base(file))
	}
	return parse(file, absFile, absDir, data)
}

// Theme returns the theme called name, compared case-insensitively as
// Magento and ece-tools do, or nil.
func (c *Config) Theme(name string) *Theme {
	for _, t := range c.Themes {
		if strings.EqualFold(t.Name, name) {
			return t
		}
	}
	return nil
}

// Chain returns t and its ancestors, child first: the order in which the
// fallback looks for a file. Parse rejects cycles; the guard here only
// keeps a hand-built Config from looping forever.
func (c *Config) Chain(t *Theme) []*Theme {
	var chain []*Theme
	seen := map[*Theme]bool{}
	for t != nil && !seen[t] {
		seen[t] = true
		chain = append(chain, t)
		if t.Parent == "" {
			break
		}
		t = c.Theme(t.Parent)
	}
	return chain
}

// EffectiveLocales returns the locales t is built for.
func (c *Config) EffectiveLocales(t *Theme) []string {
	if t.Locales != nil {
		return t.Locales
	}
	return c.Locales
}

// EffectiveEntries returns the entry globs of t.
func (c *Config) EffectiveEntries(t *Theme) []string {
	if t.Entries != nil {
		return t.Entries
	}
	return c.Entries
}

// Excluded reports whether exclude_themes names t.
func (c *Config) Excluded(t *Theme) bool {
	for _, n := range c.ExcludeThemes {
		if strings.EqualFold(n, t.Name) {
			return true
		}
	}
	return false
}

// within reports whether p is root or lies under it. Both must be clean
// absolute paths; the test is lexical.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
