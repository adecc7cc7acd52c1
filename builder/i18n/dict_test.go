package i18n

import (
	"errors"
	"testing"

	"github.com/scdtool/scd/diag"
)

func mustCSV(t *testing.T, name, data string) *Dictionary {
	t.Helper()
	d, err := ParseCSV(name, []byte(data))
	if err != nil {
		t.Fatal(err)
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
		{name: "CRLF", in: "a,b\r\nc,d\r\n", len: 2, lookups: []lookup{{"c", "", "d", true}}},
		{name: "BOM", in: "\uFEFF\"a\",\"b\"\n", len: 1, lookups: []lookup{{"a", "", "b", true}}},
		{name: "empty lines skipped", in: "\n\na,b\n\n\nc,d\n\n", len: 2, lookups: []lookup{{"c", "", "d", true}}},
		{name: "empty file", in: "", len: 0},
		{name: "empty translation", in: "a,\n", len: 1, lookups: []lookup{{"a", "", "", true}}},
		{name: "later row overrides", in: "a,first\na,second\n", len: 1, lookups: []lookup{{"a", "", "second", true}}},
		{name: "module rows", in: "Save,Enregistrer\nSave,Sauvegarder,module,Magento_Catalog\n", len: 2,
			lookups: []lookup{
				{"Save", "Magento_Catalog/js/product.js", "Sauvegarder", true},
				{"Save", "Magento_Checkout/js/cart.js", "Enregistrer", true},
				{"Save", "js/app.js", "Enregistrer", true},
				{"Save", "Magento_Catalog", "Enregistrer", true},
			}},
		{name: "module row only", in: `"Only","Seulement","module","Acme_Mod"`, len: 1,
			lookups: []lookup{{"Only", "Acme_Mod/t.html", "Seulement", true}, {"Only", "Acme_Other/t.html", "", false}, {"Only", "t.html", "", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCSV(t, "i18n/fr_FR.csv", tt.in)
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

func TestParseCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want, source string
	}{
		{"one field", "a,b\nlonely\n", `i18n/fr_FR.csv:2:1: a dictionary row has 1 field; want 2 (phrase, translation) or 4 (phrase, translation, module, Vendor_Module)`, "lonely"},
		{"three fields", "a,b,c", `i18n/fr_FR.csv:1:1: a dictionary row has 3 fields; want 2 (phrase, translation) or 4 (phrase, translation, module, Vendor_Module)`, "a,b,c"},
		{"five fields", "x,y\n\n\"a\",b,c,d,e\r\n", `i18n/fr_FR.csv:3:1: a dictionary row has 5 fields; want 2 (phrase, translation) or 4 (phrase, translation, module, Vendor_Module)`, `"a",b,c,d,e`},
		{"empty phrase", "a,b\n,b\n", `i18n/fr_FR.csv:2:1: empty phrase`, ",b"},
		{"empty quoted phrase", `"",b`, `i18n/fr_FR.csv:1:1: empty phrase`, `"",b`},
		{"third field not module", "a,b,theme,frontend/Acme/base", `i18n/fr_FR.csv:1:1: the third field of a 4-field row is "theme"; want "module"`, "a,b,theme,frontend/Acme/base"},
		{"empty module", "a,b,module,", `i18n/fr_FR.csv:1:1: invalid module name ""; want Vendor_Module`, "a,b,module,"},
		{"bare quote", "a,b\nsay \"hi\",x\n", `i18n/fr_FR.csv:2:5: malformed CSV: bare " in non-quoted-field`, `say "hi",x`},
		{"extraneous quote", "a,b\n\"a\"x,b\n", `i18n/fr_FR.csv:2:3: malformed CSV: extraneous or missing " in quoted-field`, `"a"x,b`},
		{"unterminated quote", "a,b\n\"abc,d\n", `i18n/fr_FR.csv:2:7: malformed CSV: unterminated quoted field in the row starting on line 2`, `"abc,d`},
		{"unterminated quote over lines", "\"a\nb,c\nd", `i18n/fr_FR.csv:3:2: malformed CSV: unterminated quoted field in the row starting on line 1`, `d`},
		{"error after BOM", "\uFEFFa\"b,c", `i18n/fr_FR.csv:1:2: malformed CSV: bare " in non-quoted-field`, `a"b,c`},
		{"row of a multi-line field", "\"a\nb\",c,d\n", `i18n/fr_FR.csv:1:1: a dictionary row has 3 fields; want 2 (phrase, translation) or 4 (phrase, translation, module, Vendor_Module)`, `"a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseCSV("i18n/fr_FR.csv", []byte(tt.in))
			if err == nil {
				t.Fatalf("ParseCSV(%q) = %v, want an error", tt.in, d)
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

func TestMergeLookup(t *testing.T) {
	parent := mustCSV(t, "base.csv", "A,parent A\nB,parent B\nS,parent S global\nS,parent S mod,module,Acme_Mod\nP,parent P mod,module,Acme_Mod\n")
	child := mustCSV(t, "child.csv", "B,child B\nC,child C\nP,child P mod,module,Acme_Mod\nG,child G global\n")
	m := Merge(parent, child)
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
			m := Merge(tt.parent, tt.child)
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
	a := mustCSV(t, "a.csv", "x,1\ny,2\nz,3,module,A_B\n")
	b := mustCSV(t, "b.csv", "\uFEFFz,3,module,A_B\ny,2\n\"x\",\"1\"\n")
	c := mustCSV(t, "c.csv", "x,1\ny,2\nz,3,module,A_C\n")
	d := mustCSV(t, "d.csv", "x,1\ny,2\nz,3\n")
	e := mustCSV(t, "e.csv", "x,1\ny,2\nz,4,module,A_B\n")
	if a.Digest() != b.Digest() {
		t.Error("same content, different digests")
	}
	if a.Digest() != Merge(nil, a).Digest() {
		t.Error("a merged copy has a different digest")
	}
	seen := map[string]string{}
	for name, dict := range map[string]*Dictionary{"a": a, "c": c, "d": d, "e": e, "empty": Merge(nil, nil)} {
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
