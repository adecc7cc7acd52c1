package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/scdtool/scd/manifest"
)

// writeRelease writes releases/<id> of a local target in root: the files
// (slash paths → content), a build.json listing them with their digests,
// and the completion marker, as publish.Local leaves a staged release.
func writeRelease(t testing.TB, root, id string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(root, releasesDir, id)
	b := manifest.Build{ID: id, Files: map[string]manifest.File{}}
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(content))
		b.Files[p] = manifest.File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}
	}
	data, _ := json.Marshal(b)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.BuildFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, markerFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// activateFake points current at id the way publish does: rename(2) of a
// temporary symlink.
func activateFake(t testing.TB, root, id string) {
	t.Helper()
	tmp := filepath.Join(root, ".current.tmp")
	os.Remove(tmp)
	if err := os.Symlink(path.Join(releasesDir, id), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, currentLink)); err != nil {
		t.Fatal(err)
	}
}

// etagOf is the ETag the server must send for content.
func etagOf(content string) string {
	sum := sha256.Sum256([]byte(content))
	return `"` + hex.EncodeToString(sum[:])[:32] + `"`
}

func newTestServer(t testing.TB, root string, o Options) *Server {
	t.Helper()
	o.Root = root
	if o.PollInterval == 0 {
		o.PollInterval = -1
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
