package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scdtool/scd/hooks/flush"
	"github.com/scdtool/scd/hooks/run"
	"github.com/scdtool/scd/hooks/warmup"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
)

// Pipeline is the deploy sequence, in order. Steps before activateStep
// cannot affect users; a failure from activateStep on rolls back (see the
// package documentation).
var Pipeline = []Step{
	hookStep{run.PreBuild},    // the user's pre_build commands (skipped with --from)
	buildStep{},               // builder.Build through Options.Build, or take --from as is
	hookStep{run.PostBuild},   // post_build commands, e.g. to add files (skipped with --from)
	verifyBuildStep{},         // every file against build.json: a corrupt build stops here
	stageStep{},               // a new release on every target; nothing is switched
	warmUpStep{preview: true}, // the staged release, through its preview address: gates the switch
	hookStep{run.PreActivate}, // last word of the user before the switch
	holdStep{},                // servers with --admin hold new requests, so none lands mid-switch
	activateStep{},            // target by target: activate, reload, check; the point of no return
	flushStep{},               // caches forget the logical names that changed (never hashed assets)
	releaseHoldStep{},         // held requests proceed, on the new release and a flushed cache
	warmUpStep{},              // the live pages, so that no user is the first to hit a cold cache
	verifyStep{},              // every target serves the release and is healthy; Options.Verify
	hookStep{run.PostDeploy},  // the user's checks and notifications; a failure still rolls back
	pruneStep{},               // keep --keep releases; a failure here is only a warning
}

// CanaryPipeline is `scd deploy --canary P`: everything up to the switch,
// then a share of clients on the new release instead of the switch.
// `scd promote` (the canary becomes the active release) or `scd abort`
// (everyone back) ends it; until then nothing is flushed or pruned, and
// the active release is untouched.
var CanaryPipeline = []Step{
	hookStep{run.PreBuild},    // as in Pipeline
	buildStep{},               //
	hookStep{run.PostBuild},   //
	verifyBuildStep{},         //
	stageStep{},               //
	warmUpStep{preview: true}, // the canary must pass the same gate as a switch
	hookStep{run.PreActivate}, //
	canaryStep{},              // each server with --admin sends Percent% of clients to the release
}

// canaryStep starts the canary on every server with an admin API.
type canaryStep struct{}

func (canaryStep) String() string { return "start canary" }

func (canaryStep) Plan(c *Context) string {
	return fmt.Sprintf("%d%% of clients on the new release, on %s", c.Canary, strings.Join(adminTargets(c), ", "))
}

func (canaryStep) Run(ctx context.Context, c *Context) error {
	if len(adminTargets(c)) == 0 {
		return fmt.Errorf("a canary needs the admin API of the servers (--admin)")
	}
	for _, t := range c.Targets {
		if t.Admin == nil {
			continue
		}
		if _, err := t.Admin.StartCanary(ctx, t.Release.ID, c.Canary); err != nil {
			return fmt.Errorf("%s: canary: %w", t, err)
		}
	}
	c.Note("%d%% of clients on release %s; scd promote or scd abort ends it", c.Canary, c.ReleaseID)
	return nil
}

// hookStep runs the user's commands of one phase.
type hookStep struct{ phase run.Phase }

func (s hookStep) String() string { return string(s.phase) + " hooks" }

func (s hookStep) Skip(c *Context) string {
	if c.From != "" && (s.phase == run.PreBuild || s.phase == run.PostBuild) {
		return "--from: no build"
	}
	if !hasPhase(c.Cfg.RunHooks(), s.phase) {
		return "none configured"
	}
	return ""
}

func (s hookStep) Plan(c *Context) string {
	var names []string
	for _, h := range c.Cfg.RunHooks() {
		if h.Phase == s.phase {
			names = append(names, h.Label())
		}
	}
	return strings.Join(names, ", ")
}

