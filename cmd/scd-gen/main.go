// Command scd-gen writes a synthetic multi-theme, multi-locale front end for
// testing and benchmarking scd:
//
//	scd-gen -out /tmp/matrix -themes 3 -locales 4 -files 200
//	scd --matrix /tmp/matrix/themes.yml
//
// The same flags always write the same tree. See package
// github.com/scdtool/scd/fixtures/gen for what each flag means.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/scdtool/scd/fixtures/gen"
)

func main() {
	s := gen.DefaultSpec
	out := flag.String("out", "", "directory to write into; must be empty or absent (required)")
	flag.IntVar(&s.Themes, "themes", s.Themes, "number of themes; every 4th is a root, the next three its children")
	flag.IntVar(&s.Locales, "locales", s.Locales, "locales per theme (en_US fr_FR de_DE es_ES it_IT nl_NL pt_BR ja_JP zh_Hans_CN ar_SA …)")
	flag.IntVar(&s.Files, "files", s.Files, "source files per theme's web/ folder (a child's include its overrides)")
	flag.IntVar(&s.Entries, "entries", s.Entries, "JS entries per theme (plus half as many CSS entries)")
	flag.IntVar(&s.AvgSize, "avg-size", s.AvgSize, "average source file size in bytes")
	flag.Float64Var(&s.TranslatableShare, "translatable", s.TranslatableShare, "share of web/ bytes in JS files with $t('…') calls")
	flag.Float64Var(&s.TranslatedTemplates, "translated-templates", s.TranslatedTemplates, "share of HTML templates using {{t \"…\"}}")
	flag.IntVar(&s.Phrases, "phrases", s.Phrases, "distinct phrases per theme")
	flag.IntVar(&s.Overrides, "overrides", s.Overrides, "files each child theme overrides from its parent")
	flag.IntVar(&s.LocaleOverrides, "locale-overrides", s.LocaleOverrides, "files per theme overridden under web/i18n/<locale>/")
	flag.Int64Var(&s.Seed, "seed", s.Seed, "seed: another value gives another tree of the same shape")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: scd-gen -out DIR [flags]\n\nWrites themes.yml, app/design, lib/web and i18n dictionaries into DIR.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := gen.Generate(*out, s); err != nil {
		fmt.Fprintf(os.Stderr, "scd-gen: %v\n", err)
		os.Exit(1)
	}
	size, err := gen.Measure(*out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scd-gen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s)\n%d jobs (%d themes × %d locales)\n%s", *out, s, s.Themes*s.Locales, s.Themes, s.Locales, size)
}
