package deploy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scdtool/scd/deploy"
	"github.com/scdtool/scd/hooks"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/serve"
)

const job = "frontend/Acme/shop/en_US"

// writeBuild writes a finished build (files, manifest.json, build.json) of
// one job: a template whose text is page, a hashed app.<js>.js, and extra
// files by path relative to the job directory.
func writeBuild(t *testing.T, page, js string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"template/page.html":   page,
		"js/app." + js + ".js": "console.log('" + page + "')",
	}
	m := manifest.Manifest{
		"template/page.html": {File: "template/page.html"},
		"js/app.js":          {File: "js/app." + js + ".js"},
	}
	for p, body := range extra {
		files[p] = body
		m[p] = manifest.Asset{File: p}
	}
	data, _ := json.Marshal(m)
	files[manifest.ManifestFile] = string(data)
	b := manifest.Build{Jobs: []manifest.Job{{Area: "frontend", Theme: "Acme/shop", Locale: "en_US", Dir: job}}, Files: map[string]manifest.File{}}
	h := sha256.New()
	for p, body := range files {
		full := filepath.Join(dir, job, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		b.Files[job+"/"+p] = manifest.File{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}
		io.WriteString(h, p+body)
	}
	b.ID = hex.EncodeToString(h.Sum(nil))
	data, _ = json.Marshal(b)
	if err := os.WriteFile(filepath.Join(dir, manifest.BuildFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stack is a local target served by an in-process scd serve: public,
// preview and admin listeners, as `scd serve` wires them.
type stack struct {
	root                   string
	tg                     *publish.Local
	srv                    *serve.Server
	public, preview, admin *httptest.Server
	client                 *serve.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	root := t.TempDir()
	tg, err := publish.OpenLocal(root, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(serve.Options{Root: root, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{root: root, tg: tg, srv: srv}
	s.public = httptest.NewServer(srv.Handler())
	s.preview = httptest.NewServer(srv.PreviewHandler())
	s.admin = httptest.NewServer(srv.AdminHandler(""))
	s.client = &serve.Client{Addr: strings.TrimPrefix(s.admin.URL, "http://")}
	t.Cleanup(func() {
		s.public.Close()
		s.preview.Close()
		s.admin.Close()
		srv.Close()
	})
	return s
}

func (s *stack) target() deploy.Target { return deploy.Target{Target: s.tg, Admin: s.client} }

// get returns the body and status of a path on the public listener.
func (s *stack) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return get(t, s.public.URL+path)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// config decodes and validates a deploy section written in YAML.
func config(t *testing.T, src string) *hooks.Config {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	cfg, err := hooks.Decode("themes.yml", []byte(src), n.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// recorder is a cache that accepts BANs and records them.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	bans []string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.bans = append(r.bans, req.Method+" "+req.Header.Get("X-Ban-Url"))
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bans)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// active returns the active release id of tg.
func active(t *testing.T, tg publish.Target) string {
	t.Helper()
	rels, err := tg.Releases(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		if r.Status == publish.StatusActive {
			return r.ID
		}
	}
	return ""
}
