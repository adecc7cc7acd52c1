package source

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestTailwindThemeFixture: fixtures/hyva's Acme/hyva builds its own
// stylesheet, from inputs that are the theme, app/etc/hyva-themes.json and
// the two modules it lists; Acme/luma is not styled with Tailwind.
func TestTailwindThemeFixture(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "fixtures", "hyva"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	if tw := m.TailwindTheme("frontend", m.Chain("frontend", "Acme/luma")); tw != nil {
		t.Errorf("Acme/luma: %+v, want nil", tw)
	}
	tw := m.TailwindTheme("frontend", m.Chain("frontend", "Acme/hyva"))
	if tw == nil || tw.Theme == nil {
		t.Fatalf("Acme/hyva: %+v, want its own build", tw)
	}
	theme := filepath.Join(root, "app/design/frontend/Acme/hyva")
	want := TailwindTheme{
		Theme:  tw.Theme,
		Dir:    filepath.Join(theme, "web", "tailwind"),
		Output: filepath.Join(theme, "web", "css", "styles.css"),
		Root:   root,
		Inputs: []string{theme, filepath.Join(root, "app/etc/hyva-themes.json"),
			filepath.Join(root, "app/code/Acme/Hello"), filepath.Join(root, "vendor/acme/module-cards")},
	}
	if tw.Theme.Name != "Acme/hyva" || !reflect.DeepEqual(*tw, want) {
		t.Errorf("Acme/hyva:\n got %+v\nwant %+v", *tw, want)
	}
}

// TestTailwindThemeChain: which theme of a chain builds the stylesheet.
func TestTailwindThemeChain(t *testing.T) {
	root := t.TempDir()
	theme := func(name, parent string, files ...string) {
		dir := "app/design/frontend/" + name + "/"
		xml := "<theme><title>" + name + "</title>"
		if parent != "" {
			xml += "<parent>" + parent + "</parent>"
		}
		writeFile(t, root, dir+"theme.xml", xml+"</theme>")
		for _, f := range files {
			writeFile(t, root, dir+f, "x")
		}
	}
	writeFile(t, root, "app/etc/config.php", "<?php return ['modules' => []];")
	theme("Hyva/default", "", "web/tailwind/package.json", "web/css/styles.css")
	theme("Acme/plain", "Hyva/default", "Magento_Theme/templates/x.phtml")
	theme("Acme/own", "Hyva/default", "web/css/styles.css")
	theme("Acme/child", "Hyva/default", "web/tailwind/package.json")
	theme("Acme/grandchild", "Acme/own")
	theme("Magento/blank", "", "web/css/styles-m.less")
	writeFile(t, root, "app/design/frontend/Acme/child/web/tailwind/hyva.config.json",
		`{"tailwind": {"include": [{"src": "app/design/frontend/Hyva/default"}, {"src": "vendor/none"}]}}`)
	m, err := LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := func(name string) string { return filepath.Join(root, "app/design/frontend", name) }
	for _, tc := range []struct {
		theme  string
		hyva   bool
		builds string   // the theme whose build gives the stylesheet
		inputs []string // nil: not checked
	}{
		{theme: "Magento/blank"},
		{theme: "Hyva/default", hyva: true, builds: "Hyva/default", inputs: []string{dir("Hyva/default")}},
		// Magento's fallback finds the parent's web/css/styles.css.
		{theme: "Acme/plain", hyva: true, builds: "Hyva/default", inputs: []string{dir("Hyva/default")}},
		// Its own web/css/styles.css comes first: published as it is.
		{theme: "Acme/own", hyva: true},
		{theme: "Acme/grandchild", hyva: true},
		// Its own web/tailwind: its build, which may read its ancestors
		// (hyva.config.json includes the parent; a missing path is left out).
		{theme: "Acme/child", hyva: true, builds: "Acme/child", inputs: []string{dir("Acme/child"), dir("Hyva/default")}},
	} {
		t.Run(tc.theme, func(t *testing.T) {
			tw := m.TailwindTheme("frontend", m.Chain("frontend", tc.theme))
			if (tw != nil) != tc.hyva {
				t.Fatalf("styled with Tailwind: %v, want %v", tw != nil, tc.hyva)
			}
			if tw == nil {
				return
			}
			got := ""
			if tw.Theme != nil {
				got = tw.Theme.Name
			}
			if got != tc.builds {
				t.Fatalf("built by %q, want %q", got, tc.builds)
			}
			if tw.Theme == nil {
				return
			}
			if tw.Dir != filepath.Join(dir(tc.builds), "web", "tailwind") || tw.Root != root {
				t.Errorf("dir %s, root %s", tw.Dir, tw.Root)
			}
			if !reflect.DeepEqual(tw.Inputs, tc.inputs) {
				t.Errorf("inputs:\n got %q\nwant %q", tw.Inputs, tc.inputs)
			}
		})
	}
}
