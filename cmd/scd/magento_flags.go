package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/source"
)

// The rest of Magento's setup:static-content:deploy command line, with
// Magento's meaning where scd can give it (read from Magento 2.4's
// Deploy\Console\DeployStaticOptions, InputValidator,
// Setup\Console\Command\DeployStaticContentCommand, Deploy\Service and
// Deploy\Strategy), and a clear word where scd already does what the
// option asks or cannot do it.

// Magento's deploy strategies (Deploy\Strategy\DeployStrategyFactory).
var strategies = []string{"quick", "standard", "compact"}

// addMagentoFlags declares the options; each has an SCD_* variable
// (envFlags).
func addMagentoFlags(f *pflag.FlagSet) {
	f.StringP("strategy", "s", "", "Magento's deploy strategy (quick, standard, compact): accepted; scd has one strategy (env SCD_STRATEGY)")
	f.BoolP("force", "f", false, "accepted for Magento's command line (Magento needs it outside production mode; scd has no modes)")
	f.Bool("no-parent", false, "do not build the parents of the themes built unless they are asked for themselves (a Magento project builds them, as Magento does)")
	f.Bool("no-less", false, "accepted: as in Magento since 2.2, stylesheets compiled from LESS are CSS (--no-css skips them)")
	f.Bool("no-misc", false, "Magento's skip of other files (.md, .txt, .csv, .json...): not honoured, said as a warning")
	f.StringSlice("exclude-area", nil, "do not build these areas (\"none\" for no narrowing)")
	f.Bool("refresh-content-version-only", false, "Magento's refresh of deployed_version.txt alone: refused; build with --content-version instead")
	f.Bool("symlink-locale", false, "accepted: identical files of different locales are already hard links of one file")
	f.Bool("themes-in-use", false, "build only the themes app/etc/config.php assigns to store views (with their parents) and the admin theme, in the locales the store views use")
}

