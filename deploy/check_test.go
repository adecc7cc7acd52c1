package deploy_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/deploy"
)

// matrixFile writes a one-theme themes.yml ending with extra.
func matrixFile(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "app/design/frontend/Acme/shop/web/css"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app/design/frontend/Acme/shop/web/css/a.css"), []byte("a{}"), 0o644)
	f := filepath.Join(dir, "themes.yml")
	src := "source: app/design\nthemes:\n  - {name: Acme/shop, area: frontend}\n" + extra
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

const goodDeploy = `deploy:
  base_url: http://shop.test/
  warm_up_pages: [/]
  flush: [{name: varnish, type: ban, url: "http://cache.test:6081/", headers: {X-Ban-Url: "{pattern}"}}]
`

func TestCheck(t *testing.T) {
	good := writeBuild(t, "<p>one</p>", "aaaa1111", nil)
	// Only cache.test is up; down.test refuses connections.
	dial := func(_ context.Context, _, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "cache.test:") || strings.HasPrefix(addr, "admin.test:") {
			a, b := net.Pipe()
			b.Close()
			return a, nil
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	lookPath := func(f string) (string, error) {
		if f == "purge-cdn" {
			return "/usr/bin/purge-cdn", nil
		}
		return "", errors.New("not found")
	}
	ideal := deploy.CheckOptions{From: good, Keep: 5, KeepAssets: 2, Threads: -1, CPUs: 4}
	tests := []struct {
		name   string
		matrix string
		edit   func(o *deploy.CheckOptions)
		want   map[string]deploy.Level // check → level
		errs   bool
	}{
		{name: "ideal", matrix: goodDeploy, want: map[string]deploy.Level{
			"matrix": "ok", "deploy": "ok", "build phase": "ok", "warm-up": "ok", "flush varnish": "ok",
			"compression": "ok", "threads": "ok", "retention": "ok", "skew protection": "ok"}},
		{name: "matrix invalid", matrix: "bogus_key: 1\n", want: map[string]deploy.Level{"matrix": "error"}, errs: true},
		{name: "deploy invalid", matrix: "deploy: {warmup_pages: [/]}\n", want: map[string]deploy.Level{"deploy": "error"}, errs: true},
		{name: "no deploy section", matrix: "", want: map[string]deploy.Level{"deploy": "warning", "warm-up": "warning", "flush": "warning"}},
		{name: "built at deploy", matrix: goodDeploy, edit: func(o *deploy.CheckOptions) { o.From = "" },
			want: map[string]deploy.Level{"build phase": "warning"}},
		{name: "from not a build", matrix: goodDeploy, edit: func(o *deploy.CheckOptions) { o.From = t.TempDir() },
			want: map[string]deploy.Level{"build phase": "error"}, errs: true},
		{name: "flush down", matrix: strings.Replace(goodDeploy, "cache.test", "down.test", 1),
			want: map[string]deploy.Level{"flush varnish": "error"}, errs: true},
		{name: "flush down, continue", matrix: strings.NewReplacer("cache.test", "down.test", `"{pattern}"}}`, `"{pattern}"}, on_failure: continue}`).Replace(goodDeploy),
			want: map[string]deploy.Level{"flush varnish": "warning"}},
		{name: "flush command", matrix: "deploy:\n  flush: [{name: cdn, type: command, command: [purge-cdn, \"{urls}\"]}, {name: gone, type: command, command: [nope]}]\n",
			want: map[string]deploy.Level{"flush cdn": "ok", "flush gone": "error"}, errs: true},
		{name: "compression off", matrix: "compression: []\n" + goodDeploy, want: map[string]deploy.Level{"compression": "warning"}},
		{name: "magento project, less.js found", matrix: "magento_root: .\n" + goodDeploy,
			edit: func(o *deploy.CheckOptions) {
				o.Less = func() (string, string, error) { return "v22.1.0", "4.9.1", nil }
			},
			want: map[string]deploy.Level{"less": "ok"}},
		{name: "magento project, no node", matrix: "magento_root: .\n" + goodDeploy,
			edit: func(o *deploy.CheckOptions) {
				o.Less = func() (string, string, error) { return "", "", errors.New("less: node not found") }
			},
			want: map[string]deploy.Level{"less": "error"}, errs: true},
		{name: "too many threads", matrix: "threads: 9\n" + goodDeploy, want: map[string]deploy.Level{"threads": "warning"}},
		{name: "threads flag wins", matrix: "threads: 9\n" + goodDeploy, edit: func(o *deploy.CheckOptions) { o.Threads = 8 },
			want: map[string]deploy.Level{"threads": "ok"}},
		{name: "keep 1", matrix: goodDeploy, edit: func(o *deploy.CheckOptions) { o.Keep = 1 }, want: map[string]deploy.Level{"retention": "error"}, errs: true},
		{name: "no skew protection", matrix: goodDeploy, edit: func(o *deploy.CheckOptions) { o.KeepAssets = 0 },
			want: map[string]deploy.Level{"skew protection": "error"}, errs: true},
		{name: "admin down", matrix: goodDeploy, edit: func(o *deploy.CheckOptions) { o.Admins = []string{"admin.test:9000", "down.test:9000"} },
			want: map[string]deploy.Level{"admin admin.test:9000": "ok", "admin down.test:9000": "error"}, errs: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ideal
			o.Matrix, o.Dial, o.LookPath = matrixFile(t, tc.matrix), dial, lookPath
			if tc.edit != nil {
				tc.edit(&o)
			}
			fs := deploy.Check(t.Context(), o)
			got := map[string]deploy.Level{}
			for _, f := range fs {
				if f.Level != deploy.LevelOK && f.Fix == "" {
					t.Errorf("%s: %s has no fix", f.Check, f.What)
				}
				if got[f.Check] != deploy.LevelError && got[f.Check] != deploy.LevelWarning {
					got[f.Check] = f.Level
				}
			}
			for check, want := range tc.want {
				if got[check] != want {
					t.Errorf("%s: %q, want %q\n%+v", check, got[check], want, fs)
				}
			}
			if deploy.HasErrors(fs) != tc.errs {
				t.Errorf("HasErrors = %v\n%+v", !tc.errs, fs)
			}
		})
	}
}

// TestCheckTailwindNeedsNPM: a Magento project with a Hyvä theme needs
// npm for its Tailwind build; without it, scd check says so.
func TestCheckTailwindNeedsNPM(t *testing.T) {
	f := matrixFile(t, "magento_root: .\n"+goodDeploy)
	root := filepath.Dir(f)
	theme := filepath.Join(root, "app/design/frontend/Acme/hyva")
	for name, data := range map[string]string{
		"theme.xml":                 "<theme><title>Hyva</title></theme>\n",
		"web/tailwind/package.json": `{"scripts": {"build": "node build.js"}}` + "\n",
	} {
		p := filepath.Join(theme, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	level := func(lookPath func(string) (string, error)) deploy.Level {
		fs := deploy.Check(context.Background(), deploy.CheckOptions{Matrix: f, Threads: -1, CPUs: 4, LookPath: lookPath,
			Less: func() (string, string, error) { return "v22", "4.9.1", nil }})
		for _, x := range fs {
			if x.Check == "tailwind" {
				if !strings.Contains(x.What, "frontend/Acme/hyva") {
					t.Errorf("finding does not name the theme: %q", x.What)
				}
				return x.Level
			}
		}
		return ""
	}
	if got := level(func(string) (string, error) { return "", errors.New("not found") }); got != deploy.LevelError {
		t.Errorf("without npm: %q, want error", got)
	}
	if got := level(func(f string) (string, error) { return "/usr/bin/" + f, nil }); got != deploy.LevelOK {
		t.Errorf("with npm: %q, want ok", got)
	}
}