func (s hookStep) Run(ctx context.Context, c *Context) error {
	results, err := run.Run(ctx, c.Cfg.RunHooks(), s.phase, c.env(), run.Options{Logger: c.Log})
	var done []string
	for _, r := range results {
		done = append(done, fmt.Sprintf("%s (exit %d, %s)", r.Hook, r.ExitCode, r.Duration.Round(time.Millisecond)))
	}
	c.Note("%s", strings.Join(done, ", "))
	return err
}

// buildStep produces the build directory.
type buildStep struct{}

func (buildStep) String() string { return "build" }

func (buildStep) Plan(c *Context) string {
	if c.From != "" {
		return "use the finished build " + c.From
	}
	return "build the matrix"
}

func (buildStep) Run(ctx context.Context, c *Context) error {
	if c.From != "" {
		c.BuildDir = c.From
		c.Note("using %s (--from)", c.From)
		return nil
	}
	dir, err := c.Options.Build(ctx)
	if err != nil {
		return err
	}
	c.BuildDir = dir
	c.Note("built %s", dir)
	return nil
}

// verifyBuildStep checks the build and reads what later steps need from
// it: its manifests (for the flush diff) and the warm-up pages expanded
// over its jobs.
type verifyBuildStep struct{}

func (verifyBuildStep) String() string { return "verify build" }

func (verifyBuildStep) Plan(c *Context) string {
	return "every file against build.json; expand warm-up page patterns over the build's jobs"
}

func (verifyBuildStep) Run(ctx context.Context, c *Context) error {
	b, err := publish.VerifyBuild(ctx, c.BuildDir)
	if err != nil {
		return err
	}
	c.Build = b
	if c.New, err = flush.LoadRelease(ctx, flush.DirReader(c.BuildDir)); err != nil {
		return fmt.Errorf("reading the build's manifests: %w", err)
	}
	if c.Pages, err = warmup.Expand(c.Cfg.WarmUpPages, b.Meta.Jobs, c.New.Manifests); err != nil {
		return fmt.Errorf("warm_up_pages: %w", err)
	}
	c.Note("build %.12s: %d files, %d jobs; %d warm-up pages", b.Meta.ID, b.Files(), len(b.Meta.Jobs), len(c.Pages))
	return nil
}

// stageStep writes the release on every target before any is switched,
// so that a full disk or an unreachable bucket on the last target stops
// the deploy while nothing has changed.
type stageStep struct{}

func (stageStep) String() string { return "stage" }

func (stageStep) Plan(c *Context) string { return "on " + targetList(c) }

func (stageStep) Run(ctx context.Context, c *Context) error {
	newest := ""
	for i, t := range c.Targets {
		rels, err := t.Target.Target.Releases(ctx)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // a new target has no history yet
			return fmt.Errorf("%s: reading the history: %w", t, err)
		}
		for _, r := range rels {
			if r.Status == publish.StatusActive {
				t.Previous = r.ID
			}
			newest = max(newest, r.ID)
		}
		if i == 0 {
			c.PreviousID = t.Previous
			if t.Previous != "" {
				// What the caches may hold now: read through the active
				// release, before anything switches.
				if c.Old, err = flush.LoadRelease(ctx, flush.ReadFunc(t.Target.Target.Read)); err != nil {
					c.Warn(fmt.Sprintf("%s: cannot read the active release's manifests (%v): every logical name of the new release will be flushed", t, err))
					c.Old = nil
				}
			}
		}
	}
	// One id on every target, after every target's releases: a preview
	// address naming it means this release whichever server answers.
	c.ReleaseID = publish.NextReleaseID(time.Now(), c.Build.Meta.ID, newest)
	for _, t := range c.Targets {
		r, err := t.Target.Target.Stage(ctx, c.BuildDir, publish.WithReleaseID(c.ReleaseID))
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		t.Release, t.Staged = r, true
	}
	c.Note("%s on %s", c.ReleaseID, targetList(c))
	return nil
}

// warmUpStep requests the pages of the staged release through its preview
// address (preview: a failure stops the deploy before the switch), or of
// the live site once it is switched.
type warmUpStep struct{ preview bool }

func (s warmUpStep) String() string {
	if s.preview {
		return "warm up preview"
	}
	return "warm up live"
}

