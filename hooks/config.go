package hooks

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scdtool/scd/diag"
	"github.com/scdtool/scd/hooks/flush"
	"github.com/scdtool/scd/hooks/run"
	"github.com/scdtool/scd/hooks/warmup"
)

// Config is the `deploy:` section of themes.yml. Keys follow Adobe
// Commerce's ece-tools where it has one (WARM_UP_PAGES → warm_up_pages,
// WARM_UP_CONCURRENCY, TTFB_TESTED_PAGES), so a team moving from
// .magento.env.yaml recognises them.
//
//	deploy:
//	  base_url: https://shop.example/
//	  preview_url: http://127.0.0.1:6081/-/preview/{release}/
//	  hosts: [www.shop.example]
//	  warm_up_pages: [/, "/static/{area}/{theme}/{locale}/{template}"]
//	  warm_up_sitemaps: [/sitemap.xml]
//	  warm_up_concurrency: 8
//	  ttfb_tested_pages: [/]
//	  warm_up: {timeout: 10s, ttfb_budget: 500ms, ttfb_p95_budget: 300ms}
//	  flush:
//	    - {name: varnish, type: ban, url: "http://127.0.0.1:6081/", headers: {X-Ban-Url: "{pattern}"}}
//	  hooks:
//	    post_deploy:
//	      - {name: notify, command: [./bin/notify, "{release}"]}
type Config struct {
	// BaseURL is the live address warm-up requests after the switch, and
	// the base of flushed URLs.
	BaseURL string `yaml:"base_url"`
	// PreviewURL is where the staged release is reachable before the
	// switch; {release} is replaced by its id. "" warms the staged release
	// at BaseURL with the header X-Scd-Release: <id> (see scd.vcl).
	PreviewURL string `yaml:"preview_url"`
	// StaticPath is the URL path the release root is served at ("/static"),
	// prefixed to the flushed logical names.
	StaticPath string `yaml:"static_path"`
	// Hosts are further hosts absolute pages and sitemaps may name.
	Hosts []string `yaml:"hosts"`

	WarmUpPages       []string     `yaml:"warm_up_pages"`
	WarmUpSitemaps    []string     `yaml:"warm_up_sitemaps"`
	WarmUpConcurrency int          `yaml:"warm_up_concurrency"`
	TTFBTestedPages   []string     `yaml:"ttfb_tested_pages"`
	WarmUp            WarmUpConfig `yaml:"warm_up"`

	Flush []FlushConfig `yaml:"flush"`
	Hooks HooksConfig   `yaml:"hooks"`

	// file and pos locate keys for Validate's messages; set by Decode.
	file string
	src  []byte
	pos  map[string]position
}

// WarmUpConfig holds the warm-up settings ece-tools has no name for.
type WarmUpConfig struct {
	Timeout       Duration          `yaml:"timeout"`
	ExpectStatus  []int             `yaml:"expect_status"`
	Encodings     []string          `yaml:"encodings"`
	Headers       map[string]string `yaml:"headers"`
	SitemapLimit  int               `yaml:"sitemap_limit"`
	TTFBBudget    Duration          `yaml:"ttfb_budget"`
	TTFBP95Budget Duration          `yaml:"ttfb_p95_budget"`
	// OnPageError and OnBudget are "fail" (default) or "continue".
	OnPageError string `yaml:"on_page_error"`
	OnBudget    string `yaml:"on_budget"`
}

// FlushConfig is one entry of `flush:`; see flush.Target for the fields.
type FlushConfig struct {
	Name        string            `yaml:"name"`
	Type        string            `yaml:"type"` // purge, ban, http, command
	Base        string            `yaml:"base"`
	Host        string            `yaml:"host"`
	URL         string            `yaml:"url"`
	Method      string            `yaml:"method"`
	Headers     map[string]string `yaml:"headers"`
	Body        string            `yaml:"body"`
	Batch       int               `yaml:"batch"`
	Command     Command           `yaml:"command"`
	Expect      []int             `yaml:"expect_status"`
	Timeout     Duration          `yaml:"timeout"`
	Retries     int               `yaml:"retries"`
	Backoff     Duration          `yaml:"backoff"`
	MaxBackoff  Duration          `yaml:"max_backoff"`
	Concurrency int               `yaml:"concurrency"`
	OnFailure   string            `yaml:"on_failure"` // fail (default) or continue
}

