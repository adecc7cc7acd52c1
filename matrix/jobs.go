package matrix

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/scdtool/scd/diag"
)

// Filter narrows the matrix for one run. Every field narrows: nothing in a
// filter adds a theme or a locale that the matrix does not build. Names
// that match nothing are errors rather than empty results, so a misspelt
// flag fails loudly instead of deploying less than intended.
type Filter struct {
	// Themes and ExcludeThemes are --theme and --exclude-theme: theme
	// names, case-insensitive. As in Magento, "all" in Themes and "none"
	// in ExcludeThemes mean no narrowing.
	Themes, ExcludeThemes []string
	// Languages and ExcludeLanguages are --language and --exclude-language:
	// exact locale codes. "all" in Languages and "none" in ExcludeLanguages
	// mean no narrowing.
	Languages, ExcludeLanguages []string
	// Areas is --area; "all" means every area. An area no theme has is an
	// error.
	Areas []string
	// Matrix is SCD_MATRIX: per theme, skip it or narrow its locales.
	Matrix ECE
}

// Job is one (area, theme, locale) build.
type Job struct {
	Area, Theme, Locale string
	Chain               []*Theme // the theme first, then its parents
	Entries             []string // effective entry globs
}

// ID names the job in messages and build.json: "area/Vendor/name/locale".
func (j Job) ID() string { return j.Area + "/" + j.Theme + "/" + j.Locale }

// Dir is the job's output directory relative to the output root,
// slash-separated. It is the ID, so that a job's messages point at its
// output.
func (j Job) Dir() string { return j.ID() }

// Jobs expands the matrix into the jobs of one run, sorted by area, theme
// name and locale so that the build, its logs and build.json do not depend
// on file order. Themes in exclude_themes are not built (they still serve as
// parents). Filter errors are *diag.Error of Kind Config, all of them
// joined; an empty result is the error "no jobs left after filtering".
func (c *Config) Jobs(f Filter) ([]Job, error) {
	var errs []error
	flagErr := func(format string, args ...any) {
		errs = append(errs, diag.Configf("", 0, 0, format, args...))
	}

	pick := func(flag string, names []string, noop string) map[*Theme]bool {
		if len(names) == 0 || slices.Contains(names, noop) {
			return nil
		}
		set := map[*Theme]bool{}
		for _, n := range names {
			if t := c.Theme(n); t != nil {
				set[t] = true
			} else {
				flagErr("%s: unknown theme %q", flag, n)
			}
		}
		return set
	}
	only := pick("--theme", f.Themes, "all")
	skip := pick("--exclude-theme", f.ExcludeThemes, "none")

	locales := func(flag string, codes []string, noop string) map[string]bool {
		if len(codes) == 0 || slices.Contains(codes, noop) {
			return nil
		}
		set := map[string]bool{}
		for _, l := range codes {
			if !localeRe.MatchString(l) {
				flagErr("%s: invalid locale %s: expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)", flag, quote(l))
				continue
			}
			set[l] = true
		}
		return set
	}
	onlyLang := locales("--language", f.Languages, "all")
	skipLang := locales("--exclude-language", f.ExcludeLanguages, "none")

	var areas map[string]bool
	if len(f.Areas) > 0 && !slices.Contains(f.Areas, "all") {
		areas = map[string]bool{}
		for _, a := range f.Areas {
			if !slices.ContainsFunc(c.Themes, func(t *Theme) bool { return t.Area == a }) {
				flagErr("--area: no theme in area %q", a)
				continue
			}
			areas[a] = true
		}
	}

	// SCD_MATRIX, by theme. Keys are sorted so that errors come out in a
	// stable order.
	ece := map[*Theme]ECETheme{}
	for _, k := range slices.Sorted(maps.Keys(f.Matrix)) {
		et := f.Matrix[k]
		t := c.Theme(k)
		if t == nil {
			errs = append(errs, diag.Configf(ECEFile, et.line, et.col, "unknown theme %q", k))
			continue
		}
		ece[t] = et
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	var jobs []Job
	for _, t := range c.Themes {
		et, inECE := ece[t]
		switch {
		case c.Excluded(t),
			only != nil && !only[t],
			skip[t],
			areas != nil && !areas[t.Area],
			inECE && et.Skip:
			continue
		}
		chain := c.Chain(t)
		entries := c.EffectiveEntries(t)
		for _, l := range c.EffectiveLocales(t) {
			if onlyLang != nil && !onlyLang[l] || skipLang[l] ||
				inECE && !slices.Contains(et.Languages, l) {
				continue
			}
			jobs = append(jobs, Job{Area: t.Area, Theme: t.Name, Locale: l, Chain: chain, Entries: entries})
		}
	}
	if len(jobs) == 0 {
		return nil, diag.Configf("", 0, 0, "no jobs left after filtering")
	}
	slices.SortFunc(jobs, func(a, b Job) int {
		return cmp.Or(
			strings.Compare(a.Area, b.Area),
			strings.Compare(a.Theme, b.Theme),
			strings.Compare(a.Locale, b.Locale),
		)
	})
	return jobs, nil
}
