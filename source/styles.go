package source

import (
	"path/filepath"

	"github.com/scdtool/scd/matrix"
)

// Styles is implemented by layouts whose themes are styled with Magento's
// LESS: StyleDirs gives what its preprocessing (//@magento_import) needs to
// know of a job's chain. The builder compiles LESS for layouts that have
// it and publishes .less files as they are for the others.
type Styles interface {
	StyleDirs(area string, chain []*matrix.Theme) StyleDirs
}

// StyleDirs are the directories Magento's LESS collector looks in.
type StyleDirs struct {
	Lib     string   // the library's web directory, "" for none
	Modules []Module // enabled modules, in module order
	Themes  []string // the chain's theme directories, the job's theme first
}

// StyleDirs implements Styles.
func (m *Magento) StyleDirs(_ string, chain []*matrix.Theme) StyleDirs {
	d := StyleDirs{Modules: m.Modules()}
	if lib := filepath.Join(m.Root, "lib", "web"); isDir(lib) {
		d.Lib = lib
	}
	for _, t := range chain {
		d.Themes = append(d.Themes, t.Path)
	}
	return d
}

var _ Styles = (*Magento)(nil)
