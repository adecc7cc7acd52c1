package manifest

import (
	"bytes"
	"maps"
	"slices"
	"testing"
)

// TestBuildPiecesMatchMarshal checks that build.json made of its pieces
// (BuildHead, AppendFile, BuildTail), as the builder writes it job by job,
// is byte for byte what Marshal gives, for an empty and a filled build.
func TestBuildPiecesMatchMarshal(t *testing.T) {
	for name, b := range sampleBuilds() {
		t.Run(name, func(t *testing.T) { checkBuildPieces(t, b) })
	}
}

func sampleBuilds() map[string]*Build {
	return map[string]*Build{
		"empty": {ID: "x", Files: map[string]File{}},
		"files": {ID: "abc", ConfigDigest: "d", Version: "v", ContentVersion: "c",
			Jobs: []Job{{Area: "frontend", Theme: "A/b", Locale: "en_US", Dir: "frontend/A/b/en_US", Files: 2, Bytes: 9}},
			Files: map[string]File{
				"frontend/A/b/en_US/z.js":                       {SHA256: "00ff", Size: 3},
				"frontend/A/b/en_US/a&<b>.json":                 {SHA256: "11aa", Size: 6},
				`frontend/A/b/en_US/q"\.css`:                    {SHA256: "22bb", Size: 0},
				"frontend/A/b/ja_JP/カート.js":                     {SHA256: "33cc", Size: 1},
				"frontend/A/b/en_US/tab\tnl\n\u2028\x7f\xff.js": {SHA256: "44dd", Size: -1},
			}},
	}
}

// checkBuildPieces fails t unless b's pieces, its files in sorted order,
// give Marshal's bytes.
func checkBuildPieces(t *testing.T, b *Build) {
	t.Helper()
	want, err := Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := BuildHead(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range slices.Sorted(maps.Keys(b.Files)) {
		if i > 0 {
			got = append(got, ',')
		}
		got = AppendFile(got, k, b.Files[k])
	}
	got = append(got, BuildTail(len(b.Files) > 0)...)
	if !bytes.Equal(got, want) {
		t.Errorf("in pieces:\n%q\nMarshal:\n%q", got, want)
	}
}

// FuzzBuildPieces checks the pieces' encoding of file names and digests
// against encoding/json for any bytes.
func FuzzBuildPieces(f *testing.F) {
	f.Add("js/app.js", "00ff", int64(3))
	f.Add("a&<b>\"\\.json", "\x00", int64(-1))
	f.Add("\u2028\xff\x7f", "é", int64(1<<40))
	f.Fuzz(func(t *testing.T, name, sum string, size int64) {
		checkBuildPieces(t, &Build{ID: "x", Files: map[string]File{name: {SHA256: sum, Size: size}, "z": {SHA256: name}}})
	})
}

// FuzzMarshalManifest holds the hand-written manifest encoder to
// encoding/json's bytes.
func FuzzMarshalManifest(f *testing.F) {
	f.Add("js/app.js", "js/app.3fa9c2d1.js", "sha256-AAA=", int64(10), "gzip", "br", 2)
	f.Add("a&<b>\"\\.json", "\u2028\xff", "", int64(-1), "", "\x00", 0)
	f.Fuzz(func(t *testing.T, logical, file, integrity string, size int64, e1, e2 string, n int) {
		encs := []string{e1, e2, "zstd"}[:min(max(n, 0), 3)]
		for _, m := range []Manifest{{}, {logical: {File: file, Integrity: integrity, Size: size, Encodings: encs}},
			{logical: {File: file}, "z" + logical: {Integrity: file, Encodings: []string{integrity}}}} {
			want, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := MarshalManifest(m); !bytes.Equal(got, want) {
				t.Errorf("MarshalManifest:\n%q\nMarshal:\n%q", got, want)
			}
		}
	})
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
