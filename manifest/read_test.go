package manifest

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestReadBuildList reads build.json back as Marshal writes it (by
// scanning) and in another layout of the same JSON (by encoding/json):
// the same build, its files in sorted order.
func TestReadBuildList(t *testing.T) {
	for name, b := range sampleBuilds() {
		ours, err := Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := scanBuild(ours); !ok {
			t.Errorf("%s: build.json as written is not scanned", name)
		}
		other, err := json.MarshalIndent(b, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		for layout, data := range map[string][]byte{"written": ours, "indented by tabs": other} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, BuildFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			head, list, err := ReadBuildList(dir)
			if err != nil {
				t.Fatalf("%s, %s: %v", name, layout, err)
			}
			// what JSON can say of b (a name that is not UTF-8 is not
			// read back as it was, by encoding/json either)
			var want Build
			if err := json.Unmarshal(ours, &want); err != nil {
				t.Fatal(err)
			}
			wantFiles := want.Files
			want.Files = nil
			if !reflect.DeepEqual(*head, want) {
				t.Errorf("%s, %s: head %+v, want %+v", name, layout, *head, want)
			}
			paths := slices.Sorted(maps.Keys(wantFiles))
			if len(list) != len(paths) {
				t.Fatalf("%s, %s: %d files, want %d", name, layout, len(list), len(paths))
			}
			for i, p := range paths {
				if list[i].Path != p || list[i].File != wantFiles[p] {
					t.Errorf("%s, %s: file %d is %q %+v, want %q %+v", name, layout, i, list[i].Path, list[i].File, p, wantFiles[p])
				}
			}
		}
	}
	dir := t.TempDir()
	if _, _, err := ReadBuildList(dir); err == nil {
		t.Error("a missing build.json was read")
	}
	os.WriteFile(filepath.Join(dir, BuildFile), []byte(`{"id": "x", "files": {`), 0o644)
	if _, _, err := ReadBuildList(dir); err == nil || !strings.Contains(err.Error(), BuildFile) {
		t.Errorf("a truncated build.json: %v", err)
	}
}

// FuzzScanBuild holds the scanner of build.json to encoding/json: what it
// takes is valid JSON, and it reads the same build and files.
func FuzzScanBuild(f *testing.F) {
	for _, b := range sampleBuilds() {
		data, err := Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		head, list, ok := scanBuild(data)
		if !ok {
			return
		}
		var ref Build
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("scanned what encoding/json rejects (%v): %q", err, data)
		}
		files := map[string]File{}
		for _, e := range list {
			files[e.Path] = e.File
		}
		if len(ref.Files) != len(files) || (len(files) > 0 && !reflect.DeepEqual(ref.Files, files)) {
			t.Fatalf("files %v, encoding/json %v", files, ref.Files)
		}
		ref.Files = nil
		if !reflect.DeepEqual(*head, ref) {
			t.Fatalf("head %+v, encoding/json %+v", *head, ref)
		}
	})
}