// localeArgs validates the positional arguments of a build: locale codes,
// as setup:static-content:deploy's languages (Magento's InputValidator
// rejects a code that is not a locale). An argument that looks like no
// locale is reported as the unknown command it more likely is.
func localeArgs(cmd *cobra.Command, args []string) error {
	for _, a := range args {
		if a == "all" || matrix.ValidLocale(a) {
			continue
		}
		if strings.ContainsAny(a, "_-") || len(a) <= 3 {
			return fmt.Errorf("invalid locale %q (a positional argument): expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)", a)
		}
		msg := fmt.Sprintf("unknown command %q for %q", a, cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's own default
		}
		if s := cmd.SuggestionsFor(a); len(s) > 0 && !cmd.DisableSuggestions {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return errors.New(msg)
	}
	return nil
}

// magentoOptions are the options of this file, read once the flags and
// the environment are merged.
type magentoOptions struct {
	strategy      string
	noParent      bool
	noLess        bool
	noMisc        bool
	symlinkLocale bool
	themesInUse   bool
	excludeAreas  []string
}

// readMagentoOptions reads and checks the options: an unknown strategy,
// --no-parent with the compact strategy (Magento's InputValidator refuses
// it) and --refresh-content-version-only are usage errors.
func readMagentoOptions(v *viper.Viper) (*magentoOptions, error) {
	o := &magentoOptions{
		strategy:      v.GetString("strategy"),
		noParent:      v.GetBool("no-parent"),
		noLess:        v.GetBool("no-less"),
		noMisc:        v.GetBool("no-misc"),
		symlinkLocale: v.GetBool("symlink-locale"),
		themesInUse:   v.GetBool("themes-in-use"),
		excludeAreas:  v.GetStringSlice("exclude-area"),
	}
	if o.strategy != "" && !slices.Contains(strategies, o.strategy) {
		return nil, &diag.Error{Kind: diag.Config, Msg: fmt.Sprintf("--strategy must be quick, standard or compact, not %q", o.strategy)}
	}
	if o.noParent && o.strategy == "compact" {
		return nil, &diag.Error{Kind: diag.Config, Msg: `--no-parent is not supported with the "compact" strategy (as in Magento)`}
	}
	if v.GetBool("refresh-content-version-only") {
		return nil, &diag.Error{Kind: diag.Config, Msg: "--refresh-content-version-only is not supported: " +
			"deployed_version.txt belongs to the build that wrote it (build.json records it with the digest of every file, " +
			"and scd replaces its output whole, never one file in it); " +
			"build again with --content-version $(date +%s) instead: the files that did not change come from the cache"}
	}
	return o, nil
}

// apply sets the filter's fields for these options and collects what
// the build says about them: notes (info lines, not shown with --quiet or
// --json) and warnings. positional are the locales given as arguments.
func (o *magentoOptions) apply(s *settings, cfg *matrix.Config, layout any, positional []string, languageGiven bool) {
	note := func(format string, args ...any) { s.notes = append(s.notes, fmt.Sprintf(format, args...)) }
	s.filter.ExcludeAreas = o.excludeAreas
	if len(positional) > 0 {
		// Positional languages replace -l, as in Magento 2.4's command.
		if languageGiven {
			note("-l/--language %s is ignored: the languages given as arguments replace it, as in Magento", strings.Join(s.filter.Languages, ","))
		}
		s.filter.Languages = positional
	}
	// Magento deploys the parents of every theme it deploys unless
	// --no-parent (Deploy\Package\PackagePool keeps them as ancestors;
	// the quick and standard strategies deploy them). scd's own
	// matrices resolve parents without building them.
	s.filter.Parents = cfg.MagentoRoot != "" && !o.noParent

	if o.strategy != "" {
		note("--strategy %s: scd has one strategy, whatever the name: every file is built once and identical files of different themes and locales are hard links of one file", o.strategy)
	}
	if o.symlinkLocale {
		note("--symlink-locale: already so: identical files of different locales are hard links of one file")
	}
	if o.noLess {
		note("--no-less changes nothing, as in Magento since 2.2: stylesheets compiled from LESS are .css files, which --no-css skips; .less sources are never published")
	}
	if o.noMisc {
		s.warnings = append(s.warnings, errors.New("--no-misc is not honoured: files of other types (.md, .txt, .csv, .json, .htc, .swf, no extension) are published as usual"))
	}
	if o.themesInUse {
		m, _ := layout.(*source.Magento)
		o.themesInUseFilter(s, cfg, m)
	}
}

// themesInUseFilter narrows the filter to the themes and locales that
// app/etc/config.php says are in use, and says which and why.
func (o *magentoOptions) themesInUseFilter(s *settings, cfg *matrix.Config, m *source.Magento) {
	note := func(format string, args ...any) { s.notes = append(s.notes, fmt.Sprintf(format, args...)) }
	if m == nil {
		note("--themes-in-use: not a Magento project: there is no app/etc/config.php to read; every theme is built")
		return
	}
	iu := m.ThemesInUse()
	if iu.Unknown != "" {
		note("--themes-in-use: %s does not tell which themes are in use: %s; every theme is built", relativeName(iu.File), iu.Unknown)
		return
	}
	type line struct {
		t       *matrix.Theme
		locales []string
		why     []string
	}
	var lines []*line
	byKey := map[string]*line{}
	add := func(t *matrix.Theme, locales []string, why string) {
		k := matrix.InUseKey(t.Area, t.Name)
		l := byKey[k]
		if l == nil {
			l = &line{t: t}
			byKey[k] = l
			lines = append(lines, l)
		}
		for _, loc := range locales {
			if !slices.Contains(l.locales, loc) {
				l.locales = append(l.locales, loc)
			}
		}
		l.why = append(l.why, why)
	}
	var used []string
	for _, u := range iu.Themes {
		var why []string
		if len(u.Stores) > 0 {
			why = append(why, plural("store view", u.Stores))
		}
		if len(u.Default) > 0 {
			why = append(why, fmt.Sprintf("%s, by default (%s)", plural("store view", u.Default), defaultFrom(u.DefaultFrom)))
		}
		if u.Admin {
			why = append(why, fmt.Sprintf("the admin theme (%s)", defaultFrom(u.DefaultFrom)))
		}
		add(u.Theme, u.Locales, strings.Join(why, "; "))
		for _, l := range u.Locales {
			if !slices.Contains(used, l) {
				used = append(used, l)
			}
		}
	}
	if s.filter.Parents {
		for _, u := range iu.Themes {
			t := cfg.Theme(u.Theme.Name)
			if t == nil || t.Area != u.Theme.Area {
				continue
			}
			for _, p := range cfg.Chain(t)[1:] {
				if !cfg.Excluded(p) {
					add(p, u.Locales, fmt.Sprintf("parent of %s/%s", u.Theme.Area, u.Theme.Name))
				}
			}
		}
	}
	s.filter.InUse = map[string][]string{}
	for _, u := range iu.Themes {
		s.filter.InUse[matrix.InUseKey(u.Theme.Area, u.Theme.Name)] = u.Locales
	}
	// A store view's locale is built even without a language pack, as
	// Magento deploys the locales it is given.
	if cfg.LocalesDefault {
		for _, l := range used {
			if !slices.Contains(cfg.Locales, l) {
				cfg.Locales = append(cfg.Locales, l)
			}
		}
		slices.Sort(cfg.Locales)
	}
	slices.SortFunc(lines, func(a, b *line) int {
		return strings.Compare(a.t.Area+"/"+a.t.Name, b.t.Area+"/"+b.t.Name)
	})
	for _, l := range lines {
		slices.Sort(l.locales)
		note("--themes-in-use: %s/%s (%s): %s", l.t.Area, l.t.Name, strings.Join(l.locales, ", "), strings.Join(l.why, "; "))
	}
	for _, n := range iu.Notes {
		note("--themes-in-use: %s", n)
	}
}

func plural(what string, names []string) string {
	if len(names) == 1 {
		return what + " " + names[0]
	}
	return what + "s " + strings.Join(names, ", ")
}

func defaultFrom(file string) string {
	if file == "" {
		return "Magento's default"
	}
	return "set in " + relativeName(file)
}

// relativeName names file relative to the working directory when it lies
// inside it, as the build's messages do.
func relativeName(file string) string {
	e := &diag.Error{File: file}
	relativeFiles(e)
	return e.File
}
