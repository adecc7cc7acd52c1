package i18n

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// minifiedBundle returns about size bytes of minified AMD modules in the
// style of a bundled Magento theme, with a translated phrase every few
// modules (calls of marker), regexes, divisions and template literals.
func minifiedBundle(size int, marker string) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		title := `"Static title"`
		if i%6 == 0 {
			title = fmt.Sprintf(`%s("Phrase number %d")`, marker, i)
		}
		fmt.Fprintf(&b, `define("Acme_Mod/js/view/c%d",["jquery","uiComponent","ko"],function(e,t,n){"use strict";`+
			`return t.extend({defaults:{template:"Acme_Mod/c%d",title:%s,items:[]},initialize:function(){this._super();`+
			`var r=/^[a-z'"]+\/\d+$/i,o=this.items().length/2|0;for(var i=0;i<o;i++)this.items.push({id:i,label:"item "+i,ok:r.test(this.template)});`+
			"return this},getLabel:function(e){return e>1?`${e} items / ${o}`:'one item'}})});\n", i, i, title)
	}
	return []byte(b.String())
}

func TestBenchmarkBundleIsValidJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	src := minifiedBundle(100<<10, markedT)
	out, missing, fallbacks := TranslateJS(src, func(p string) (string, bool) { return "« " + p + " »", true })
	if len(missing) != 0 || len(fallbacks) != 0 || strings.Contains(string(out), Marker) {
		t.Fatalf("not every call translated: %q %v", missing, fallbacks)
	}
	cmd := exec.Command(node, "-e", "new Function(require('fs').readFileSync(0, 'utf8'))")
	cmd.Stdin = strings.NewReader(string(out))
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node does not parse the translated bundle: %v\n%s", err, res)
	}
}

// markedT is a marked call's callee, as minified code holds it.
var markedT = m("12:34", "t")

func BenchmarkTranslateJS(b *testing.B) {
	src := minifiedBundle(100<<10, markedT)
	tr := func(p string) (string, bool) { return "Traduction de " + p, true }
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		TranslateJS(src, tr)
	}
}

func BenchmarkTranslateJSNoMarker(b *testing.B) {
	src := minifiedBundle(100<<10, "e")
	tr := func(p string) (string, bool) { return p, true }
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		TranslateJS(src, tr)
	}
}

func BenchmarkMarkJS(b *testing.B) {
	src := minifiedBundle(100<<10, "$t")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		MarkJS(src)
	}
}

func BenchmarkJSPhrases(b *testing.B) {
	src := minifiedBundle(100<<10, "$t")
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		JSPhrases(src)
	}
}

func BenchmarkParseCSV(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "\"Phrase %d, with a comma\",\"Traduction %d avec \"\"guillemets\"\"\"\n", i, i)
		if i%10 == 0 {
			fmt.Fprintf(&sb, "Phrase %d,Traduction module %d,module,Acme_Mod\n", i, i)
		}
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := ParseCSV("fr_FR.csv", data, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
