// Package source knows the layouts of theme source trees. What the builder
// needs of a tree is, per job, the directories of its fallback chain in
// the order a logical path is looked up, its dictionaries in merge order
// and its requirejs-config.js inputs in merge order; a Layout answers
// those questions, and the builder never branches on which layout it asks.
//
// Two layouts exist: scd's own (a theme's web/ directory, see scd.go) and
// Magento 2's (modules, themes with <Vendor_Module>/web overrides, language
// packs; see magento.go).
package source

import (
	"path/filepath"

	"github.com/scdtool/scd/matrix"
)

// Layer is one directory of a job's fallback chain. A logical path P is
// served by the first layer, in the order Layers returns them, that holds
// a file Dir/(P without Prefix).
type Layer struct {
	Dir string // absolute; a missing directory is an empty layer
	// Prefix is prepended to the paths of the layer's files to give their
	// logical paths: "" or "Vendor_Module/".
	Prefix string
	// Skip is a subdirectory of Dir (slash-separated) that is not part of
	// the layer, typically "i18n", which holds the locale overrides.
	Skip string
	// Locale marks a locale override layer (web/i18n/<locale>/). The
	// builder resolves the other layers once per theme and these per job.
	Locale bool
}

// RequireJSFile is one requirejs-config.js input of a job.
type RequireJSFile struct {
	Path   string // absolute
	Module string // "Vendor_Module" for a module's file or a theme's override of one, else ""
}

// Layout maps jobs onto the files of a source tree. Implementations are
// safe for concurrent use once built. chain is the job's theme first,
// then its ancestors (matrix.Config.Chain).
type Layout interface {
	// Layers lists the directories of the job's fallback chain, the
	// first match winning. For a given chain, the layers without Locale
	// must not depend on locale.
	Layers(area string, chain []*matrix.Theme, locale string) []Layer
	// Dictionaries lists the CSV dictionaries of the job in merge order: a
	// row of a later file wins. Files that do not exist may be listed.
	Dictionaries(area string, chain []*matrix.Theme, locale string) []string
	// RequireJS lists the requirejs-config.js files of the job in merge
	// order, nil when the layout has none. Every file listed exists.
	RequireJS(area string, chain []*matrix.Theme) []RequireJSFile
}

// Own is scd's own layout: for each theme of the chain, child first, its
// web/i18n/<locale>/ then its web/; then each library directory.
// Dictionaries are the chain's i18n/<locale>.csv, parent first.
type Own struct {
	Libs []string // absolute library directories, in lookup order
}

// Layers implements Layout.
func (o Own) Layers(_ string, chain []*matrix.Theme, locale string) []Layer {
	ls := make([]Layer, 0, 2*len(chain)+len(o.Libs))
	for _, t := range chain {
		web := filepath.Join(t.Path, "web")
		ls = append(ls,
			Layer{Dir: filepath.Join(web, "i18n", locale), Locale: true},
			Layer{Dir: web, Skip: "i18n"})
	}
	for _, lib := range o.Libs {
		ls = append(ls, Layer{Dir: lib})
	}
	return ls
}

// Dictionaries implements Layout.
func (o Own) Dictionaries(_ string, chain []*matrix.Theme, locale string) []string {
	files := make([]string, 0, len(chain))
	for i := len(chain) - 1; i >= 0; i-- {
		files = append(files, filepath.Join(chain[i].Path, "i18n", locale+".csv"))
	}
	return files
}

// RequireJS implements Layout: scd's own layout has no RequireJS config.
func (Own) RequireJS(string, []*matrix.Theme) []RequireJSFile { return nil }

var _ Layout = Own{}
