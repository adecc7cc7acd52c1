package matrix

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/scdtool/scd/diag"
)

// Filter narrows the matrix for one run. Every field but Parents narrows:
// nothing in a filter adds a locale that the matrix does not build, and
// only Parents adds back the parents of the themes left. Names that match
// nothing are errors rather than empty results, so a misspelt flag fails
// loudly instead of deploying less than intended.
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
	// ExcludeAreas is --exclude-area: areas not to build; "none" means no
	// narrowing. An area no theme has is an error.
	ExcludeAreas []string
	// Matrix is SCD_MATRIX: per theme, skip it or narrow its locales.
	Matrix ECE
	// InUse, when not nil, is --themes-in-use: the themes to build, keyed
	// "area/Vendor/name" (case-insensitive), each with the locales it is
	// built for (nil: its own). A theme it does not name is not built; a
	// key that is no theme of the matrix is ignored (the keys come from
	// the project, not from the user).
	InUse map[string][]string
	// Parents adds, for every job left after the narrowing above, the
	// jobs of its theme's ancestors in the same locale, as Magento's
	// deploy does unless --no-parent: a parent is built even when
	// --exclude-theme, SCD_MATRIX or InUse leave it out, because a theme
	// that is built needs it. Themes in the matrix's exclude_themes stay
	// unbuilt. It is the only field that adds jobs.
	Parents bool
}

// InUseKey is the key of a theme in Filter.InUse.
func InUseKey(area, name string) string { return strings.ToLower(area + "/" + name) }

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

	areaSet := func(flag string, names []string, noop string) map[string]bool {
		if len(names) == 0 || slices.Contains(names, noop) {
			return nil
		}
		set := map[string]bool{}
		for _, a := range names {
			if !slices.ContainsFunc(c.Themes, func(t *Theme) bool { return t.Area == a }) {
				flagErr("%s: no theme in area %q", flag, a)
				continue
			}
			set[a] = true
		}
		return set
	}
	areas := areaSet("--area", f.Areas, "all")
	skipAreas := areaSet("--exclude-area", f.ExcludeAreas, "none")

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
			skipAreas[t.Area],
			inECE && et.Skip:
			continue
		}
		inUse, used := f.InUse[InUseKey(t.Area, t.Name)]
		if f.InUse != nil && !used {
			continue
		}
		chain := c.Chain(t)
		entries := c.EffectiveEntries(t)
		for _, l := range c.EffectiveLocales(t) {
			if onlyLang != nil && !onlyLang[l] || skipLang[l] ||
				inECE && !slices.Contains(et.Languages, l) ||
				inUse != nil && !slices.Contains(inUse, l) {
				continue
			}
			jobs = append(jobs, Job{Area: t.Area, Theme: t.Name, Locale: l, Chain: chain, Entries: entries})
		}
	}
	if len(jobs) == 0 {
		return nil, diag.Configf("", 0, 0, "no jobs left after filtering")
	}
	if f.Parents {
		jobs = c.withParents(jobs)
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

// withParents appends to jobs the jobs of their themes' ancestors in the
// same locales, once each, leaving out themes in exclude_themes.
func (c *Config) withParents(jobs []Job) []Job {
	have := map[string]bool{}
	for _, j := range jobs {
		have[j.ID()] = true
	}
	for i := range jobs {
		j := jobs[i]
		if len(j.Chain) < 2 {
			continue
		}
		for _, p := range j.Chain[1:] {
			if c.Excluded(p) {
				continue
			}
			pj := Job{Area: p.Area, Theme: p.Name, Locale: j.Locale, Chain: c.Chain(p), Entries: c.EffectiveEntries(p)}
			if !have[pj.ID()] {
				have[pj.ID()] = true
				jobs = append(jobs, pj)
			}
		}
	}
	return jobs
}
