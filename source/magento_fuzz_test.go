package source

import (
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for the Magento files scd reads from a user's tree. The
// parsers must not panic, and an error must point inside the file.

func seedMagento(f *testing.F, glob string, extra ...string) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "fixtures", "magento", filepath.FromSlash(glob)))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func checkOffset(t *testing.T, src []byte, err error) {
	t.Helper()
	off := -1
	switch e := err.(type) {
	case *phpSyntaxError:
		off = e.off
	case *xmlError:
		off = e.off
	case nil:
		return
	}
	if off < 0 || off > len(src) {
		t.Fatalf("error %q at offset %d of %d bytes", err, off, len(src))
	}
}

func FuzzMagentoRegistration(f *testing.F) {
	seedMagento(f, "*/*/*/*/registration.php",
		"<?php\nComponentRegistrar::register(ComponentRegistrar::MODULE, 'A_B', isset($file) ? realpath(dirname($file)) : __DIR__ . '/src',);",
		"<?php ComponentRegistrar::register('module', \"A_B\", dirname(dirname(__DIR__)) . DIRECTORY_SEPARATOR . 'x');",
		"<?php /* unterminated",
		"<?php $x = <<<EOT\nx\nEOT;",
		"<? ComponentRegistrar::register(")
	f.Fuzz(func(t *testing.T, src []byte) {
		regs, err := parseRegistration(src, "/m")
		checkOffset(t, src, err)
		if err == nil && len(regs) == 0 {
			t.Fatal("no error and no registration")
		}
		for _, r := range regs {
			if r.Off < 0 || r.Off > len(src) || r.NameOff < 0 || r.NameOff > len(src) {
				t.Fatalf("offsets out of range: %+v", r)
			}
		}
	})
}

func FuzzMagentoConfigPHP(f *testing.F) {
	seedMagento(f, "app/etc/config.php",
		"<?php\nreturn array('modules' => array('A_B' => 1, 'C_D' => 0), 'x' => [-1, 2.5e3, null, \\Foo::BAR, [[]]]);",
		"<?php declare(strict_types=1);\nreturn ['modules' => ['A_B' => true]];",
		"<?php\nreturn [",
		"<?php\nreturn ['modules' => ['A_B' => 1, 'A_B' => 1]];")
	f.Fuzz(func(t *testing.T, src []byte) {
		mods, has, err := parseConfigPHP(src)
		checkOffset(t, src, err)
		if err == nil && !has && len(mods) > 0 {
			t.Fatal("modules without a 'modules' key")
		}
		for _, m := range mods {
			if !moduleNameRe.MatchString(m.Name) || m.Off < 0 || m.Off > len(src) {
				t.Fatalf("bad entry %+v", m)
			}
		}
	})
}

func FuzzMagentoThemeXML(f *testing.F) {
	seedMagento(f, "app/design/*/*/*/theme.xml",
		"\xef\xbb\xbf<theme><title>T</title><parent>blank</parent><media><preview_image>x</preview_image></media></theme>",
		"<theme><title>T</title><parent>a/b/c</parent></theme>",
		"<theme><title>T</title></theme><theme/>",
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><theme><title>&amp;</title></theme>")
	f.Fuzz(func(t *testing.T, src []byte) {
		tx, err := parseThemeXML(src)
		checkOffset(t, src, err)
		if err == nil && (tx.Title == "" || tx.ParentOff < 0 || tx.ParentOff > len(src)) {
			t.Fatalf("accepted %+v", tx)
		}
	})
}

func FuzzMagentoLanguageXML(f *testing.F) {
	seedMagento(f, "app/i18n/*/*/language.xml",
		"<language><code>zh_Hans_CN</code><vendor>v</vendor><package>p</package><sort_order>-3</sort_order><use vendor='a' package='b'/><use vendor='a' package='c'/></language>",
		"<language><code>de_DE</code><vendor>v</vendor></language>",
		"<language><use vendor='a'/></language>")
	f.Fuzz(func(t *testing.T, src []byte) {
		lx, err := parseLanguageXML(src)
		checkOffset(t, src, err)
		if err == nil && (!langCodeRe.MatchString(lx.Code) || lx.Vendor == "" || lx.Package == "") {
			t.Fatalf("accepted %+v", lx)
		}
		for _, u := range lx.Uses {
			if u.Off < 0 || u.Off > len(src) {
				t.Fatalf("use offset %d of %d", u.Off, len(src))
			}
		}
	})
}