// HooksConfig lists user commands per phase.
type HooksConfig struct {
	PreBuild    []HookConfig `yaml:"pre_build"`
	PostBuild   []HookConfig `yaml:"post_build"`
	PreActivate []HookConfig `yaml:"pre_activate"`
	PostDeploy  []HookConfig `yaml:"post_deploy"`
	OnFailure   []HookConfig `yaml:"on_failure"`
}

// HookConfig is one user command. Command is a list (argv) or, with
// shell: true, one script string.
type HookConfig struct {
	Name    string            `yaml:"name"`
	Command Command           `yaml:"command"`
	Shell   bool              `yaml:"shell"`
	Dir     string            `yaml:"dir"`
	Env     map[string]string `yaml:"env"`
	Timeout Duration          `yaml:"timeout"`
}

// Command is an argv that may be written as a YAML string; Validate
// rejects a string with spaces unless shell: true, because splitting it
// would be guessing what a shell would have done.
type Command struct {
	Argv   []string
	Scalar bool // written as a string
}

// UnmarshalYAML accepts a string or a list of strings.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Argv, c.Scalar = []string{n.Value}, true
		return nil
	}
	c.Scalar = false
	return n.Decode(&c.Argv)
}

// Duration is a time.Duration written as "10s", "250ms"; a bare number is
// seconds, as in ece-tools.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 10s")
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q: expected e.g. 500ms, 10s or 2m", n.Value)
	}
	*d = Duration(v)
	return nil
}

type position struct{ line, col int }

// Decode reads a `deploy:` value node of file (src is the file's text, for
// the source lines in messages). Unknown keys and values of the wrong type
// are located errors (Kind diag.Config), all of them reported together.
// Decode does not Validate.
func Decode(file string, src []byte, n *yaml.Node) (*Config, error) {
	c := &Config{file: file, src: src, pos: map[string]position{}}
	if n == nil {
		return c, nil
	}
	var errs []error
	c.walk(n, reflect.TypeOf(*c), "", &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := n.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				errs = append(errs, c.errAt(position{n.Line, n.Column}, "deploy: %s", m))
			}
			return nil, errors.Join(errs...)
		}
		return nil, c.errAt(position{n.Line, n.Column}, "deploy: %v", err)
	}
	return c, nil
}

