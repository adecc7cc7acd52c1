package i18n

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/diag"
)

func mustCSV(t *testing.T, name, data string) *Dictionary {
	t.Helper()
	return mustCSVWith(t, name, data, ParseOptions{})
}

// mustCSVScoped parses with module scoping on.
func mustCSVScoped(t *testing.T, name, data string) *Dictionary {
	t.Helper()
	return mustCSVWith(t, name, data, ParseOptions{ModuleScope: true})
}

func mustCSVWith(t *testing.T, name, data string, opts ParseOptions) *Dictionary {
	t.Helper()
	d, warnings, err := ParseCSV(name, []byte(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Fatalf("unexpected warnings: %v", warnings)
	}
	return d
}

func TestParseCSV(t *testing.T) {
	type lookup struct {
		phrase, path, want string
		ok                 bool
	}
	tests := []struct {
		name    string
		in      string
		scoped  bool // ParseOptions.ModuleScope
		len     int
		lookups []lookup
	}{
		{name: "quoted", in: "\"Add to Cart\",\"Ajouter au panier\"\n", len: 1,
			lookups: []lookup{{"Add to Cart", "js/a.js", "Ajouter au panier", true}, {"Nope", "js/a.js", "", false}}},
		{name: "unquoted", in: "Hello,Bonjour\nBye,Au revoir", len: 2,
			lookups: []lookup{{"Hello", "", "Bonjour", true}, {"Bye", "", "Au revoir", true}}},
		{name: "escaped quotes and commas", in: `"Say ""hi"", please","Dis ""salut"", stp"`, len: 1,
			lookups: []lookup{{`Say "hi", please`, "", `Dis "salut", stp`, true}}},
		{name: "multi-line quoted field", in: "\"a\nb\",\"c\nd\"\n", len: 1, lookups: []lookup{{"a\nb", "", "c\nd", true}}},
		{name: "CRLF", in: "a,b\r\nc,d\r\n", len: 2, lookups: []lookup{{"a", "", "b", true}, {"c", "", "d", true}}},
		{name: "CRLF after quoted field", in: "\"a\",\"b\"\r\n\"c\",\"d\"\r\n", len: 2, lookups: []lookup{{"a", "", "b", true}, {"c", "", "d", true}}},
		{name: "BOM", in: "\uFEFF\"a\",\"b\"\n", len: 1, lookups: []lookup{{"a", "", "b", true}}},
		{name: "empty lines skipped", in: "\n\na,b\n\r\n\nc,d\n\n", len: 2, lookups: []lookup{{"c", "", "d", true}}},
		{name: "empty file", in: "", len: 0},
		{name: "empty translation", in: "a,\n", len: 1, lookups: []lookup{{"a", "", "", true}}},
		{name: "later row overrides", in: "a,first\na,second\n", len: 1, lookups: []lookup{{"a", "", "second", true}}},

		// Quoting a strict reader rejects reads as PHP's fgetcsv reads it
		// (Magento's own module CSVs have such rows).
		{name: "bare quote", in: "say \"hi\",x\n", len: 1, lookups: []lookup{{`say "hi"`, "", "x", true}}},
		{name: "text after a closing quote", in: `"Command "%1" was not found.","Befehl "%1" nicht gefunden."` + "\n", len: 1,
			lookups: []lookup{{`Command %1" was not found."`, "", `Befehl %1" nicht gefunden."`, true}}},
		{name: "doubled then lone quote", in: `"The """%1"" is not allowed.",x` + "\r\n", len: 1,
			lookups: []lookup{{`The "%1"" is not allowed."`, "", "x", true}}},
		{name: "space after a closing quote", in: "\"a\" ,b\n", len: 1, lookups: []lookup{{"a ", "", "b", true}}},
		{name: "quote on a later line of a field", in: "x,\"a\nb\"c\n", len: 1, lookups: []lookup{{"x", "", "a\nbc", true}}},

		// Real packs: Magento keeps the first two columns of every row.
		{name: "empty third and fourth fields", in: "20,20,,\n", len: 1, lookups: []lookup{{"20", "js/a.js", "20", true}}},
		{name: "theme row", in: "Phrase,Phrase AR,theme,frontend/Magento/blank\n", len: 1,
			lookups: []lookup{{"Phrase", "js/a.js", "Phrase AR", true}}},
		{name: "lib row", in: "Phrase,Phrase AR,lib,lib/web/mage/calendar.js\n", len: 1,
			lookups: []lookup{{"Phrase", "mage/calendar.js", "Phrase AR", true}}},
		{name: "three fields: a module name alone", in: "Phrase,Phrase AR,Magento_Catalog\n", len: 1,
			lookups: []lookup{{"Phrase", "js/a.js", "Phrase AR", true}}},
		{name: "five fields", in: "x,y\n\n\"a\",b,c,d,e\r\n", len: 2, lookups: []lookup{{"a", "", "b", true}}},
		{name: "more fields", in: "a,b,module,Magento_Catalog,,,x,\"y\"\n", len: 1, lookups: []lookup{{"a", "", "b", true}}},
		{name: "module rows are global by default", in: "Save,Enregistrer\nSave,Sauvegarder,module,Magento_Catalog\n", len: 1,
			lookups: []lookup{
				{"Save", "Magento_Catalog/js/product.js", "Sauvegarder", true},
				{"Save", "js/app.js", "Sauvegarder", true},
			}},
		{name: "rows of every shape, the later wins", in: "a,1\na,2,module,M_A\na,3,theme,frontend/V/t\na,4,,\na,5,lib,x\na,6,M_B\n", len: 1,
			lookups: []lookup{{"a", "M_A/x.js", "6", true}}},
		{name: "empty phrase kept", in: ",empty\n\"\",still empty\n", len: 1, lookups: []lookup{{"", "", "still empty", true}}},
		{name: "multi-line field in a row of three", in: "\"a\nb\",c,d\n", len: 1, lookups: []lookup{{"a\nb", "", "c", true}}},

		// PHP's fgetcsv, which Magento reads dictionaries with.
		{name: "backslash escapes a quote, both kept", in: `"Item: ""%1""","Article : \"%1\"",module,Magento_GiftMessage`, len: 1,
			lookups: []lookup{{`Item: "%1"`, "", `Article : \"%1\"`, true}}},
		{name: "backslash before a closing quote", in: `"a","b \"x\"",c` + "\n" + `"d","e"`, len: 2,
			lookups: []lookup{{"a", "", `b \"x\"`, true}, {"d", "", "e", true}}},
		{name: "backslash escapes a backslash", in: `"a\\","b"`, len: 1, lookups: []lookup{{`a\\`, "", "b", true}}},
		{name: "backslash outside quotes is text", in: `can\'t,ne peut pas`, len: 1, lookups: []lookup{{`can\'t`, "", "ne peut pas", true}}},
		{name: "space before an opening quote skipped", in: `"a", "b"`, len: 1, lookups: []lookup{{"a", "", "b", true}}},
		{name: "spaces in unquoted fields kept", in: ` a , b `, len: 1, lookups: []lookup{{" a ", "", " b ", true}}},
		{name: "CR inside a quoted field kept", in: "\"a\r\nb\",c\r\n", len: 1, lookups: []lookup{{"a\r\nb", "", "c", true}}},

		// Module scoping, on request.
		{name: "scoped module rows", scoped: true, in: "Save,Enregistrer\nSave,Sauvegarder,module,Magento_Catalog\n", len: 2,
			lookups: []lookup{
				{"Save", "Magento_Catalog/js/product.js", "Sauvegarder", true},
				{"Save", "Magento_Checkout/js/cart.js", "Enregistrer", true},
				{"Save", "js/app.js", "Enregistrer", true},
				{"Save", "Magento_Catalog", "Enregistrer", true},
			}},
		{name: "scoped module row only", scoped: true, in: `"Only","Seulement","module","Acme_Mod"`, len: 1,
			lookups: []lookup{{"Only", "Acme_Mod/t.html", "Seulement", true}, {"Only", "Acme_Other/t.html", "", false}, {"Only", "t.html", "", false}}},
		{name: "scoped: other rows stay global", scoped: true, in: "a,1,theme,frontend/V/t\nb,2,module,\nc,3,Magento_Catalog\nd,4,module,A/B\n", len: 4,
			lookups: []lookup{{"a", "x.js", "1", true}, {"b", "x.js", "2", true}, {"c", "x.js", "3", true}, {"d", "x.js", "4", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCSVWith(t, "i18n/fr_FR.csv", tt.in, ParseOptions{ModuleScope: tt.scoped})
			if d.Len() != tt.len {
				t.Errorf("Len = %d, want %d", d.Len(), tt.len)
			}
			for _, l := range tt.lookups {
				got, ok := d.Lookup(l.phrase, l.path)
				if got != l.want || ok != l.ok {
					t.Errorf("Lookup(%q, %q) = %q, %v; want %q, %v", l.phrase, l.path, got, ok, l.want, l.ok)
				}
			}
		})
	}
}

func TestParseCSVWarnings(t *testing.T) {
	tests := []struct {
		name, in string
		len      int
		want     []string // warnings
		source   []string
	}{
		{"one field", "a,b\nlonely\n", 1,
			[]string{"i18n/fr_FR.csv:2:1: a dictionary row needs a phrase and its translation; this one has a single field, so it is skipped"},
			[]string{"lonely"}},
		{"quoted single field over lines", "\"x\ny\"\r\nc,d\n \n", 1,
			[]string{
				"i18n/fr_FR.csv:1:1: a dictionary row needs a phrase and its translation; this one has a single field, so it is skipped",
				"i18n/fr_FR.csv:4:1: a dictionary row needs a phrase and its translation; this one has a single field, so it is skipped",
			},
			[]string{`"x`, " "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, warnings, err := ParseCSV("i18n/fr_FR.csv", []byte(tt.in), ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tt.len {
				t.Errorf("Len = %d, want %d", d.Len(), tt.len)
			}
			if len(warnings) != len(tt.want) {
				t.Fatalf("warnings = %v, want %d", warnings, len(tt.want))
			}
			for i, w := range warnings {
				var de *diag.Error
				if !errors.As(w, &de) || de.Kind != diag.Build {
					t.Fatalf("warning %T %v is not a build *diag.Error", w, w)
				}
				if w.Error() != tt.want[i] {
					t.Errorf("warning\n got %s\nwant %s", w, tt.want[i])
				}
				if de.Source != tt.source[i] {
					t.Errorf("source = %q, want %q", de.Source, tt.source[i])
				}
			}
		})
	}
}

func TestParseCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want, source string
	}{
		{"unterminated quote", "a,b\n\"abc,d\n", `i18n/fr_FR.csv:2:7: malformed CSV: unterminated quoted field in the row starting on line 2`, `"abc,d`},
		{"unterminated quote over lines", "\"a\nb,c\nd", `i18n/fr_FR.csv:3:2: malformed CSV: unterminated quoted field in the row starting on line 1`, `d`},
		{"escaped final quote never closes", "a,\"b\\\"\n", `i18n/fr_FR.csv:1:7: malformed CSV: unterminated quoted field in the row starting on line 1`, `a,"b\"`},
		{"error after BOM", "\uFEFFa,\"b", `i18n/fr_FR.csv:1:5: malformed CSV: unterminated quoted field in the row starting on line 1`, `a,"b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _, err := ParseCSV("i18n/fr_FR.csv", []byte(tt.in), ParseOptions{})
			if err == nil {
				t.Fatalf("ParseCSV(%q) = %v, want an error", tt.in, d)
			}
			if d != nil {
				t.Errorf("ParseCSV returned a dictionary with its error")
			}
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *diag.Error", err)
			}
			if de.Kind != diag.Build || de.Line < 1 || de.Col < 1 {
				t.Errorf("kind %v line %d col %d", de.Kind, de.Line, de.Col)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if de.Source != tt.source {
				t.Errorf("source = %q, want %q", de.Source, tt.source)
			}
		})
	}
}

// realPack is the published Arabic language pack in shared/realworld, beside
// the repository's clone.
func realPack(t *testing.T) []byte {
	t.Helper()
	// Tests run in the package directory; shared/ is beside the module's
	// root (the directory with go.mod).
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above the package directory")
		}
		root = parent
	}
	file := filepath.Join(filepath.Dir(root), "shared", "realworld", "mageplaza-ar_SA", "ar_SA.csv")
	data, err := os.ReadFile(file)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the real pack is required under CI: %v", err)
		}
		t.Skipf("SKIPPED: the real Arabic pack is not here (%v); the test of real Magento input did not run", err)
	}
	return data
}

// TestParseCSVRealPack reads a published Magento language pack and checks
// that every phrase has the translation Magento gives it: the second field of
// the last row for that phrase, computed here with encoding/csv.
func TestParseCSVRealPack(t *testing.T) {
	data := realPack(t)
	d, warnings, err := ParseCSV("ar_SA.csv", data, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}

	// The expectation, independently. PHP's fgetcsv (Magento) lets a
	// backslash escape a quote inside a quoted field and keeps both; the pack
	// has such rows (\"%1\"), which encoding/csv rejects. Hiding the escaped
	// quotes from encoding/csv and putting them back gives fgetcsv's fields
	// for this file (it has no backslash before a backslash and a quote).
	if bytes.Contains(data, []byte(`\\"`)) {
		t.Fatal(`the pack has \\" : the expectation below would be wrong`)
	}
	const hidden = "\uE000"
	r := csv.NewReader(bytes.NewReader(bytes.ReplaceAll(data, []byte(`\"`), []byte(`\`+hidden))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	shapes := map[string]int{}
	for _, row := range rows {
		if len(row) < 2 {
			continue
		}
		want[strings.ReplaceAll(row[0], hidden, `"`)] = strings.ReplaceAll(row[1], hidden, `"`)
		if len(row) == 4 {
			shapes[row[2]]++
		}
	}
	// What the pack is known to hold (shared/realworld/README.md), so that a
	// broken expectation cannot pass unnoticed.
	if len(rows) != 12249 || shapes["module"] != 12185 || shapes["theme"] != 64 {
		t.Fatalf("the pack has %d rows (%v); want 12249 rows, 12185 module and 64 theme rows", len(rows), shapes)
	}
	if len(want) != 8821 {
		t.Fatalf("the expectation has %d phrases; the pack has 8821", len(want))
	}
	if d.Len() != len(want) {
		t.Errorf("Len = %d, want %d phrases", d.Len(), len(want))
	}
	for phrase, tr := range want {
		if got, ok := d.Lookup(phrase, "Magento_Catalog/js/x.js"); !ok || got != tr {
			t.Errorf("Lookup(%q) = %q, %v; want %q", phrase, got, ok, tr)
		}
	}
	// A phrase of several rows takes the last one's translation, whichever
	// module the rows name.
	repeated := 0
	seen := map[string]int{}
	for _, row := range rows {
		seen[row[0]]++
		if seen[row[0]] == 2 {
			repeated++
		}
	}
	if repeated == 0 {
		t.Error("the pack has no repeated phrase: the override rule is not tested")
	}
	if got, _ := d.Lookup(`Could not add gift message to order's item: "%1"`, ""); got != `تعذر إضافة رسالة الهدية لعنصر الطلب: \"%1\"` {
		t.Errorf("escaped quotes: got %q", got)
	}

	// Module scoping, on request, scopes the module rows only.
	ds, _, err := ParseCSV("ar_SA.csv", data, ParseOptions{ModuleScope: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() < d.Len() {
		t.Errorf("scoped Len = %d, less than the %d phrases", ds.Len(), d.Len())
	}
}

func TestMergeLookup(t *testing.T) {
	parent := mustCSVScoped(t, "base.csv", "A,parent A\nB,parent B\nS,parent S global\nS,parent S mod,module,Acme_Mod\nP,parent P mod,module,Acme_Mod\n")
	child := mustCSVScoped(t, "child.csv", "B,child B\nC,child C\nP,child P mod,module,Acme_Mod\nG,child G global\n")
	m := MergeAll(parent, child)
	tests := []struct {
		name, phrase, path, want string
		ok                       bool
	}{
		{"parent only", "A", "js/a.js", "parent A", true},
		{"child wins", "B", "js/a.js", "child B", true},
		{"child only", "C", "js/a.js", "child C", true},
		{"module row wins over global in module", "S", "Acme_Mod/js/a.js", "parent S mod", true},
		{"global outside module", "S", "js/a.js", "parent S global", true},
		{"child module row wins", "P", "Acme_Mod/x.html", "child P mod", true},
		{"module row not outside module", "P", "Acme_Other/x.html", "", false},
		{"missing", "Z", "js/a.js", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.Lookup(tt.phrase, tt.path)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Lookup(%q, %q) = %q, %v; want %q, %v", tt.phrase, tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
	if m.Len() != 7 {
		t.Errorf("merged Len = %d, want 7", m.Len())
	}
	// Merging must not modify its inputs.
	if v, _ := parent.Lookup("B", ""); v != "parent B" {
		t.Error("Merge modified the parent")
	}
	if v, _ := parent.Lookup("P", "Acme_Mod/x"); v != "parent P mod" {
		t.Error("Merge modified the parent's module rows")
	}
}

func TestMergeNil(t *testing.T) {
	d := mustCSV(t, "a.csv", "a,b\n")
	tests := []struct {
		name          string
		parent, child *Dictionary
		len           int
	}{
		{"both nil", nil, nil, 0},
		{"nil parent", nil, d, 1},
		{"nil child", d, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MergeAll(tt.parent, tt.child)
			if m == nil || m.Len() != tt.len {
				t.Fatalf("Merge = %v", m)
			}
		})
	}
	var nilDict *Dictionary
	if _, ok := nilDict.Lookup("a", ""); ok || nilDict.Len() != 0 || nilDict.Digest() == "" {
		t.Fatal("a nil dictionary must be empty")
	}
}

func TestDigest(t *testing.T) {
	a := mustCSVScoped(t, "a.csv", "x,1\ny,2\nz,3,module,A_B\n")
	b := mustCSVScoped(t, "b.csv", "\uFEFFz,3,module,A_B\ny,2\n\"x\",\"1\"\n")
	c := mustCSVScoped(t, "c.csv", "x,1\ny,2\nz,3,module,A_C\n")
	d := mustCSVScoped(t, "d.csv", "x,1\ny,2\nz,3\n")
	e := mustCSVScoped(t, "e.csv", "x,1\ny,2\nz,4,module,A_B\n")
	if a.Digest() != b.Digest() {
		t.Error("same content, different digests")
	}
	if a.Digest() != MergeAll(nil, a).Digest() {
		t.Error("a merged copy has a different digest")
	}
	seen := map[string]string{}
	for name, dict := range map[string]*Dictionary{"a": a, "c": c, "d": d, "e": e, "empty": MergeAll(nil, nil)} {
		dg := dict.Digest()
		if other, ok := seen[dg]; ok {
			t.Errorf("%s and %s share digest %s", name, other, dg)
		}
		seen[dg] = name
		if len(dg) != 64 {
			t.Errorf("digest %q is not hex SHA-256", dg)
		}
	}
	// Field boundaries matter: ("ab","c") differs from ("a","bc").
	if mustCSV(t, "f", "ab,c").Digest() == mustCSV(t, "g", "a,bc").Digest() {
		t.Error("digest ignores field boundaries")
	}
}

// TestMergeAllAsMagentoTranslator pins Translate::_addData's rules: a later
// source wins, a row translating a phrase to itself undoes an earlier
// translation, and a doubled quote left by fgetcsv becomes one.
func TestMergeAllAsMagentoTranslator(t *testing.T) {
	module := mustCSV(t, "module.csv", "Cart,Warenkorb (module)\nOK,In Ordnung\nSave,Speichern\n")
	pack := mustCSV(t, "pack.csv", "Cart,Warenkorb (pack)\nOK,OK\n")
	theme := mustCSV(t, "theme.csv", "Cart,Warenkorb (theme)\n"+`"The """%1"" is not allowed.",x`+"\n"+`y,"Der """%1"" ist nicht erlaubt."`+"\n")
	m := MergeAll(module, nil, pack, theme)
	tests := []struct {
		phrase, want string
	}{
		{"Cart", "Warenkorb (theme)"},
		{"OK", "OK"},
		{"Save", "Speichern"},
		{`The "%1" is not allowed."`, "x"},
		{"y", `Der "%1" ist nicht erlaubt."`},
	}
	for _, tt := range tests {
		if got, ok := m.Lookup(tt.phrase, ""); !ok || got != tt.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.phrase, got, ok, tt.want)
		}
	}
	if got, _ := module.Lookup("OK", ""); got != "In Ordnung" {
		t.Errorf("MergeAll modified its input: %q", got)
	}
}
