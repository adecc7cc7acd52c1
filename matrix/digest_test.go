package matrix

import (
	"encoding/hex"
	"path/filepath"
	"testing"
)

var digestDirs = []string{"design/frontend/Acme/base", "design/frontend/Acme/shop", "design/frontend/Acme/Shop", "frontend/Acme/base", "frontend/Acme/shop", "design/other", "lib/web", "lib/more"}

// digestBase is a matrix that sets everything, so that each case below
// changes one thing.
var digestBase = []string{
	"source: design",
	"output: pub/static",
	"threads: 2",
	"libs: [lib/web]",
	"entries: [js/*.js]",
	"locales: [en_US]",
	"compression: [gzip, br]",
	"compression_levels: {gzip: 6, br: 5, zstd: 3}",
	"compression_min_size: 100",
	"i18n_strategy: embedded",
	"asset_base: /static/",
	"themes:",
	"  - name: Acme/base",
	"  - name: Acme/shop",
	"    parent: Acme/base",
	"    locales: [en_US, fr_FR]",
	"exclude_themes: [Acme/base]",
}

// withLine returns digestBase with line i (0-based) replaced.
func withLine(i int, line string) string {
	lines := append([]string{}, digestBase...)
	lines[i] = line
	return yml(lines...)
}

func TestDigestStable(t *testing.T) {
	dir := tree(t, digestDirs...)
	base := mustParse(t, dir, yml(digestBase...)).Digest()
	if b, err := hex.DecodeString(base); err != nil || len(b) != 32 {
		t.Fatalf("digest %q is not hex sha256", base)
	}
	same := map[string]string{
		"parsed again":                 yml(digestBase...),
		"levels reordered":             withLine(7, "compression_levels: {zstd: 3, br: 5, gzip: 6}"),
		"defaults spelt out":           withLine(7, "compression_levels: {br: 5}"),
		"comments and layout":          "# matrix\n" + withLine(5, "locales:   [ en_US ]   # default"),
		"threads change nothing built": withLine(2, "threads: 16"),
		"flow style theme": yml(append(append(append([]string{}, digestBase[:12]...),
			"  - {name: Acme/base}", "  - {name: Acme/shop, parent: acme/base, locales: [en_US, fr_FR]}"),
			digestBase[16:]...)...),
	}
	for name, src := range same {
		t.Run("same/"+name, func(t *testing.T) {
			for i := 0; i < 5; i++ {
				if got := mustParse(t, dir, src).Digest(); got != base {
					t.Fatalf("digest changed: %s != %s", got, base)
				}
			}
		})
	}

	// The same project in another directory: build.json must not change.
	t.Run("same/moved checkout", func(t *testing.T) {
		other := tree(t, digestDirs...)
		if got := mustParse(t, other, yml(digestBase...)).Digest(); got != base {
			t.Errorf("digest depends on the checkout's location")
		}
	})

	differ := map[string]string{
		"source":         withLine(0, "source: ."),
		"output":         withLine(1, "output: out"),
		"libs":           withLine(3, "libs: [lib/web, lib/more]"),
		"entries":        withLine(4, "entries: [js/*.js, css/*.css]"),
		"locales":        withLine(5, "locales: [en_GB]"),
		"compression":    withLine(6, "compression: [gzip]"),
		"no compression": withLine(6, "compression: []"),
		"level":          withLine(7, "compression_levels: {gzip: 7, br: 5, zstd: 3}"),
		"min size":       withLine(8, "compression_min_size: 101"),
		"i18n":           withLine(9, "i18n_strategy: dictionary"),
		"asset base":     withLine(10, "asset_base: /static"),
		"theme name":     withLine(13, "  - name: Acme/Shop"),
		"parent":         withLine(14, "    area: frontend"),
		"theme locales":  withLine(15, "    locales: [fr_FR, en_US]"),
		"theme entries":  withLine(15, "    entries: []"),
		"theme path":     withLine(14, "    path: other"),
		"exclude":        withLine(16, "exclude_themes: []"),
	}
	seen := map[string]string{base: "base"}
	for name, src := range differ {
		t.Run("differ/"+name, func(t *testing.T) {
			got := mustParse(t, dir, src).Digest()
			if prev, dup := seen[got]; dup {
				t.Errorf("same digest as %s", prev)
			}
			seen[got] = name
		})
	}
}

func TestDigestNilVersusEmpty(t *testing.T) {
	dir := tree(t, digestDirs...)
	c := mustParse(t, dir, yml(digestBase...))
	a := c.Digest()
	c.Themes[0].Entries = []string{}
	if b := c.Digest(); a == b {
		t.Error("nil and empty entries digest alike")
	}
	c.Themes[0].Entries = nil
	c.Themes[0].Path = filepath.Join(dir, "design", "other")
	if b := c.Digest(); a == b {
		t.Error("theme path not covered")
	}
}