// walk records the position of every key below n and reports keys that t
// (a struct) does not have. Maps accept any key.
func (c *Config) walk(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	c.pos[path] = position{n.Line, n.Column}
	switch {
	case t == reflect.TypeOf(Command{}) || t == reflect.TypeOf(Duration(0)):
		return
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.StructField{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && f.IsExported() {
				fields[tag] = f
				names = append(names, tag)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %s in %s", k.Value, orDeploy(path))
				if s := suggest(k.Value, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				*errs = append(*errs, c.errAt(position{k.Line, k.Column}, "%s", msg))
				continue
			}
			c.walk(v, f.Type, join(path, k.Value), errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			c.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.pos[join(path, n.Content[i].Value)] = position{n.Content[i+1].Line, n.Content[i+1].Column}
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orDeploy(path string) string {
	if path == "" {
		return "deploy"
	}
	return "deploy." + path
}

// suggest returns the known name closest to a misspelt key (warmup_pages →
// warm_up_pages), or "".
func suggest(key string, names []string) string {
	norm := func(s string) string { return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s)) }
	for _, n := range names {
		if norm(n) == norm(key) {
			return n
		}
	}
	return ""
}

func (c *Config) errAt(p position, format string, args ...any) *diag.Error {
	e := diag.Configf(c.file, p.line, p.col, format, args...)
	if p.line > 0 {
		e.Source = diag.LineText(c.src, p.line)
	}
	return e
}

// at returns an error located at the key path (e.g. "flush[1].url"), or at
// the nearest enclosing key Decode saw.
func (c *Config) at(path, format string, args ...any) *diag.Error {
	for p := path; ; {
		if pos, ok := c.pos[p]; ok {
			return c.errAt(pos, format, args...)
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			if pos, ok := c.pos[""]; ok && p != "" {
				return c.errAt(pos, format, args...)
			}
			return c.errAt(position{}, format, args...)
		}
		p = p[:i]
	}
}

// Validate checks c and returns every problem as a *diag.Error (Kind
// diag.Config) joined, located when c came from Decode.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, c.at(path, "deploy.%s: "+format, append([]any{path}, args...)...))
	}
	checkURL := func(path, s string, required bool) {
		if s == "" {
			if required {
				add(path, "required when warm-up pages or sitemaps are configured")
			}
			return
		}
		u, err := url.Parse(strings.ReplaceAll(s, "{release}", "r"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(path, "%q is not an absolute http(s) URL", s)
		}
	}
	warms := len(c.WarmUpPages)+len(c.WarmUpSitemaps)+len(c.TTFBTestedPages) > 0
	checkURL("base_url", c.BaseURL, warms)
	checkURL("preview_url", c.PreviewURL, false)
	if c.PreviewURL != "" && !strings.Contains(c.PreviewURL, "{release}") {
		add("preview_url", "must contain {release}, or every staged release would share one preview address")
	}
	for i, h := range c.Hosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			add(fmt.Sprintf("hosts[%d]", i), "%q is not a host (host or host:port)", h)
		}
	}
	if c.WarmUpConcurrency < 0 {
		add("warm_up_concurrency", "must not be negative, got %d", c.WarmUpConcurrency)
	}
	for i, p := range c.WarmUpPages {
		if strings.TrimSpace(p) == "" {
			add(fmt.Sprintf("warm_up_pages[%d]", i), "must not be empty")
		}
	}
	w := c.WarmUp
	for name, d := range map[string]Duration{"warm_up.timeout": w.Timeout, "warm_up.ttfb_budget": w.TTFBBudget, "warm_up.ttfb_p95_budget": w.TTFBP95Budget} {
		if d < 0 {
			add(name, "must not be negative")
		}
	}
	for i, s := range w.ExpectStatus {
		if s < 100 || s > 599 {
			add(fmt.Sprintf("warm_up.expect_status[%d]", i), "%d is not an HTTP status", s)
		}
	}
	if w.SitemapLimit < 0 {
		add("warm_up.sitemap_limit", "must not be negative")
	}
	for key, v := range map[string]string{"warm_up.on_page_error": w.OnPageError, "warm_up.on_budget": w.OnBudget} {
		if v != "" && v != "fail" && v != "continue" {
			add(key, "%q: expected fail or continue", v)
		}
	}
	for i, f := range c.Flush {
		path := fmt.Sprintf("flush[%d]", i)
		for _, p := range f.Target().Check() {
			add(path, "%s", p)
		}
		if f.Type == string(flush.Command) && f.Command.Scalar && strings.ContainsAny(f.Command.Argv[0], " \t") {
			add(path+".command", "write the command as a list [program, arg, …]: flush commands never run through a shell")
		}
		if f.Retries < -1 {
			add(path+".retries", "must be -1 (none) or more")
		}
	}
	for _, ph := range c.Hooks.phases() {
		for i, h := range ph.hooks {
			path := fmt.Sprintf("hooks.%s[%d]", ph.phase, i)
			switch {
			case len(h.Command.Argv) == 0 || h.Command.Argv[0] == "":
				add(path, "needs command")
			case h.Shell && len(h.Command.Argv) != 1:
				add(path+".command", "with shell: true, command is one script string")
			case !h.Shell && h.Command.Scalar && strings.ContainsAny(h.Command.Argv[0], " \t"):
				add(path+".command", "%q has spaces: write it as a list [program, arg, …], or set shell: true to run it with /bin/sh", h.Command.Argv[0])
			}
			if h.Timeout < 0 {
				add(path+".timeout", "must not be negative")
			}
		}
	}
	// By position, as the matrix reports its own errors.
	slices.SortStableFunc(errs, func(a, b error) int {
		x, y := a.(*diag.Error), b.(*diag.Error)
		return cmp.Or(cmp.Compare(x.Line, y.Line), cmp.Compare(x.Col, y.Col), strings.Compare(x.Msg, y.Msg))
	})
	return errors.Join(errs...)
}

