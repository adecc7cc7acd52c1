package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/scdtool/scd/builder/less"
	"github.com/scdtool/scd/hooks"
	"github.com/scdtool/scd/hooks/flush"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/source"
)

// Level is how bad a finding of Check is.
type Level string

// Levels; any LevelError makes `scd check` exit non-zero.
const (
	LevelOK      Level = "ok"
	LevelWarning Level = "warning"
	LevelError   Level = "error"
)

// Finding is one line of `scd check`: what was checked, what was found,
// and how to fix it.
type Finding struct {
	Level Level  `json:"level"`
	Check string `json:"check"`
	What  string `json:"what"`
	Fix   string `json:"fix,omitempty"`
}

// CheckOptions are what `scd check` examines besides themes.yml: the
// flags a deploy would be run with.
type CheckOptions struct {
	Matrix     string // themes.yml
	From       string // the build --from would name ("" = deploy builds)
	Keep       int    // --keep
	KeepAssets int    // --keep-assets (skew protection depth)
	Threads    int    // --threads, or -1 for the matrix file's
	CPUs       int    // 0 = runtime.NumCPU()
	Admins     []string
	// DialTimeout bounds each reachability probe (0 = 2s).
	DialTimeout time.Duration
	// Dial and LookPath replace the network and PATH (tests).
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	LookPath func(string) (string, error)
	// Less reports the node and less.js versions a build of a Magento
	// project compiles LESS with (default less.Check; tests replace it).
	Less func() (node, less string, err error)
}

