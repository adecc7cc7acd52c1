package matrix

import (
	"reflect"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
)

// jobsConfig is the matrix of DESIGN.md's example plus a second vendor, so
// that sorting and case-insensitive matching have something to do.
func jobsConfig(t *testing.T) *Config {
	t.Helper()
	dir := tree(t,
		"frontend/Acme/base", "frontend/Acme/shop", "frontend/Zeta/outlet",
		"adminhtml/Acme/backend",
	)
	return mustParse(t, dir, yml(
		"locales: [en_US, nl_NL]",
		"themes:",
		"  - name: Zeta/outlet",
		"    parent: Acme/shop",
		"  - name: Acme/shop",
		"    parent: Acme/base",
		"    locales: [fr_FR, en_US, de_DE, ar_SA]",
		"    entries: [js/shop.js]",
		"  - name: Acme/base",
		"    locales: [en_US, fr_FR]",
		"  - name: Acme/backend",
		"    area: adminhtml",
		"    locales: [en_US]",
		"exclude_themes: [Acme/base]",
	))
}

func ids(jobs []Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID()
	}
	return out
}

func TestJobs(t *testing.T) {
	all := []string{
		"adminhtml/Acme/backend/en_US",
		"frontend/Acme/shop/ar_SA",
		"frontend/Acme/shop/de_DE",
		"frontend/Acme/shop/en_US",
		"frontend/Acme/shop/fr_FR",
		"frontend/Zeta/outlet/en_US",
		"frontend/Zeta/outlet/nl_NL",
	}
	mustECE := func(s string) ECE {
		e, err := ParseECE([]byte(s))
		if err != nil {
			t.Fatalf("ParseECE(%s): %v", s, err)
		}
		return e
	}
	tests := []struct {
		name    string
		filter  Filter
		want    []string
		wantErr string
	}{
		{name: "no filter builds all but excluded themes", want: all},
		{name: "all and none are no-ops", filter: Filter{
			Themes: []string{"all"}, ExcludeThemes: []string{"none"},
			Languages: []string{"all"}, ExcludeLanguages: []string{"none"}, Areas: []string{"all"},
		}, want: all},
		{
			name:   "theme, case-insensitive",
			filter: Filter{Themes: []string{"acme/SHOP", "Acme/backend"}},
			want: []string{
				"adminhtml/Acme/backend/en_US",
				"frontend/Acme/shop/ar_SA", "frontend/Acme/shop/de_DE",
				"frontend/Acme/shop/en_US", "frontend/Acme/shop/fr_FR",
			},
		},
		{
			name:   "exclude theme",
			filter: Filter{ExcludeThemes: []string{"ACME/shop", "zeta/outlet"}},
			want:   []string{"adminhtml/Acme/backend/en_US"},
		},
		{
			name:   "language",
			filter: Filter{Languages: []string{"en_US", "nl_NL"}},
			want: []string{
				"adminhtml/Acme/backend/en_US", "frontend/Acme/shop/en_US",
				"frontend/Zeta/outlet/en_US", "frontend/Zeta/outlet/nl_NL",
			},
		},
		{
			name:   "exclude language",
			filter: Filter{ExcludeLanguages: []string{"en_US", "ar_SA"}},
			want:   []string{"frontend/Acme/shop/de_DE", "frontend/Acme/shop/fr_FR", "frontend/Zeta/outlet/nl_NL"},
		},
		{
			name:   "area",
			filter: Filter{Areas: []string{"adminhtml"}},
			want:   []string{"adminhtml/Acme/backend/en_US"},
		},
		{
			name:   "SCD_MATRIX narrows locales and skips themes, case-insensitively",
			filter: Filter{Matrix: mustECE(`{"acme/SHOP": {"language": ["fr_FR", "de_DE", "ja_JP"]}, "ACME/backend": []}`)},
			want: []string{
				"frontend/Acme/shop/de_DE", "frontend/Acme/shop/fr_FR",
				"frontend/Zeta/outlet/en_US", "frontend/Zeta/outlet/nl_NL",
			},
		},
		{
			name:    "SCD_MATRIX null, {} and empty language skip",
			filter:  Filter{Matrix: mustECE("Acme/shop:\nZeta/outlet: {}\nAcme/backend: {language: []}\n")},
			wantErr: "no jobs left after filtering",
		},
		{
			name:   "SCD_MATRIX may name an excluded theme",
			filter: Filter{Matrix: mustECE(`{"Acme/base": []}`)},
			want:   all,
		},
		{
			name:   "filters combine",
			filter: Filter{Themes: []string{"Acme/shop", "Zeta/outlet"}, ExcludeLanguages: []string{"de_DE"}, Languages: []string{"en_US", "de_DE", "ar_SA"}, Areas: []string{"frontend"}},
			want:   []string{"frontend/Acme/shop/ar_SA", "frontend/Acme/shop/en_US", "frontend/Zeta/outlet/en_US"},
		},
		{
			name:    "an excluded theme is not built even when asked for",
			filter:  Filter{Themes: []string{"Acme/base"}},
			wantErr: "no jobs left after filtering",
		},
		{
			name:    "no jobs left",
			filter:  Filter{Languages: []string{"ja_JP"}},
			wantErr: "no jobs left after filtering",
		},
		{
			name:   "unknown names are errors, all reported",
			filter: Filter{Themes: []string{"Acme/shp"}, ExcludeThemes: []string{"Nope/x"}, Languages: []string{"en-US"}, ExcludeLanguages: []string{"fr"}, Areas: []string{"fronted"}, Matrix: mustECE("Acme/shop: []\nAcme/typo: []\n")},
			wantErr: strings.Join([]string{
				`--theme: unknown theme "Acme/shp"`,
				`--exclude-theme: unknown theme "Nope/x"`,
				`--language: invalid locale "en-US": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`--exclude-language: invalid locale "fr": expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)`,
				`--area: no theme in area "fronted"`,
				`SCD_MATRIX:2:1: unknown theme "Acme/typo"`,
			}, "\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := jobsConfig(t)
			jobs, err := c.Jobs(tt.filter)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n%v\nwant:\n%s", err, tt.wantErr)
				}
				if jobs != nil {
					t.Errorf("jobs with an error: %v", ids(jobs))
				}
				checkDiagAny(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(jobs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("jobs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// checkDiagAny checks that every part of err is a configuration
// *diag.Error from a flag (no file) or from SCD_MATRIX.
func checkDiagAny(t *testing.T, err error) {
	t.Helper()
	for _, e := range diag.Flatten(err) {
		de, ok := e.(*diag.Error)
		if !ok || de.Kind != diag.Config || (de.File != "" && de.File != ECEFile) {
			t.Errorf("%v: %#v is not a configuration *diag.Error", e, e)
		}
	}
}

func TestJobFields(t *testing.T) {
	c := jobsConfig(t)
	jobs, err := c.Jobs(Filter{Themes: []string{"Zeta/outlet", "Acme/shop"}, Languages: []string{"en_US"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("jobs %v", ids(jobs))
	}
	shop, outlet := jobs[0], jobs[1]
	if shop.Dir() != "frontend/Acme/shop/en_US" || shop.Area != "frontend" || shop.Theme != "Acme/shop" || shop.Locale != "en_US" {
		t.Errorf("shop job %+v", shop)
	}
	chain := func(j Job) string {
		var s []string
		for _, t := range j.Chain {
			s = append(s, t.Name)
		}
		return strings.Join(s, " ")
	}
	if got := chain(shop); got != "Acme/shop Acme/base" {
		t.Errorf("shop chain %s", got)
	}
	if got := chain(outlet); got != "Zeta/outlet Acme/shop Acme/base" {
		t.Errorf("outlet chain %s", got)
	}
	if !reflect.DeepEqual(shop.Entries, []string{"js/shop.js"}) {
		t.Errorf("shop entries %v", shop.Entries)
	}
	// Entries are not inherited from the parent: nil means the file's.
	if !reflect.DeepEqual(outlet.Entries, []string{"js/*.js", "css/*.css"}) {
		t.Errorf("outlet entries %v", outlet.Entries)
	}
}

func TestJobsDeterministic(t *testing.T) {
	// The same themes in another file order give the same list.
	dir := tree(t, "frontend/A/a", "frontend/B/b", "frontend/C/c", "b_area/A/x")
	orders := [][]string{
		{"  - {name: C/c, locales: [fr_FR, de_DE]}", "  - {name: A/a}", "  - {name: A/x, area: b_area}", "  - {name: B/b, locales: [nl_NL, ar_SA, en_US]}"},
		{"  - {name: B/b, locales: [en_US, ar_SA, nl_NL]}", "  - {name: A/x, area: b_area}", "  - {name: A/a}", "  - {name: C/c, locales: [de_DE, fr_FR]}"},
	}
	want := []string{
		"b_area/A/x/en_US",
		"frontend/A/a/en_US",
		"frontend/B/b/ar_SA", "frontend/B/b/en_US", "frontend/B/b/nl_NL",
		"frontend/C/c/de_DE", "frontend/C/c/fr_FR",
	}
	for i, themes := range orders {
		c := mustParse(t, dir, yml(append([]string{"themes:"}, themes...)...))
		for n := 0; n < 3; n++ {
			jobs, err := c.Jobs(Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(jobs); !reflect.DeepEqual(got, want) {
				t.Errorf("order %d run %d:\n%s", i, n, strings.Join(got, "\n"))
			}
		}
	}
}

// TestJobsMagentoOptions covers the fields Magento's remaining options
// set: --exclude-area, --themes-in-use and the parents that Magento
// builds unless --no-parent.
func TestJobsMagentoOptions(t *testing.T) {
	dir := tree(t, "frontend/Acme/base", "frontend/Acme/shop", "frontend/Zeta/outlet", "adminhtml/Acme/backend")
	project := yml(
		"locales: [en_US, de_DE]",
		"themes:",
		"  - {name: Acme/base}",
		"  - {name: Acme/shop, parent: Acme/base}",
		"  - {name: Zeta/outlet, parent: Acme/shop}",
		"  - {name: Acme/backend, area: adminhtml}",
	)
	tests := []struct {
		name    string
		src     string
		filter  Filter
		want    []string
		wantErr string
	}{
		{
			name:   "exclude area",
			filter: Filter{ExcludeAreas: []string{"frontend"}},
			want:   []string{"adminhtml/Acme/backend/de_DE", "adminhtml/Acme/backend/en_US"},
		},
		{
			name:   "exclude area none is a no-op, and combines with --area",
			filter: Filter{ExcludeAreas: []string{"none"}, Areas: []string{"adminhtml"}},
			want:   []string{"adminhtml/Acme/backend/de_DE", "adminhtml/Acme/backend/en_US"},
		},
		{
			name:    "exclude area unknown",
			filter:  Filter{ExcludeAreas: []string{"fronted"}},
			wantErr: `--exclude-area: no theme in area "fronted"`,
		},
		{
			name:   "without Parents a theme is built alone",
			filter: Filter{Themes: []string{"Zeta/outlet"}, Languages: []string{"de_DE"}},
			want:   []string{"frontend/Zeta/outlet/de_DE"},
		},
		{
			name:   "Parents adds every ancestor in the same locales",
			filter: Filter{Themes: []string{"zeta/OUTLET"}, Languages: []string{"de_DE"}, Parents: true},
			want:   []string{"frontend/Acme/base/de_DE", "frontend/Acme/shop/de_DE", "frontend/Zeta/outlet/de_DE"},
		},
		{
			name:   "Parents builds an excluded parent, as Magento does",
			filter: Filter{ExcludeThemes: []string{"Acme/base"}, Areas: []string{"frontend"}, Languages: []string{"en_US"}, Parents: true},
			want:   []string{"frontend/Acme/base/en_US", "frontend/Acme/shop/en_US", "frontend/Zeta/outlet/en_US"},
		},
		{
			name:   "Parents leaves exclude_themes out",
			src:    project + "exclude_themes: [Acme/base]\n",
			filter: Filter{Themes: []string{"Zeta/outlet"}, Languages: []string{"en_US"}, Parents: true},
			want:   []string{"frontend/Acme/shop/en_US", "frontend/Zeta/outlet/en_US"},
		},
		{
			name: "themes in use, each in its locales; unknown keys ignored",
			filter: Filter{InUse: map[string][]string{
				InUseKey("frontend", "Acme/Shop"):     {"de_DE"},
				InUseKey("adminhtml", "Acme/backend"): nil,
				InUseKey("frontend", "Nope/gone"):     {"en_US"},
			}},
			want: []string{"adminhtml/Acme/backend/de_DE", "adminhtml/Acme/backend/en_US", "frontend/Acme/shop/de_DE"},
		},
		{
			name: "themes in use with their parents, narrowed by the other filters",
			filter: Filter{InUse: map[string][]string{
				InUseKey("frontend", "Zeta/outlet"): {"de_DE", "en_US"},
				InUseKey("frontend", "Acme/base"):   {"en_US"},
			}, ExcludeLanguages: []string{"en_US"}, Parents: true},
			want: []string{"frontend/Acme/base/de_DE", "frontend/Acme/shop/de_DE", "frontend/Zeta/outlet/de_DE"},
		},
		{
			name:    "themes in use in the wrong area",
			filter:  Filter{InUse: map[string][]string{InUseKey("adminhtml", "Acme/shop"): nil}},
			wantErr: "no jobs left after filtering",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" {
				src = project
			}
			jobs, err := mustParse(t, dir, src).Jobs(tt.filter)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n%v\nwant:\n%s", err, tt.wantErr)
				}
				checkDiagAny(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(jobs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("jobs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, j := range jobs {
				if j.Chain[0].Name != j.Theme || j.Chain[0].Area != j.Area {
					t.Errorf("%s: chain starts at %s", j.ID(), j.Chain[0].Name)
				}
			}
		})
	}
}