func (s warmUpStep) Skip(c *Context) string {
	cfg := c.Cfg
	if len(cfg.WarmUpPages)+len(cfg.WarmUpSitemaps)+len(cfg.TTFBTestedPages) == 0 {
		return "no warm_up_pages, warm_up_sitemaps or ttfb_tested_pages configured"
	}
	return ""
}

func (s warmUpStep) Plan(c *Context) string {
	base := c.Cfg.BaseURL
	if s.preview {
		base = c.Cfg.PreviewURL
		if base == "" {
			base = c.Cfg.BaseURL + " with X-Scd-Release: {release}"
		}
	}
	return fmt.Sprintf("%d pages (patterns expanded over the build's jobs), %d sitemaps, %d TTFB-tested, at %s",
		len(c.Cfg.WarmUpPages), len(c.Cfg.WarmUpSitemaps), len(c.Cfg.TTFBTestedPages), base)
}

func (s warmUpStep) Run(ctx context.Context, c *Context) error {
	id := ""
	if s.preview {
		id = c.ReleaseID
	}
	o := c.Cfg.WarmUpOptions(id, c.Pages)
	o.Logger = c.Log
	rep, err := warmup.Run(ctx, o)
	if rep != nil {
		c.Note("%d requests at %s, %d failed, %d cache hits, p50 %s, p95 %s", len(rep.Pages)+len(rep.Tested), rep.Base,
			len(rep.Failures), warmup.Hits(rep.Pages)+warmup.Hits(rep.Tested), rep.P50.Round(time.Millisecond), rep.P95.Round(time.Millisecond))
		if err == nil && len(rep.Failures)+len(rep.OverBudget) > 0 {
			c.Warn(fmt.Sprintf("%d pages failed and %d were over budget; allowed by warm_up.on_page_error / on_budget", len(rep.Failures), len(rep.OverBudget)))
		}
	}
	return err
}

// holdStep makes the servers with an admin API hold new requests for the
// length of the switch and the flush, so no request is answered from a
// cache being flushed.
type holdStep struct{}

func (holdStep) String() string { return "hold requests" }

func (holdStep) Skip(c *Context) string {
	if len(adminTargets(c)) == 0 {
		return "no --admin: requests are not held"
	}
	return ""
}

func (holdStep) Plan(c *Context) string {
	return fmt.Sprintf("on %s, at most %s", strings.Join(adminTargets(c), ", "), c.HoldTimeout)
}

func (holdStep) Run(ctx context.Context, c *Context) error {
	for _, t := range c.Targets {
		if t.Admin == nil {
			continue
		}
		if _, err := t.Admin.Hold(ctx, c.HoldTimeout); err != nil {
			return fmt.Errorf("%s: hold: %w", t, err)
		}
		t.Held = true
	}
	c.Note("holding on %d servers, at most %s", len(adminTargets(c)), c.HoldTimeout)
	return nil
}

// releaseHoldStep ends the holds: the new release is served and the
// caches flushed.
type releaseHoldStep struct{}

func (releaseHoldStep) String() string { return "release hold" }

func (releaseHoldStep) Skip(c *Context) string { return holdStep{}.Skip(c) }

func (releaseHoldStep) Run(ctx context.Context, c *Context) error {
	return c.releaseHolds(ctx, nil)
}

// activateStep switches the targets one at a time, each checked before
// the next, so a release that does not come up is stopped on the first
// machine it breaks.
type activateStep struct{}

func (activateStep) String() string { return "activate" }

func (activateStep) Plan(c *Context) string {
	return "one target at a time, each reloaded and checked before the next: " + targetList(c)
}

