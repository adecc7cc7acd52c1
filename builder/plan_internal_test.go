package builder

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/scdtool/scd/builder/less"
)

// TestScannerExistsAnswersAsStat holds the scanner's answers to
// less.Dirs.Exists to what a stat says, and Collect over them to Collect
// with its own stats: a LESS collect that missed a file, or found one
// that is not there, would compile another stylesheet than Magento's.
func TestScannerExistsAnswersAsStat(t *testing.T) {
	root := t.TempDir()
	write := func(rel string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("@x: 1;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, rel string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{
		"lib/web/css/source/_module.less",
		"lib/web/css/source/lib/_lib.less",
		"modA/view/frontend/web/css/source/_module.less",
		"modA/view/frontend/web/css/source/_widgets.less",
		"modA/view/frontend/web/i18n/fr_FR/css/source/_module.less",
		"modA/view/frontend/web/.hidden/_module.less",
		"modB/view/base/web/css/source/_module.less",
		"modB/view/frontend/web/js/app.js",
		"theme/web/css/source/_widgets.less",
		"theme/Acme_A/web/css/source/_module.less",
		"elsewhere/web/css/source/_module.less",
		"elsewhere/_email.less",
		"unscanned/web/css/source/_module.less",
	} {
		write(f)
	}
	link(filepath.Join(root, "elsewhere/_email.less"), "modB/view/frontend/web/_email.less")
	link(filepath.Join(root, "modA/view/frontend/web/css"), "modB/view/frontend/web/css")
	link(filepath.Join(root, "elsewhere/web"), "modC-web")
	if err := os.MkdirAll(filepath.Join(root, "modA/view/frontend/web/css/source/_dir.less"), 0o755); err != nil {
		t.Fatal(err)
	}

	sc := &scanner{layers: map[string]layer{}, links: map[string]bool{}}
	for _, ly := range []struct{ dir, skip string }{
		{"lib/web", ""},
		{"modA/view/frontend/web", "i18n"},
		{"modB/view/base/web", "i18n"},
		{"modB/view/frontend/web", "i18n"},
		{"theme/web", "i18n"},
		{"theme/Acme_A/web", "i18n"},
		{"modC-web", "i18n"}, // a link: scanned as nothing
	} {
		if _, err := sc.scan(filepath.Join(root, ly.dir), ly.skip); err != nil {
			t.Fatal(err)
		}
	}

	rels := []string{
		"css/source/_module.less", "css/source/_widgets.less", "css/source/lib/_lib.less",
		"css/source/_dir.less", "css/source/_none.less", "_email.less", "js/app.js",
		"i18n/fr_FR/css/source/_module.less", ".hidden/_module.less", "css/../css/source/_module.less", "../elsewhere/_email.less",
	}
	dirs := []string{"lib/web", "modA/view/frontend/web", "modB/view/base/web", "modB/view/frontend/web",
		"theme/web", "theme/Acme_A/web", "modC-web", "unscanned/web", "missing/web", "elsewhere/_email.less/web"}
	known := 0
	for _, d := range dirs {
		for _, rel := range rels {
			dir := filepath.Join(root, d)
			found, ok := sc.exists(dir, rel)
			fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
			stat := err == nil && fi.Mode().IsRegular()
			if ok {
				known++
				if found != stat {
					t.Errorf("exists(%s, %s) = %v, a stat says %v", d, rel, found, stat)
				}
			}
			// Paths the scan leaves out or cannot see are not answered;
			// a missing directory has none.
			unanswerable := d == "modC-web" || d == "unscanned/web" || d == "modB/view/frontend/web" ||
				rel[0] == '.' || rel == "css/../css/source/_module.less" ||
				rel[0] == 'i' && d != "lib/web" && d != "missing/web" && d != "elsewhere/_email.less/web"
			if ok == unanswerable {
				t.Errorf("exists(%s, %s): known = %v", d, rel, ok)
			}
		}
	}
	if known == 0 {
		t.Fatal("no answer known")
	}

	d := less.Dirs{
		Area: "frontend", Lib: filepath.Join(root, "lib/web"),
		Modules: []less.ModuleDir{
			{Name: "Acme_A", Dir: filepath.Join(root, "modA")},
			{Name: "Acme_B", Dir: filepath.Join(root, "modB")},
			{Name: "Acme_C", Dir: filepath.Join(root, "modC")},
		},
		Themes: []string{filepath.Join(root, "theme")},
	}
	withScan := d
	withScan.Exists = sc.exists
	for _, rel := range rels {
		if got, want := withScan.Collect(rel), d.Collect(rel); !reflect.DeepEqual(got, want) {
			t.Errorf("Collect(%s) over the scan = %v, over stats %v", rel, got, want)
		}
	}
}

func TestIsPartial(t *testing.T) {
	for p, want := range map[string]bool{
		"_module.less": true, "css/source/_module.less": true, "js/_lib/x.js": true, "_dir/a.js": true,
		"css/styles.less": false, "Magento_Ui/js/a_b.js": false, "my_dir/x.js": false, "x_/_": true, "": false,
	} {
		if got := isPartial(p); got != want {
			t.Errorf("isPartial(%q) = %v, want %v", p, got, want)
		}
	}
}
