package source

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/scdtool/scd/matrix"
)

// Tailwind is implemented by layouts whose themes may style the storefront
// with Tailwind CSS instead of LESS, as Hyvä themes do: such a theme keeps
// an npm project in web/tailwind/ whose "build" script writes
// web/css/styles.css (Hyvä's production build is `npm ci && npm run
// build` there, before Magento's deploy publishes the file). The builder
// runs that build, once per theme, publishes its stylesheet as
// css/styles.css, and compiles no LESS for the theme.
type Tailwind interface {
	// TailwindTheme tells whether the job's chain is styled with Tailwind
	// (nil: it is not) and which build gives its css/styles.css.
	TailwindTheme(area string, chain []*matrix.Theme) *TailwindTheme
}

// TailwindTheme is what the builder needs to know of a chain styled with
// Tailwind.
//
// The chain is styled with Tailwind when one of its themes has
// web/tailwind/package.json. The build that gives the job's css/styles.css
// is that of the nearest such theme, child first, as Magento's fallback
// would find the web/css/styles.css it writes: a Hyvä child theme has its
// own web/tailwind/ (its templates are what its CSS is purged against); a
// child without one gets its parent's stylesheet. A nearer theme that has
// a web/css/styles.css of its own and no web/tailwind/ keeps that file:
// Theme is then nil and no build runs for the chain.
type TailwindTheme struct {
	// Theme is the theme whose web/tailwind/ builds the stylesheet; nil
	// when a nearer theme publishes its own web/css/styles.css.
	Theme *matrix.Theme
	// Dir is Theme's web/tailwind directory (absolute).
	Dir string
	// Output is the file the build writes, Theme's web/css/styles.css.
	Output string
	// Root is the project root. Hyvä's configuration names files relative
	// to the theme (`@source "../../**/*.phtml"`) and to the root
	// (app/etc/hyva-themes.json's module paths, which @hyva-themes/
	// hyva-modules resolves from the nearest directory that has both app/
	// and vendor/), so a build run elsewhere than in place must see the
	// theme at the same place relative to Root.
	Root string
	// Inputs are the files and directories (absolute, existing) whose
	// files the build may read: Theme and its ancestors, the project's
	// app/etc/hyva-themes.json and the module directories it lists, and
	// the directories the theme's web/tailwind/hyva.config.json includes.
	// It approximates what the Tailwind configuration scans: a path that a
	// configuration names otherwise (a custom @source, a Tailwind v3
	// content glob outside these) is not among them.
	Inputs []string
}

// hyvaThemesJSON is the list of Hyvä-compatible modules that
// `bin/magento hyva:config:generate` writes, relative to the root.
const hyvaThemesJSON = "app/etc/hyva-themes.json"

// TailwindTheme implements Tailwind.
func (m *Magento) TailwindTheme(_ string, chain []*matrix.Theme) *TailwindTheme {
	ownCSS := false // a nearer theme has its own web/css/styles.css
	for i, t := range chain {
		dir := filepath.Join(t.Path, "web", "tailwind")
		if !isFile(filepath.Join(dir, "package.json")) {
			ownCSS = ownCSS || isFile(filepath.Join(t.Path, "web", "css", "styles.css"))
			continue
		}
		tw := &TailwindTheme{Root: m.Root}
		if ownCSS {
			return tw
		}
		tw.Theme, tw.Dir = t, dir
		tw.Output = filepath.Join(t.Path, "web", "css", "styles.css")
		for _, a := range chain[i:] {
			tw.Inputs = append(tw.Inputs, a.Path)
		}
		for _, p := range hyvaSources(m.Root, dir) {
			if !slices.Contains(tw.Inputs, p) {
				tw.Inputs = append(tw.Inputs, p)
			}
		}
		return tw
	}
	return nil
}

// hyvaSources lists what Hyvä's hyva-sources script adds to a theme's
// Tailwind sources: app/etc/hyva-themes.json, the "src" of each of its
// "extensions" and of the theme's hyva.config.json "tailwind.include"
// (paths relative to the root), those that exist, without duplicates.
func hyvaSources(root, twDir string) []string {
	type srcs []struct {
		Src string `json:"src"`
	}
	var out []string
	seen := map[string]bool{}
	add := func(src string) {
		if src == "" {
			return
		}
		p := src
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, filepath.FromSlash(src))
		}
		if _, err := os.Stat(p); err == nil && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(hyvaThemesJSON))); err == nil {
		add(hyvaThemesJSON)
		var cfg struct {
			Extensions srcs `json:"extensions"`
		}
		if json.Unmarshal(data, &cfg) == nil {
			for _, e := range cfg.Extensions {
				add(e.Src)
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(twDir, "hyva.config.json")); err == nil {
		var cfg struct {
			Tailwind struct {
				Include srcs `json:"include"`
			} `json:"tailwind"`
		}
		if json.Unmarshal(data, &cfg) == nil {
			for _, e := range cfg.Tailwind.Include {
				add(e.Src)
			}
		}
	}
	return out
}

var _ Tailwind = (*Magento)(nil)
