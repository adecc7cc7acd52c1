package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/deploy"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/internal/varnishtest"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
)

// buildSample builds the sample in dir into out, as builder's own
// acceptance test does.
func buildSample(t *testing.T, dir, out string) string {
	t.Helper()
	cfg, err := matrix.Load(filepath.Join(dir, "themes.yml"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := cfg.Jobs(matrix.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: 2, WorkDir: dir, CacheDir: ""}); err != nil {
		t.Fatal(err)
	}
	return out
}

// varnishVCL returns examples/varnish/scd.vcl with its two backends
// pointed at the stack's public and preview listeners.
func varnishVCL(t *testing.T, s *stack) string {
	data, err := os.ReadFile("../examples/varnish/scd.vcl")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse(s.public.URL)
	pre, _ := url.Parse(s.preview.URL)
	v := strings.Replace(string(data), `.port = "8080";`, `.port = "`+pub.Port()+`";`, 1)
	v = strings.Replace(v, `.port = "8081";`, `.port = "`+pre.Port()+`";`, 1)
	if !strings.Contains(v, pub.Port()) || !strings.Contains(v, pre.Port()) {
		t.Fatal("scd.vcl: backends not found to rewrite")
	}
	return v
}

type vres struct {
	status         int
	body           string
	cache, release string
}

func vget(t *testing.T, u, enc string) vres {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if enc != "" {
		req.Header.Set("Accept-Encoding", enc)
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return vres{res.StatusCode, string(b), res.Header.Get("X-Cache"), res.Header.Get("X-Scd-Release")}
}

// TestVarnishAcceptance is the acceptance test: a real Varnish
// running examples/varnish/scd.vcl in front of an in-process scd serve of
// a local target, the sample built twice, deployed through this package.
func TestVarnishAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("real Varnish: skipped with -short")
	}
	if varnishtest.Binary() == "" && os.Getenv("CI") != "true" {
		t.Log("SKIPPING: varnishd not found (apt-get install -y varnish, or set SCD_VARNISHD)")
	}
	s := newStack(t)
	v := varnishtest.Start(t, varnishVCL(t, s))

	// Build 1 has a template that build 2 drops; build 2 changes a
	// template and a JavaScript module (so its hashed name).
	src := filepath.Join(t.TempDir(), "sample")
	if err := fixtures.CopySample(src); err != nil {
		t.Fatal(err)
	}
	shop := filepath.Join(src, "app/design/frontend/Acme/shop/web")
	os.WriteFile(filepath.Join(shop, "template/legacy.html"), []byte("<p>legacy</p>\n"), 0o644)
	out1 := buildSample(t, src, filepath.Join(t.TempDir(), "b1"))
	os.Remove(filepath.Join(shop, "template/legacy.html"))
	appendFile(t, filepath.Join(shop, "template/product.html"), "<p>release-two-marker</p>\n")
	appendFile(t, filepath.Join(shop, "js/cart.js"), "\nexport const releaseTwo = 'two';\n")
	out2 := buildSample(t, src, filepath.Join(t.TempDir(), "b2"))

	conf := fmt.Sprintf(`
base_url: %[1]s/
preview_url: %[1]s/-/preview/{release}/
warm_up_pages: ["/{dir}/{template}", "/{dir}/manifest.json"]
warm_up: {timeout: 10s}
flush: [{name: varnish, type: ban, url: %[1]s/, headers: {X-Ban-Url: "{pattern}"}}]
`, v.URL)
	cfg := config(t, conf)
	log := testLogger(t)
	run := func(o deploy.Options) (*deploy.Report, error) {
		o.Targets, o.Logger = []deploy.Target{s.target()}, log
		if o.Config == nil {
			o.Config = cfg
		}
		return deploy.Run(t.Context(), o)
	}
	product := v.URL + "/frontend/Acme/shop/en_US/template/product.html"

	// Release 1.
	rep, err := run(deploy.Options{From: out1})
	if err != nil {
		t.Fatalf("deploy 1: %v", err)
	}
	r1 := rep.Release
	if got := vget(t, product, ""); got.status != 200 || strings.Contains(got.body, "release-two-marker") {
		t.Fatalf("release 1 through Varnish: %+v", got)
	}

	// A staged release whose warm-up fails (legacy.html is gone from it)
	// is never activated: users keep release 1.
	bad := config(t, conf+"ttfb_tested_pages: [/frontend/Acme/shop/en_US/template/legacy.html]\n")
	rep, err = run(deploy.Options{From: out2, Config: bad})
	if deploy.ExitCode(err) != deploy.ExitFailed || rep.FailedStep != "warm up preview" || rep.Targets[0].Activated {
		t.Fatalf("failing preview warm-up: code %d, %+v", deploy.ExitCode(err), rep)
	}
	t.Logf("preview warm-up failure reported: %s", rep.Error)
	if got := vget(t, product, ""); got.release != r1 || strings.Contains(got.body, "release-two-marker") {
		t.Fatalf("users left release 1: %+v", got)
	}

	// Release 2: through Varnish, no stale HTML; warmed pages are hits.
	rep, err = run(deploy.Options{From: out2})
	if err != nil {
		t.Fatalf("deploy 2: %v\n%+v", err, rep.Steps)
	}
	r2 := rep.Release
	t.Logf("flush: %s; live warm-up: %s", rep.Step("flush caches").Detail, rep.Step("warm up live").Detail)
	if got := vget(t, product, "gzip, deflate, br, zstd"); got.status != 200 || got.cache != "HIT" || got.release != r2 {
		t.Errorf("warmed page after deploy 2: %+v (want a HIT of %s)", got, r2)
	}
	if got := vget(t, product, ""); !strings.Contains(got.body, "release-two-marker") || got.release != r2 {
		t.Errorf("stale HTML after deploy 2: %+v", got)
	}
	if got := vget(t, v.URL+"/frontend/Acme/shop/en_US/manifest.json", "gzip, deflate, br, zstd"); got.cache != "HIT" || got.release != r2 {
		t.Errorf("manifest after deploy 2: %+v", got)
	}
	// The old release's hashed assets stay reachable (skew protection).
	old := changedHashed(t, out1, out2, "frontend/Acme/shop/en_US")
	if got := vget(t, v.URL+"/frontend/Acme/shop/en_US/"+old, "br"); got.status != 200 {
		t.Errorf("old hashed asset %s: %+v", old, got)
	}

	// A verification failure after the switch rolls back: Varnish serves
	// release 2 again, not the rolled-back release.
	rep, err = run(deploy.Options{From: out1, Verify: func(context.Context, *deploy.Context) error {
		if got := vget(t, product, ""); strings.Contains(got.body, "release-two-marker") {
			return errors.New("switch not visible")
		}
		return errors.New("injected smoke-test failure")
	}})
	if deploy.ExitCode(err) != deploy.ExitRolledBack || !rep.Targets[0].RolledBack || !strings.Contains(rep.Error, "injected smoke-test failure") {
		t.Fatalf("verification failure: code %d, %+v", deploy.ExitCode(err), rep)
	}
	for _, enc := range []string{"", "gzip, deflate, br, zstd"} {
		if got := vget(t, product, enc); got.release != r2 {
			t.Errorf("after the rollback (%q): %+v, want release %s", enc, got, r2)
		}
	}
	if got := vget(t, product, ""); !strings.Contains(got.body, "release-two-marker") {
		t.Errorf("after the rollback: %q", got.body)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

// changedHashed returns a hashed file of job in build a that build b no
// longer has.
func changedHashed(t *testing.T, a, b, job string) string {
	t.Helper()
	read := func(dir string) manifest.Manifest {
		var m manifest.Manifest
		data, err := os.ReadFile(filepath.Join(dir, job, manifest.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(data, &m)
		return m
	}
	ma, mb := read(a), read(b)
	for logical, x := range ma {
		if x.File != logical && mb[logical].File != x.File {
			return x.File
		}
	}
	t.Fatal("no hashed asset changed between the builds")
	return ""
}
