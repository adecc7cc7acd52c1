package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nginxBin = "/usr/sbin/nginx"

// startNginx runs the real nginx (the Debian package) in the foreground
// with examples/nginx/scd.conf, its root replaced by root and its listen
// address by a free loopback port; pid, logs and temporary files live in
// a temporary directory. Without nginx the test is skipped, except under
// CI, where it fails. It returns the base URL.
func startNginx(t testing.TB, root string) string {
	t.Helper()
	bin, err := exec.LookPath(nginxBin)
	if err != nil {
		bin, err = exec.LookPath("nginx")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is required under CI (apt-get install -y nginx)")
		}
		t.Skip("SKIP: nginx not installed (apt-get install -y nginx); the nginx tests did not run")
	}
	shipped, err := os.ReadFile("../examples/nginx/scd.conf")
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	site := string(shipped)
	for old, new := range map[string]string{
		"listen 80;":        "listen " + addr + ";",
		"root /srv/static/": "root " + root + "/",
	} {
		if !strings.Contains(site, old) {
			t.Fatalf("scd.conf has no %q", old)
		}
		site = strings.ReplaceAll(site, old, new)
	}
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read the test's private temp dirs
	}
	mime := "/etc/nginx/mime.types"
	if _, err := os.Stat(mime); err != nil {
		mime = filepath.Join(filepath.Dir(filepath.Dir(bin)), "conf", "mime.types")
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process on;
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
    include %[3]s;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[4]s
}
`, user, dir, mime, site)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // fast shutdown
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if log, _ := os.ReadFile(filepath.Join(dir, "error.log")); strings.Contains(string(log), "[crit]") || strings.Contains(string(log), "[alert]") || strings.Contains(string(log), "[emerg]") {
			t.Errorf("nginx error log:\n%s", log)
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(base + "/")
		if err == nil {
			res.Body.Close()
			return base
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNginxHeaders(t *testing.T) {
	x := stageTarget(t)
	base := startNginx(t, x.root)
	const job = "/frontend/Acme/shop/en_US/"
	var hashed string
	for _, a := range x.assets {
		if strings.HasPrefix(a, job+"css/styles.") {
			hashed = a
		}
	}
	// Magento's static signing prefix: nginx cannot read
	// deployed_version.txt, so any version is immutable there.
	const v = "/static/version1733472000"
	tests := []struct {
		name, path, accept string
		code               int
		cache, enc, vary   string // nginx sends Vary where a .gz exists
		same               string // unversioned path that must give the same bytes and ETag
	}{
		{"hashed asset immutable", hashed, "", 200, cacheImmutable, "", "Accept-Encoding", ""},
		{"hashed asset gzip_static", hashed, "gzip, br", 200, cacheImmutable, "gzip", "Accept-Encoding", ""},
		{"page revalidated", job + "template/product.html", "", 200, "no-cache", "", "Accept-Encoding", ""},
		{"page gzip_static", job + "template/product.html", "gzip", 200, "no-cache", "gzip", "Accept-Encoding", ""},
		{"manifest revalidated", job + "manifest.json", "", 200, "no-cache", "", "", ""},
		{"no listing", job + "css/", "", 404, "", "", "", ""},
		{"no dot files", "/.complete", "", 404, "", "", "", ""},
		{"no traversal", "/../releases.json", "", 400, "", "", "", ""},
		{"versioned page immutable", v + job + "template/product.html", "", 200, cacheImmutable, "", "Accept-Encoding", job + "template/product.html"},
		{"versioned page gzip_static", v + job + "template/product.html", "gzip", 200, cacheImmutable, "gzip", "Accept-Encoding", job + "template/product.html"},
		{"versioned manifest immutable", v + job + "manifest.json", "", 200, cacheImmutable, "", "", job + "manifest.json"},
		{"versioned hashed asset", v + hashed, "gzip", 200, cacheImmutable, "gzip", "Accept-Encoding", hashed},
		{"versioned without /static", "/version1" + job + "template/product.html", "", 200, cacheImmutable, "", "Accept-Encoding", job + "template/product.html"},
		{"version without digits", "/static/version" + job + "manifest.json", "", 404, "", "", "", ""},
		{"version with letters", "/static/versionabc" + job + "manifest.json", "", 404, "", "", "", ""},
		{"version with digits then letters", v + "a" + job + "manifest.json", "", 404, "", "", "", ""},
		{"static without version", "/static" + job + "manifest.json", "", 404, "", "", "", ""},
		{"version prefix alone", v + "/", "", 404, "", "", "", ""},
		{"versioned directory", v + job + "css/", "", 404, "", "", "", ""},
		{"versioned dot file", v + "/.complete", "", 404, "", "", "", ""},
		{"versioned traversal", v + "/../../releases.json", "", 400, "", "", "", ""},
		{"versioned encoded traversal", v + "/%2e%2e/%2e%2e/releases.json", "", 400, "", "", "", ""},
	}
	fetch := func(t *testing.T, path, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		if strings.Contains(path, "..") || strings.Contains(path, "%") {
			req.URL.Opaque = path
		}
		res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, body
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := fetch(t, tt.path, tt.accept)
			if res.StatusCode != tt.code && !(tt.code == 400 && res.StatusCode == 404) {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.code)
			}
			if tt.code != 200 {
				return
			}
			if tt.same != "" {
				plain, plainBody := fetch(t, tt.same, tt.accept)
				if plain.StatusCode != 200 || !bytes.Equal(body, plainBody) || res.Header.Get("ETag") != plain.Header.Get("ETag") {
					t.Errorf("%s and %s differ: %d, %q and %q", tt.path, tt.same, plain.StatusCode, res.Header.Get("ETag"), plain.Header.Get("ETag"))
				}
				if got := plain.Header.Get("Cache-Control"); got == cacheImmutable && !isHashed(tt.same) {
					t.Errorf("unversioned %s is immutable", tt.same)
				}
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.enc {
				t.Errorf("Content-Encoding %q, want %q", got, tt.enc)
			}
			if got := res.Header.Get("Vary"); got != tt.vary {
				t.Errorf("Vary %q, want %q", got, tt.vary)
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}

// TestNginxSwitchUnderLoad: the acceptance load test through the real
// nginx and the shipped config, during 50 activations by the publisher.
func TestNginxSwitchUnderLoad(t *testing.T) {
	x := stageTarget(t)
	base := startNginx(t, x.root)
	l := &load{base: base, x: x, clients: 32}
	ctx, stop := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { l.run(ctx); close(loaded) }()
	time.Sleep(200 * time.Millisecond)
	for i := range 50 {
		if err := x.tg.Activate(context.Background(), x.ids[(i+1)%2]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	<-loaded
	l.report(t)
	if l.requests.Load() < 1000 {
		t.Errorf("only %d requests", l.requests.Load())
	}
}
