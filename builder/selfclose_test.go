package builder

import "testing"

func TestSelfClosingSurvivesMinify(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"custom element", `<div> <text args="name"/> </div>`, `<div><text args="name"/></div>`},
		{"space before slash", `<each args="items" />`, `<each args="items"/>`},
		{"void element unchanged", `<p><br/><img src="a.png" /></p>`, `<p><br><img src="a.png"></p>`},
		{"slash inside a value", `<a href="/x/">x</a><text args="'a/>b'"/>`, `<a href="/x/">x</a><text args="'a/>b'"/>`},
		{"helper inside a value", `<img src="{{asset "a.png"}}"/><ko-x data="{{t "a/>"}}"/>`, `<img src="{{asset "a.png"}}"><ko-x data="{{t "a/>"}}"/>`},
		{"comment untouched", `<!-- <text/> --><span>x</span>`, `<span>x</span>`},
		{"svg kept as xml", `<svg viewBox="0 0 1 1"><path d="M0 0"/></svg>`, `<svg viewBox="0 0 1 1"><path d="M0 0"/></svg>`},
		{"script text untouched", `<script type="text/x-template"><b/></script><i/>`, `<script type="text/x-template"><b/></script><i/>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, marked := markSelfClosing([]byte(tt.in))
			out, err := minifiers.Bytes("text/html", append([]byte(nil), in...))
			if err != nil {
				t.Fatal(err)
			}
			if marked {
				out = restoreSelfClosing(out)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
		})
	}
}
