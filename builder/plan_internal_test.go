package builder

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/scdtool/scd/builder/fstree"
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

	sc := newScanner()
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
	// A directory scanned with two skips is not answered from either.
	if _, err := sc.scan(filepath.Join(root, "lib/web"), "i18n"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sc.exists(filepath.Join(root, "lib/web"), "css/source/_module.less"); ok {
		t.Error("lib/web, scanned with and without i18n: answered")
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

// walkScan is what scanDir does, written over filepath.WalkDir: the
// oracle TestScanDir holds scanDir's getdents and fstatat to.
func walkScan(dir, skip string) (layer, bool, error) {
	l, links := layer{}, false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") || rel == skip {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			st, err := os.Stat(p)
			if err != nil || !st.Mode().IsRegular() {
				links = links || d.Type()&fs.ModeSymlink != 0
				return nil
			}
			info = st
		}
		l[rel] = source{Abs: p, Size: info.Size(), st: fstree.StatOf(info)}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return l, links, nil
}

// TestScanDir: a layer's scan finds what a walk finds — regular files
// and links to them (with their target's stat), nothing hidden, nothing
// under the skipped subtree (at the top only), no link to a directory
// followed, and nothing for a root that is missing, a file or a link.
func TestScanDir(t *testing.T) {
	root := t.TempDir()
	web := filepath.Join(root, "web")
	for rel, data := range map[string]string{
		"css/styles.less": "a", "css/source/_module.less": "bb", "js/app.js": "ccc",
		".hidden.js": "x", ".git/config": "x", "js/.cache/x.js": "x",
		"i18n/fr_FR/js/app.js": "fr", "js/i18n/keep.js": "kept", "i18n": "",
		"../elsewhere/target.js": "target", "../elsewhere/dir/in.js": "in",
	} {
		if rel == "i18n" {
			continue
		}
		p := filepath.Join(web, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for target, link := range map[string]string{
		"../../elsewhere/target.js": "js/linked.js",
		"../../elsewhere/dir":       "js/linkdir",
		"missing.js":                "js/dangling.js",
	} {
		if err := os.Symlink(target, filepath.Join(web, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(web, "js", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(web, filepath.Join(root, "weblink")); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ dir, skip string }{
		{web, "i18n"}, {web, ""}, {web + "/", "i18n"}, {filepath.Join(web, "js"), "i18n"},
		{filepath.Join(root, "missing"), "i18n"}, {filepath.Join(web, "js", "app.js"), ""},
		{filepath.Join(root, "weblink"), "i18n"},
	} {
		got, gotLinks, err := scanDir(c.dir, c.skip)
		if err != nil {
			t.Fatalf("scanDir(%s, %q): %v", c.dir, c.skip, err)
		}
		want, wantLinks, err := walkScan(c.dir, c.skip)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || gotLinks != wantLinks {
			t.Errorf("scanDir(%s, %q) = %v links %v\nwant %v links %v", c.dir, c.skip, got, gotLinks, want, wantLinks)
		}
	}
	l, links, _ := scanDir(web, "i18n")
	if _, ok := l["js/linked.js"]; !ok || l["js/linked.js"].Size != int64(len("target")) || !links || len(l) != 5 {
		t.Errorf("scan of web: %v, links %v", l, links)
	}
}
