package hooks

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/hooks/flush"
	"github.com/scdtool/scd/hooks/run"
)

// decode parses a themes.yml text and decodes its deploy: section.
func decode(t *testing.T, src string) (*Config, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "deploy" {
			return Decode("themes.yml", []byte(src), root.Content[i+1])
		}
	}
	return Decode("themes.yml", []byte(src), nil)
}

const full = `themes: []
deploy:
  base_url: https://shop.example/
  preview_url: http://127.0.0.1:6081/-/preview/{release}/
  static_path: /static
  hosts: [www.shop.example]
  warm_up_pages: [/, "/static/{area}/{theme}/{locale}/{template}"]
  warm_up_sitemaps: [/sitemap.xml]
  warm_up_concurrency: 4
  ttfb_tested_pages: [/]
  warm_up:
    timeout: 10s
    expect_status: [200, 301]
    encodings: [br, identity]
    headers: {X-Warm: "1"}
    ttfb_budget: 500ms
    ttfb_p95_budget: 0.3
    on_budget: continue
  flush:
    - name: varnish
      type: ban
      url: http://127.0.0.1:6081/
      headers: {X-Ban-Url: "{pattern}", X-Ban-Host: shop.example}
      retries: 5
      backoff: 100ms
    - name: cdn
      type: http
      url: https://api.cdn.example/purge
      base: https://shop.example
      body: '{"files": {urls}}'
      batch: 30
      on_failure: continue
    - type: command
      command: [/usr/local/bin/purge, "{urls}"]
  hooks:
    pre_activate:
      - name: smoke
        command: [./bin/smoke, --release, "{release}"]
        timeout: 1m
    on_failure:
      - name: page
        shell: true
        command: 'curl -fsS "$HOOK_URL" -d "$SCD_ERROR"'
        env: {HOOK_URL: "https://hooks.example/x"}
`

func TestDecodeAndConvert(t *testing.T) {
	c, err := decode(t, full)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.WarmUpConcurrency != 4 || time.Duration(c.WarmUp.TTFBP95Budget) != 300*time.Millisecond || len(c.Flush) != 3 {
		t.Errorf("config %+v", c)
	}
	ts := c.FlushTargets()
	if ts[0].Kind != flush.Ban || ts[0].Retries != 5 || ts[0].Backoff != 100*time.Millisecond || ts[1].Policy != flush.Continue || ts[1].Batch != 30 {
		t.Errorf("targets %+v", ts)
	}
	hs := c.RunHooks()
	if len(hs) != 2 || hs[0].Phase != run.PreActivate || hs[0].Timeout != time.Minute || hs[1].Phase != run.OnFailure || !hs[1].Shell || hs[1].Env["HOOK_URL"] == "" {
		t.Errorf("hooks %+v", hs)
	}

	live := c.WarmUpOptions("", []string{"/"})
	if live.Base != "https://shop.example/" || live.Rebase || live.Concurrency != 4 || !live.AllowOverBudget || live.AllowFailures || live.Header.Get("X-Warm") != "1" {
		t.Errorf("live %+v", live)
	}
	pre := c.WarmUpOptions("20260101T000000Z-abcd1234", []string{"/"})
	if pre.Base != "http://127.0.0.1:6081/-/preview/20260101T000000Z-abcd1234/" || !pre.Rebase || pre.Header.Get(ReleaseHeader) != "" {
		t.Errorf("preview %+v", pre)
	}
	c.PreviewURL = ""
	pre = c.WarmUpOptions("r2", nil)
	if pre.Base != "https://shop.example/" || pre.Header.Get(ReleaseHeader) != "r2" || live.Header.Get(ReleaseHeader) != "" {
		t.Errorf("preview by header %+v", pre)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key with suggestion", "deploy:\n  warmup_pages: [/]\n", []string{"themes.yml:2:3: unknown key warmup_pages in deploy (did you mean warm_up_pages?)"}},
		{"unknown nested key", "deploy:\n  flush:\n    - type: ban\n      urll: x\n", []string{"themes.yml:4:7: unknown key urll in deploy.flush[0]"}},
		{"unknown phase", "deploy:\n  hooks:\n    post-deploy: []\n", []string{"themes.yml:3:5: unknown key post-deploy in deploy.hooks (did you mean post_deploy?)"}},
		{"bad duration", "deploy:\n  warm_up:\n    timeout: soon\n", []string{"invalid duration \"soon\""}},
		{"bad type", "deploy:\n  warm_up_concurrency: many\n", []string{"themes.yml:2:3", "cannot unmarshal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(t, tc.src)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if diag.KindOf(err) != diag.Config {
				t.Error("not a config error")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	src := `deploy:
  preview_url: http://127.0.0.1/-/preview/
  warm_up_pages: [/]
  warm_up_concurrency: -1
  warm_up:
    expect_status: [2000]
    on_page_error: ignore
  flush:
    - type: purge
    - type: varnish
      url: http://x/
    - type: command
      command: purge --all
  hooks:
    post_deploy:
      - name: a
        command: echo hi; rm -rf /
      - shell: true
        command: [echo, hi]
      - name: empty
`
	c, err := decode(t, src)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"themes.yml:2:3: deploy.base_url: required when warm-up pages",
		"themes.yml:2:16: deploy.preview_url: must contain {release}",
		"themes.yml:4:24: deploy.warm_up_concurrency: must not be negative",
		"themes.yml:6:21: deploy.warm_up.expect_status[0]: 2000 is not an HTTP status",
		"deploy.warm_up.on_page_error: \"ignore\": expected fail or continue",
		"themes.yml:9:7: deploy.flush[0]: purge target needs base",
		"deploy.flush[1]: unknown target type \"varnish\"",
		"themes.yml:13:16: deploy.flush[2].command: write the command as a list",
		"themes.yml:17:18: deploy.hooks.post_deploy[0].command: \"echo hi; rm -rf /\" has spaces",
		"deploy.hooks.post_deploy[1].command: with shell: true, command is one script string",
		"deploy.hooks.post_deploy[2]: needs command",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q", w)
		}
	}
	for _, e := range diag.Flatten(err) {
		var de *diag.Error
		if !errors.As(e, &de) || de.Kind != diag.Config {
			t.Errorf("%v is not a *diag.Error of kind Config", e)
		}
	}
	if t.Failed() {
		t.Log(err)
	}
}

func TestEmpty(t *testing.T) {
	c, err := decode(t, "themes: []\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// A Config built in Go, not decoded, still validates (unlocated).
	err = (&Config{WarmUpPages: []string{"/"}}).Validate()
	if err == nil || !strings.Contains(err.Error(), "deploy.base_url") {
		t.Errorf("err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("deploy:\n  flush: [{type: ban, url: x, retries: -1}]\n  hooks: {on_failure: [{command: x, shell: true}]}\n"))
	f.Add([]byte("deploy: &a\n  hosts: *a\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		var doc yaml.Node
		if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return
		}
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "deploy" {
				c, err := Decode("themes.yml", src, root.Content[i+1])
				if err == nil {
					_ = c.Validate()
					_ = c.FlushTargets()
					_ = c.RunHooks()
					_ = c.WarmUpOptions("r", nil)
				}
			}
		}
	})
}