func (activateStep) Run(ctx context.Context, c *Context) error {
	for _, t := range c.Targets {
		if err := t.Target.Target.Activate(ctx, t.Release.ID); err != nil {
			return fmt.Errorf("%s: activate %s: %w", t, t.Release.ID, err)
		}
		t.Activated = true
		c.Log.Info("activated", "target", t.String(), "release", t.Release.ID)
		if err := c.checkTarget(ctx, t); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	c.Note("%d targets on %s", len(c.Targets), c.ReleaseID)
	return nil
}

// checkTarget confirms t serves its new release: through its server's
// admin API when known (reload, /-/release, /-/healthz), else through
// the target's history; then Options.CheckTarget.
func (c *Context) checkTarget(ctx context.Context, t *TargetState) error {
	if err := c.serves(ctx, t, true); err != nil {
		return err
	}
	if c.CheckTarget != nil {
		if err := c.CheckTarget(ctx, c, t); err != nil {
			return fmt.Errorf("check: %w", err)
		}
	}
	return c.warmTarget(ctx, t)
}

// warmTarget warms up one target of a rolling deploy right after its
// switch, before the next one: the warm-up pages are requested from that
// server, through its admin listener's preview of the release it now
// serves (the admin listener is never held, so this works inside the
// deploy's hold). A single target is warmed up by the live warm-up step.
func (c *Context) warmTarget(ctx context.Context, t *TargetState) error {
	if len(c.Targets) < 2 || len(c.Pages) == 0 || t.Admin == nil || strings.HasPrefix(t.Admin.Addr, "unix:") {
		return nil
	}
	o := c.Cfg.WarmUpOptions("", c.Pages)
	base := "http://" + t.Admin.Addr
	o.Base, o.Sitemaps, o.Logger = base+"/-/preview/"+url.PathEscape(t.Release.ID)+"/", nil, c.Log
	o.Hosts = append(append([]string(nil), o.Hosts...), t.Admin.Addr)
	if t.Admin.Token != "" {
		if o.Header == nil {
			o.Header = http.Header{}
		}
		o.Header.Set("Authorization", "Bearer "+t.Admin.Token)
	}
	rep, err := warmup.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("warm-up on its server: %w", err)
	}
	c.Log.Info("target warmed up", "target", t.String(), "pages", len(rep.Pages), "p95", rep.P95)
	return nil
}