type phaseHooks struct {
	phase run.Phase
	hooks []HookConfig
}

func (h HooksConfig) phases() []phaseHooks {
	return []phaseHooks{
		{run.PreBuild, h.PreBuild}, {run.PostBuild, h.PostBuild}, {run.PreActivate, h.PreActivate},
		{run.PostDeploy, h.PostDeploy}, {run.OnFailure, h.OnFailure},
	}
}

// Target converts f for flush.Run.
func (f FlushConfig) Target() flush.Target {
	return flush.Target{
		Name: f.Name, Kind: flush.Kind(f.Type), Base: f.Base, Host: f.Host, URL: f.URL,
		Method: f.Method, Headers: f.Headers, Body: f.Body, Batch: f.Batch, Command: f.Command.Argv,
		Expect: f.Expect, Timeout: time.Duration(f.Timeout), Retries: f.Retries,
		Backoff: time.Duration(f.Backoff), MaxBackoff: time.Duration(f.MaxBackoff),
		Concurrency: f.Concurrency, Policy: flush.Policy(f.OnFailure),
	}
}

// FlushTargets converts every flush entry.
func (c *Config) FlushTargets() []flush.Target {
	out := make([]flush.Target, len(c.Flush))
	for i, f := range c.Flush {
		out[i] = f.Target()
	}
	return out
}

// RunHooks converts the hooks of every phase for run.Run, in phase order.
func (c *Config) RunHooks() []run.Hook {
	var out []run.Hook
	for _, ph := range c.Hooks.phases() {
		for _, h := range ph.hooks {
			out = append(out, run.Hook{
				Name: h.Name, Phase: ph.phase, Command: h.Command.Argv, Shell: h.Shell,
				Dir: h.Dir, Env: h.Env, Timeout: time.Duration(h.Timeout),
			})
		}
	}
	return out
}

// ReleaseHeader is the request header that selects a staged release
// through a cache running examples/varnish/scd.vcl (or scd serve).
const ReleaseHeader = "X-Scd-Release"

// WarmUpOptions returns the warm-up options for the live address (release
// "") or for the preview of a staged release. pages are the warm-up pages
// already expanded with warmup.Expand. Logger and Client are left for the
// caller.
func (c *Config) WarmUpOptions(release string, pages []string) warmup.Options {
	w := c.WarmUp
	o := warmup.Options{
		Base:            c.BaseURL,
		Hosts:           c.Hosts,
		Pages:           pages,
		Sitemaps:        c.WarmUpSitemaps,
		SitemapLimit:    w.SitemapLimit,
		TTFBPages:       c.TTFBTestedPages,
		Concurrency:     c.WarmUpConcurrency,
		Timeout:         time.Duration(w.Timeout),
		Expect:          w.ExpectStatus,
		Encodings:       w.Encodings,
		Budget:          warmup.Budget{Page: time.Duration(w.TTFBBudget), P95: time.Duration(w.TTFBP95Budget)},
		AllowFailures:   w.OnPageError == "continue",
		AllowOverBudget: w.OnBudget == "continue",
	}
	if len(w.Headers) > 0 {
		o.Header = http.Header{}
		for k, v := range w.Headers {
			o.Header.Set(k, v)
		}
	}
	if release != "" {
		// Pages of the live site (its sitemap, absolute pages) are requested
		// at the preview address instead.
		o.Rebase = true
		if c.PreviewURL != "" {
			o.Base = strings.ReplaceAll(c.PreviewURL, "{release}", url.PathEscape(release))
			if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" {
				o.Hosts = append(append([]string(nil), o.Hosts...), u.Host)
			}
		} else {
			if o.Header == nil {
				o.Header = http.Header{}
			}
			o.Header.Set(ReleaseHeader, release)
		}
	}
	return o
}
