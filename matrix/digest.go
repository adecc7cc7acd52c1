package matrix

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
)

// digestVersion is hashed first so that a change to what the digest covers
// changes every digest, rather than letting an old one match by accident.
const digestVersion = "scd-matrix-digest/1"

// digestConfig is what Digest hashes: every setting that can change the
// build output, in a fixed order. Maps are encoded by encoding/json with
// sorted keys, so Go's map order never shows.
//
// Paths are taken relative to the matrix file's directory: build.json
// carries the digest and output must be byte-identical for the same inputs,
// so a checkout in another directory must give the same digest. For the
// same reason Threads (how fast, not what) and the positions of themes in
// the file (formatting) are left out.
type digestConfig struct {
	Source             string
	Output             string
	Libs               []string
	Entries            []string
	Locales            []string
	Compression        []string
	CompressionLevels  map[string]int
	CompressionMinSize int
	I18nStrategy       string
	SourceLocale       string
	AssetBase          string
	Themes             []digestTheme
	ExcludeThemes      []string
	MagentoRoot        string
	Names              string
}

type digestTheme struct {
	Name, Area, Path, Parent string
	// A nil list (use the defaults) encodes as null, an empty one (no
	// entries) as [], so the two digest differently.
	Locales, Entries []string
}

// Digest is a stable hex SHA-256 of the effective configuration, for
// build.json: a build made with another configuration has another digest.
func (c *Config) Digest() string {
	d := digestConfig{
		Source:             c.rel(c.Source),
		Output:             c.rel(c.Output),
		Entries:            c.Entries,
		Locales:            c.Locales,
		Compression:        c.Compression,
		CompressionLevels:  c.CompressionLevels,
		CompressionMinSize: c.CompressionMinSize,
		I18nStrategy:       c.I18nStrategy,
		SourceLocale:       c.SourceLocale,
		AssetBase:          c.AssetBase,
		ExcludeThemes:      c.ExcludeThemes,
		MagentoRoot:        c.rel(c.MagentoRoot),
		Names:              c.Names,
	}
	for _, l := range c.Libs {
		d.Libs = append(d.Libs, c.rel(l))
	}
	for _, t := range c.Themes {
		d.Themes = append(d.Themes, digestTheme{
			Name: t.Name, Area: t.Area, Path: c.rel(t.Path), Parent: t.Parent,
			Locales: t.Locales, Entries: t.Entries,
		})
	}
	b, err := json.Marshal(d)
	if err != nil {
		// Only strings, ints and slices and maps of them: cannot fail.
		panic("matrix: digest: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(digestVersion))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// rel expresses p relative to the matrix file's directory, slash-separated,
// so that it reads the same on every machine and OS.
func (c *Config) rel(p string) string {
	if p == "" {
		return ""
	}
	if r, err := filepath.Rel(c.Dir, p); err == nil {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(p)
}