// serves checks that t's new release is the one active (and served).
func (c *Context) serves(ctx context.Context, t *TargetState, reload bool) error {
	want := t.Release.ID
	if t.Admin == nil {
		rels, err := t.Target.Target.Releases(ctx)
		if err != nil {
			return err
		}
		for _, r := range rels {
			if r.Status == publish.StatusActive {
				if r.ID != want {
					return fmt.Errorf("active release is %s, not %s", r.ID, want)
				}
				return nil
			}
		}
		return fmt.Errorf("no active release, expected %s", want)
	}
	if reload {
		got, err := t.Admin.Reload(ctx)
		if err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		if got != want {
			return fmt.Errorf("after reload the server serves %s, not %s", got, want)
		}
	}
	st, err := t.Admin.Status(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if st.Active != want {
		return fmt.Errorf("/-/release says active %s, not %s", st.Active, want)
	}
	return c.healthz(ctx, t)
}

func (c *Context) healthz(ctx context.Context, t *TargetState) error {
	addr := t.Admin.Addr
	if strings.HasPrefix(addr, "unix:") {
		return nil // Status above answered over the socket: the server is up
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/-/healthz", nil)
	if err != nil {
		return err
	}
	if t.Admin.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Admin.Token)
	}
	res, err := c.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s: %s", res.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// flushStep invalidates, in every configured cache, the logical names
// whose content differs between the previous release and the new one.
type flushStep struct{}

func (flushStep) String() string { return "flush caches" }

func (flushStep) Skip(c *Context) string {
	if len(c.Cfg.Flush) == 0 {
		return "no flush targets configured"
	}
	return ""
}

func (flushStep) Plan(c *Context) string {
	var ts []string
	for _, t := range c.Cfg.FlushTargets() {
		p := t.Policy
		if p == "" {
			p = flush.Fail
		}
		ts = append(ts, fmt.Sprintf("%s (on_failure: %s)", t.Label(), p))
	}
	return "the logical names changed since the active release, in " + strings.Join(ts, ", ")
}

func (flushStep) Run(ctx context.Context, c *Context) error {
	ch := flush.Diff(c.Old, c.New)
	paths := ch.URLPaths(c.Cfg.StaticPath)
	rep, err := flush.Run(ctx, c.Cfg.FlushTargets(), flush.Request{Release: c.ReleaseID, Paths: paths}, flush.Options{Logger: c.Log})
	var res []string
	for _, r := range rep.Results {
		res = append(res, fmt.Sprintf("%s: %s", r.Target, r.StatusText()))
	}
	c.Note("%d paths (%d hashed assets left alone); %s", len(paths), ch.Hashed, strings.Join(res, "; "))
	if err == nil {
		for _, r := range rep.Failed() {
			c.Warn(fmt.Sprintf("flush %s failed after %d attempts, continuing as configured (on_failure: continue): %v", r.Target, r.Attempts, r.Err))
		}
	}
	return err
}

// verifyStep checks, once everything is switched and warm, that every
// target still serves the release, and that the live site hands out its
// build.json (so no cache kept the old one).
type verifyStep struct{}

func (verifyStep) String() string { return "verify" }

func (verifyStep) Plan(c *Context) string {
	s := "every target serves the release and is healthy"
	if c.Cfg.BaseURL != "" {
		s += "; " + liveBuildURL(c) + " names the new build"
	}
	if c.Verify != nil {
		s += "; custom verification"
	}
	return s
}

func (verifyStep) Run(ctx context.Context, c *Context) error {
	for _, t := range c.Targets {
		if err := c.serves(ctx, t, false); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	c.Note("every target serves %s", c.ReleaseID)
	if c.Cfg.BaseURL != "" {
		if err := c.verifyLiveBuild(ctx); err != nil {
			return err
		}
	}
	if c.Verify != nil {
		if err := c.Verify(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func liveBuildURL(c *Context) string {
	base := strings.TrimRight(c.Cfg.BaseURL, "/")
	if p := strings.Trim(c.Cfg.StaticPath, "/"); p != "" {
		base += "/" + p
	}
	return base + "/" + manifest.BuildFile
}

// verifyLiveBuild fetches build.json through the live address: the one
// file that always changes between builds, so a stale copy means the
// flush missed a cache. A site that does not publish it (404) is noted,
// not failed.
func (c *Context) verifyLiveBuild(ctx context.Context) error {
	u := liveBuildURL(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := c.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("live %s: %w", u, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusForbidden {
		c.Note("%s: %d, not published: live build not checked", u, res.StatusCode)
		return nil
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("live %s: %s", u, res.Status)
	}
	var b struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&b); err != nil {
		return fmt.Errorf("live %s: %w", u, err)
	}
	if b.ID != c.Build.Meta.ID {
		return fmt.Errorf("live %s names build %.12s, not %.12s: a cache still serves the old release", u, b.ID, c.Build.Meta.ID)
	}
	c.Note("every target serves %s; %s names build %.12s", c.ReleaseID, u, b.ID)
	return nil
}

// pruneStep removes old releases beyond Keep on every target.
type pruneStep struct{}

func (pruneStep) String() string { return "prune" }
func (pruneStep) Soft() bool     { return true }
func (pruneStep) Plan(c *Context) string {
	return fmt.Sprintf("keep %d releases on %s", c.Keep, targetList(c))
}

func (pruneStep) Run(ctx context.Context, c *Context) error {
	var errs []error
	n := 0
	for _, t := range c.Targets {
		ids, err := t.Target.Target.Prune(ctx, c.Keep)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
		}
		n += len(ids)
	}
	c.Note("removed %d releases, kept %d per target", n, c.Keep)
	return errors.Join(errs...)
}

func targetList(c *Context) string {
	var s []string
	for _, t := range c.Targets {
		s = append(s, t.String())
	}
	return strings.Join(s, ", ")
}

func adminTargets(c *Context) []string {
	var s []string
	for _, t := range c.Targets {
		if t.Admin != nil {
			s = append(s, t.Admin.Addr)
		}
	}
	return s
}
