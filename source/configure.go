package source

import (
	"errors"
	"slices"
	"strings"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/matrix"
)

// Configure completes a matrix whose magento_root is m's root with what the
// project says: every theme when the file lists none; for the themes it
// lists, their area, directory and parent from the project, their
// ancestors added as parents that are not published; and the project's
// locales (those with a language pack, and en_US) when the file sets no
// locales.
func (m *Magento) Configure(c *matrix.Config) error {
	found := m.Themes()
	if c.LocalesDefault {
		c.Locales = m.Locales()
	}
	if len(c.Themes) == 0 {
		c.Themes = found
		return nil
	}
	lookup := func(name, area string) *matrix.Theme {
		for _, t := range found {
			if strings.EqualFold(t.Name, name) && (area == "" || t.Area == area) {
				return t
			}
		}
		return nil
	}
	var errs []error
	for _, t := range c.Themes {
		p := lookup(t.Name, t.Area)
		switch {
		case p == nil:
			errs = append(errs, diag.Configf(c.File, t.Line, t.Col, "theme %q is not a %s theme of the Magento project in %s", t.Name, t.Area, m.Root))
			continue
		case t.Parent != "" && !strings.EqualFold(t.Parent, p.Parent):
			errs = append(errs, diag.Configf(c.File, t.Line, t.Col, "theme %q: parent %q differs from its theme.xml's %q", t.Name, t.Parent, p.Parent))
			continue
		}
		t.Name, t.Path, t.Parent = p.Name, p.Path, p.Parent
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Ancestors the file does not list are resolved, not published.
	for i := 0; i < len(c.Themes); i++ {
		t := c.Themes[i]
		if t.Parent == "" || c.Theme(t.Parent) != nil {
			continue
		}
		p := lookup(t.Parent, t.Area)
		if p == nil {
			continue // LoadMagento reports parents that are not themes
		}
		c.Themes = append(c.Themes, p)
		c.ExcludeThemes = append(c.ExcludeThemes, p.Name)
	}
	slices.Sort(c.ExcludeThemes)
	return nil
}
