package manifest

import (
	"bytes"
	"testing"
)

// TestWriteBuildMatchesMarshal checks that the streamed build.json is
// byte for byte what Marshal gives, for an empty and a filled build.
func TestWriteBuildMatchesMarshal(t *testing.T) {
	for name, b := range map[string]*Build{
		"empty": {ID: "x", Files: map[string]File{}},
		"files": {ID: "abc", ConfigDigest: "d", Version: "v", ContentVersion: "c",
			Jobs: []Job{{Area: "frontend", Theme: "A/b", Locale: "en_US", Dir: "frontend/A/b/en_US", Files: 2, Bytes: 9}},
			Files: map[string]File{
				"frontend/A/b/en_US/z.js":       {SHA256: "00ff", Size: 3},
				"frontend/A/b/en_US/a&<b>.json": {SHA256: "11aa", Size: 6},
				`frontend/A/b/en_US/q"\.css`:    {SHA256: "22bb", Size: 0},
			}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := WriteBuild(&got, b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("WriteBuild:\n%s\nMarshal:\n%s", got.Bytes(), want)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"js/app.3fa9c2d1.js":    "text/javascript; charset=utf-8",
		"CSS/STYLES.CSS":        "text/css; charset=utf-8",
		"fonts/icons.woff2":     "font/woff2",
		"template/cart.html":    "text/html; charset=utf-8",
		"data/blob.unknownext1": "application/octet-stream",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}