// Check is the "ideal state" wizard: it validates the configuration and
// environment for a zero-downtime deploy — like ece-tools' wizard:ideal-state
// — and returns every finding, in a stable order.
func Check(ctx context.Context, o CheckOptions) []Finding {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.CPUs <= 0 {
		o.CPUs = runtime.NumCPU()
	}
	var out []Finding
	add := func(l Level, check, what, fix string) { out = append(out, Finding{l, check, what, fix}) }

	cfg, err := matrix.Load(o.Matrix)
	if err != nil {
		add(LevelError, "matrix", oneLine(err), "fix "+o.Matrix+" (scd build reports the same errors with their source lines)")
		return out
	}
	add(LevelOK, "matrix", fmt.Sprintf("%s is valid", o.Matrix), "")

	if cfg.MagentoRoot != "" {
		// Hyvä themes' stylesheets come from their own npm build.
		if m, err := source.LoadMagento(cfg.MagentoRoot); err == nil {
			var hyva []string
			for _, t := range m.Themes() {
				if tw := m.TailwindTheme(t.Area, m.Chain(t.Area, t.Name)); tw != nil && tw.Theme == t {
					hyva = append(hyva, t.Area+"/"+t.Name)
				}
			}
			switch _, err := o.LookPath("npm"); {
			case len(hyva) == 0:
			case err != nil:
				add(LevelError, "tailwind", fmt.Sprintf("%s: the Tailwind build needs npm, which is not on PATH", strings.Join(hyva, ", ")),
					"install Node.js and npm, or build with --no-tailwind and a web/css/styles.css built elsewhere")
			default:
				add(LevelOK, "tailwind", fmt.Sprintf("npm runs the Tailwind build of %s", strings.Join(hyva, ", ")), "")
			}
		}
		// A Magento theme's stylesheets are LESS, compiled by less.js:
		// node is a runtime need of the build then.
		if o.Less == nil {
			o.Less = func() (string, string, error) { return less.Check(less.Options{}) }
		}
		if nodeV, lessV, err := o.Less(); err != nil {
			add(LevelError, "less", oneLine(err), "install Node.js and less.js as the message says, or build with --no-css")
		} else {
			add(LevelOK, "less", fmt.Sprintf("node %s and less.js %s compile the themes' LESS", nodeV, lessV), "")
		}
	}

	dc, err := hooks.Decode(cfg.File, cfg.Data, cfg.Deploy)
	if err == nil {
		err = dc.Validate()
	}
	switch {
	case err != nil:
		add(LevelError, "deploy", oneLine(err), "fix the deploy: section of "+o.Matrix)
		dc = &hooks.Config{}
	case cfg.Deploy == nil:
		add(LevelWarning, "deploy", "no deploy: section: no warm-up, no cache flush", "add a deploy: section (base_url, warm_up_pages, flush)")
	default:
		add(LevelOK, "deploy", "the deploy: section is valid", "")
	}

	// Static content belongs to the build phase: built once, verified,
	// deployed as is; building at deploy time lengthens the window in
	// which something can go wrong and ties the deploy to the sources.
	switch {
	case o.From != "":
		if _, err := publish.VerifyBuild(ctx, o.From); err != nil {
			add(LevelError, "build phase", oneLine(err), "run scd build in the build phase and pass its output to --from")
		} else {
			add(LevelOK, "build phase", "static content is built in the build phase: "+o.From+" is a finished build", "")
		}
	default:
		what := "static content would be built at deploy time"
		if _, err := os.Stat(filepath.Join(cfg.Output, manifest.BuildFile)); err == nil {
			what += fmt.Sprintf(" (a finished build exists in %s)", cfg.Output)
		}
		add(LevelWarning, "build phase", what, "run scd build in the build phase and deploy with --from <its output>")
	}

	if len(dc.WarmUpPages)+len(dc.WarmUpSitemaps) == 0 {
		add(LevelWarning, "warm-up", "no warm_up_pages or warm_up_sitemaps: the first users after a deploy hit cold caches, and the staged release is switched to unchecked",
			"set deploy.warm_up_pages (patterns such as /static/{dir}/{template} expand over the matrix)")
	} else {
		add(LevelOK, "warm-up", fmt.Sprintf("%d warm-up pages, %d sitemaps", len(dc.WarmUpPages), len(dc.WarmUpSitemaps)), "")
		if dc.PreviewURL == "" {
			add(LevelOK, "warm-up", "the staged release is warmed at base_url with the X-Scd-Release header (needs scd.vcl or scd serve's preview listener behind it)", "")
		}
	}

	if len(dc.Flush) == 0 {
		add(LevelWarning, "flush", "no flush targets: a cache in front of the release serves stale HTML after a deploy",
			"configure deploy.flush (e.g. a Varnish ban, see examples/varnish), or state that no cache is in front")
	}
	for i, f := range dc.FlushTargets() {
		name := fmt.Sprintf("flush %s", f.Label())
		level := LevelError
		if f.Policy == flush.Continue {
			level = LevelWarning
		}
		if f.Kind == flush.Command {
			if len(f.Command) == 0 {
				continue // Validate reported it
			}
			if _, err := o.LookPath(f.Command[0]); err != nil {
				add(level, name, fmt.Sprintf("command %s not found: %v", f.Command[0], err), "install it or fix deploy.flush["+fmt.Sprint(i)+"].command")
			} else {
				add(LevelOK, name, "command "+f.Command[0]+" found", "")
			}
			continue
		}
		u := f.URL
		if u == "" {
			u = f.Base
		}
		if err := o.reach(ctx, u); err != nil {
			add(level, name, fmt.Sprintf("%s is not reachable: %v", u, err), "start the cache, or fix deploy.flush["+fmt.Sprint(i)+"] (a deploy would fail: on_failure "+string(policyOf(f))+")")
		} else {
			add(LevelOK, name, u+" is reachable", "")
		}
	}
	for _, a := range o.Admins {
		if a == "" || a == "-" || strings.HasPrefix(a, "unix:") {
			continue
		}
		if err := o.reach(ctx, "http://"+strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")); err != nil {
			add(LevelError, "admin "+a, fmt.Sprintf("scd serve's admin API is not reachable: %v", err), "start scd serve with --admin-addr, or fix --admin")
		} else {
			add(LevelOK, "admin "+a, "reachable", "")
		}
	}

	if len(cfg.Compression) == 0 {
		add(LevelWarning, "compression", "compression: [] — no precompressed sidecars: every response is compressed on the fly, or not at all",
			"remove compression: from "+o.Matrix+" (default gzip, br, zstd)")
	} else {
		add(LevelOK, "compression", "precompressed sidecars: "+strings.Join(cfg.Compression, ", "), "")
	}

	threads := o.Threads
	if threads < 0 {
		threads = cfg.Threads
	}
	switch {
	case threads == 0:
		add(LevelOK, "threads", fmt.Sprintf("one worker per CPU (%d)", o.CPUs), "")
	case threads > 2*o.CPUs:
		add(LevelWarning, "threads", fmt.Sprintf("%d threads on %d CPUs: workers compete for CPUs and memory", threads, o.CPUs),
			fmt.Sprintf("set threads to at most %d (or 0: one per CPU); scd bench measures the best value", 2*o.CPUs))
	default:
		add(LevelOK, "threads", fmt.Sprintf("%d threads on %d CPUs", threads, o.CPUs), "")
	}

	if o.Keep < 2 {
		add(LevelError, "retention", fmt.Sprintf("--keep %d: no release to roll back to", o.Keep), "keep at least 2 releases (default 5)")
	} else {
		add(LevelOK, "retention", fmt.Sprintf("%d releases kept", o.Keep), "")
	}
	if o.KeepAssets < 1 {
		add(LevelError, "skew protection", "--keep-assets 0: pages already in browsers lose their hashed assets at the switch",
			fmt.Sprintf("set --keep-assets to 1 or more (default %d)", publish.DefaultKeepAssets))
	} else {
		add(LevelOK, "skew protection", fmt.Sprintf("hashed assets of %d earlier releases stay reachable", o.KeepAssets), "")
	}
	return out
}

func (o CheckOptions) reach(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not a URL: %q", raw)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	c, err := o.Dial(ctx, "tcp", host)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return oe.Err
		}
		return err
	}
	return c.Close()
}

func policyOf(t flush.Target) flush.Policy {
	if t.Policy == "" {
		return flush.Fail
	}
	return t.Policy
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Level == LevelError {
			return true
		}
	}
	return false
}

// oneLine shortens a multi-error to its first line and a count, for a
// finding; the full errors are what scd build prints.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%s (and %d more lines)", lines[0], len(lines)-1)
}
