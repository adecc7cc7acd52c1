package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scdtool/scd/hooks"
	"github.com/scdtool/scd/hooks/flush"
	"github.com/scdtool/scd/hooks/run"
	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/serve"
)

// Exit codes; see the package documentation.
const (
	ExitOK             = 0
	ExitFailed         = 1
	ExitUsage          = 2
	ExitRolledBack     = 4
	ExitRollbackFailed = 5
)

// Defaults for Options.
const (
	// DefaultKeep releases per target survive prune: the active one, the
	// rollback target and a few more to go back further by hand.
	DefaultKeep = 5
	// DefaultHoldTimeout bounds a hold: long enough for an activation, a
	// reload and a flush; short enough that a deploy dying with a hold open
	// costs users seconds, not minutes.
	DefaultHoldTimeout = 30 * time.Second
	// DefaultRollbackTimeout bounds the whole rollback. It runs on a
	// context of its own, so that Ctrl-C during a deploy still rolls back.
	DefaultRollbackTimeout = 2 * time.Minute
)

// Step is one stage of the deploy.
type Step interface {
	// String names the step in logs, the plan and the report.
	String() string
	// Run does the step. An error stops the deploy there.
	Run(ctx context.Context, c *Context) error
}

// Optional behaviours of a step.
type (
	// skipper: Skip returns why the step does not apply ("" = it runs).
	skipper interface{ Skip(c *Context) string }
	// planner: Plan describes what the step would do, for --dry-run.
	planner interface{ Plan(c *Context) string }
	// softStep: a failure is a warning, never a reason to roll back.
	softStep interface{ Soft() bool }
)

// Target is one place the release goes: a publish target, and the scd
// serve in front of it when its admin API is known.
type Target struct {
	Target publish.Target
	// Admin reaches the server serving Target (nil: none known; the
	// server then notices the switch by itself and the deploy cannot hold
	// requests nor confirm what is served).
	Admin *serve.Client
}

// Options configure Run.
type Options struct {
	// Config is the `deploy:` section, already validated (nil: empty).
	Config *hooks.Config
	// From is a finished build to deploy as is; when "", Build makes one.
	From string
	// Build builds and returns the build directory.
	Build   func(ctx context.Context) (string, error)
	Targets []Target
	// Keep is how many releases prune leaves per target (0 = DefaultKeep).
	Keep        int
	HoldTimeout time.Duration // 0 = DefaultHoldTimeout
	// DryRun builds the plan (Report.Steps, status "planned") and changes
	// nothing: no build, no target or server is contacted.
	DryRun bool
	// CheckTarget, when set, is called for each target right after it was
	// activated and reloaded, before the next one (a custom health check).
	CheckTarget func(ctx context.Context, c *Context, t *TargetState) error
	// Verify, when set, is called by the verify step after the built-in
	// checks (a smoke test of the live site).
	Verify func(ctx context.Context, c *Context) error
	// HTTPClient sends health checks and verification requests; nil uses
	// a client with a 10s timeout. Warm-up and flush make their own.
	HTTPClient      *http.Client
	RollbackTimeout time.Duration // 0 = DefaultRollbackTimeout
	Logger          *slog.Logger  // nil discards
	// Canary, when set (1-99), runs CanaryPipeline: the release goes to
	// that share of clients instead of being activated.
	Canary int
	// Pipeline replaces the package's Pipeline (tests).
	Pipeline []Step
}

// TargetState is what the deploy did to one target.
type TargetState struct {
	Target
	// Previous is the release active before the deploy ("" for the first).
	Previous string
	// Release is the release staged by this deploy.
	Release     publish.Release
	Staged      bool
	Held        bool
	Activated   bool
	RolledBack  bool
	RollbackErr error
}

func (t *TargetState) String() string { return t.Target.Target.String() }

// Context is what the steps share.
type Context struct {
	Options
	Cfg *hooks.Config
	Log *slog.Logger

	BuildDir string
	Build    *publish.Build
	// New and Old are the new release and the one active before it (nil
	// for a first deploy), as flush.Diff needs them.
	New, Old *flush.Release
	// Pages are the warm-up pages with their patterns expanded.
	Pages []string
	// ReleaseID is the id of the staged release, the same on every
	// target (see stageStep); PreviousID the release active before it on
	// the first target.
	ReleaseID, PreviousID string
	Targets               []*TargetState

	report *Report
	cur    *StepResult
}

// Note sets the detail of the running step's report entry.
func (c *Context) Note(format string, args ...any) {
	if c.cur != nil {
		c.cur.Detail = fmt.Sprintf(format, args...)
	}
}

// Warn marks the running step "warning" with msg: something is wrong
// that the configuration says not to fail on. It is logged at Warn and
// kept in the report, so it is never silent.
func (c *Context) Warn(msg string) {
	c.Log.Warn(msg)
	if c.cur != nil {
		c.cur.Status = StatusWarning
		c.cur.Warnings = append(c.cur.Warnings, msg)
	}
}

// switched reports whether any target was activated: from then on a
// failure must roll back.
func (c *Context) switched() bool {
	for _, t := range c.Targets {
		if t.Activated {
			return true
		}
	}
	return false
}

func (c *Context) env() run.Env {
	var targets []string
	for _, t := range c.Targets {
		targets = append(targets, t.String())
	}
	e := run.Env{
		ReleaseID: c.ReleaseID, PreviousReleaseID: c.PreviousID, BuildDir: c.BuildDir,
		Target: strings.Join(targets, " "), BaseURL: c.Cfg.BaseURL,
	}
	if c.Cfg.PreviewURL != "" && c.ReleaseID != "" {
		e.PreviewURL = strings.ReplaceAll(c.Cfg.PreviewURL, "{release}", c.ReleaseID)
	}
	return e
}

// Step statuses in the report.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusWarning = "warning"
	StatusPlanned = "planned"
)

// StepResult is one step in the report.
type StepResult struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	Duration   string   `json:"duration,omitempty"`
	DurationMS int64    `json:"duration_ms"`
	Detail     string   `json:"detail,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// TargetResult is one target in the report.
type TargetResult struct {
	Target        string `json:"target"`
	Admin         string `json:"admin,omitempty"`
	Previous      string `json:"previous,omitempty"`
	Release       string `json:"release,omitempty"`
	Staged        bool   `json:"staged"`
	Activated     bool   `json:"activated"`
	RolledBack    bool   `json:"rolled_back"`
	RollbackError string `json:"rollback_error,omitempty"`
}

// Report is the outcome of Run (`scd deploy --json`).
type Report struct {
	// Status: "ok", "planned" (dry run), "failed" (nothing switched),
	// "rolled_back", "rollback_failed".
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Release  string `json:"release,omitempty"`
	Previous string `json:"previous,omitempty"`
	Build    string `json:"build,omitempty"`
	// FailedStep names the step that failed.
	FailedStep string         `json:"failed_step,omitempty"`
	Error      string         `json:"error,omitempty"`
	Duration   string         `json:"duration"`
	Steps      []StepResult   `json:"steps"`
	Rollback   []StepResult   `json:"rollback,omitempty"`
	OnFailure  []StepResult   `json:"on_failure,omitempty"`
	Targets    []TargetResult `json:"targets"`
}

// Step returns the report entry of the step named name, or nil.
func (r *Report) Step(name string) *StepResult {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// Error is Run's error: the failure and the exit code it maps to.
type Error struct {
	Code int
	Step string
	Err  error
}

func (e *Error) Error() string {
	if e.Step == "" {
		return e.Err.Error()
	}
	return e.Step + ": " + e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// ExitCode maps Run's error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailed
}

// Run deploys as o says and returns the report, complete whatever
// happened. The error is an *Error whose Code is the exit code.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	c, err := newContext(o)
	if err != nil {
		return &Report{Status: StatusFailed, ExitCode: ExitUsage, Error: err.Error()}, &Error{Code: ExitUsage, Err: err}
	}
	rep := c.report
	defer func() {
		rep.Duration = time.Since(start).Round(time.Millisecond).String()
		rep.Release, rep.Previous = c.ReleaseID, c.PreviousID
		if c.Build != nil {
			rep.Build = c.Build.Meta.ID
		}
		rep.Targets = rep.Targets[:0]
		for _, t := range c.Targets {
			tr := TargetResult{Target: t.String(), Previous: t.Previous, Release: t.Release.ID,
				Staged: t.Staged, Activated: t.Activated, RolledBack: t.RolledBack}
			if t.Admin != nil {
				tr.Admin = t.Admin.Addr
			}
			if t.RollbackErr != nil {
				tr.RollbackError = t.RollbackErr.Error()
			}
			rep.Targets = append(rep.Targets, tr)
		}
	}()
	for _, s := range c.Pipeline {
		sr := StepResult{Name: s.String()}
		if sk, ok := s.(skipper); ok {
			if why := sk.Skip(c); why != "" {
				sr.Status, sr.Detail = StatusSkipped, why
				c.Log.Info("step skipped", "step", sr.Name, "why", why)
				rep.Steps = append(rep.Steps, sr)
				continue
			}
		}
		if o.DryRun {
			sr.Status = StatusPlanned
			if p, ok := s.(planner); ok {
				sr.Detail = p.Plan(c)
			}
			rep.Steps = append(rep.Steps, sr)
			continue
		}
		c.Log.Info("step", "step", sr.Name)
		t0 := time.Now()
		c.cur = &sr
		err := s.Run(ctx, c)
		c.cur = nil
		d := time.Since(t0)
		sr.Duration, sr.DurationMS = d.Round(time.Millisecond).String(), d.Milliseconds()
		if err != nil {
			sr.Error = err.Error()
			if soft, ok := s.(softStep); ok && soft.Soft() {
				sr.Status = StatusWarning
				c.Log.Warn("step failed; continuing (a failure here does not affect users)", "step", sr.Name, "duration", d, "err", err)
				rep.Steps = append(rep.Steps, sr)
				continue
			}
			sr.Status = StatusFailed
			c.Log.Error("step failed", "step", sr.Name, "duration", d, "err", err)
			rep.Steps = append(rep.Steps, sr)
			return rep, c.fail(ctx, sr.Name, err)
		}
		if sr.Status == "" {
			sr.Status = StatusOK
		}
		c.Log.Info("step done", "step", sr.Name, "status", sr.Status, "duration", d, "detail", sr.Detail)
		rep.Steps = append(rep.Steps, sr)
	}
	rep.Status, rep.ExitCode = StatusOK, ExitOK
	if o.DryRun {
		rep.Status = StatusPlanned
	}
	return rep, nil
}

func newContext(o Options) (*Context, error) {
	if len(o.Targets) == 0 {
		return nil, errors.New("no target: give --to at least once")
	}
	if o.From == "" && o.Build == nil {
		return nil, errors.New("nothing to deploy: no --from build and no build configured")
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 2 {
		return nil, fmt.Errorf("--keep %d: at least 2, the active release and the one to roll back to", o.Keep)
	}
	if o.HoldTimeout <= 0 {
		o.HoldTimeout = DefaultHoldTimeout
	}
	if o.RollbackTimeout <= 0 {
		o.RollbackTimeout = DefaultRollbackTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Pipeline == nil {
		o.Pipeline = Pipeline
		if o.Canary > 0 {
			o.Pipeline = CanaryPipeline
		}
	}
	cfg := o.Config
	if cfg == nil {
		cfg = &hooks.Config{}
	}
	c := &Context{Options: o, Cfg: cfg, Log: o.Logger, report: &Report{}}
	for _, t := range o.Targets {
		if t.Target == nil {
			return nil, errors.New("a target is nil")
		}
		c.Targets = append(c.Targets, &TargetState{Target: t})
	}
	return c, nil
}

// fail ends a deploy whose step failed: roll back what was switched,
// release holds, run on_failure hooks, and say which exit code applies.
func (c *Context) fail(ctx context.Context, step string, cause error) error {
	rep := c.report
	rep.FailedStep, rep.Error = step, cause.Error()
	code := ExitFailed
	rep.Status = StatusFailed
	// The cleanup must happen even when ctx was cancelled (Ctrl-C is
	// exactly when a half-done deploy must be undone).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.RollbackTimeout)
	defer cancel()
	rolledBack := false
	if c.switched() {
		if err := c.rollback(rctx); err != nil {
			code, rep.Status = ExitRollbackFailed, "rollback_failed"
			rep.Error += "; rollback failed: " + err.Error()
			c.Log.Error("ROLLBACK FAILED: some targets may serve the new release", "err", err)
		} else {
			code, rep.Status, rolledBack = ExitRolledBack, "rolled_back", true
			c.Log.Warn("rolled back every switched target", "release", c.PreviousID)
		}
	} else {
		c.releaseHolds(rctx, &rep.Rollback)
		c.Log.Warn("deploy failed before any switch: users were not affected", "step", step)
	}
	if hs := c.Cfg.RunHooks(); hasPhase(hs, run.OnFailure) {
		env := c.env()
		env.Error, env.RolledBack = cause.Error(), rolledBack
		results, err := run.Run(rctx, hs, run.OnFailure, env, run.Options{Logger: c.Log})
		for _, r := range results {
			sr := StepResult{Name: "on_failure " + r.Hook, Status: StatusOK, Duration: r.Duration.Round(time.Millisecond).String(), DurationMS: r.Duration.Milliseconds()}
			if r.Err != nil {
				sr.Status, sr.Error = StatusFailed, r.Err.Error()
			}
			rep.OnFailure = append(rep.OnFailure, sr)
		}
		if err != nil {
			c.Log.Error("on_failure hooks failed", "err", err)
		}
	}
	rep.ExitCode = code
	return &Error{Code: code, Step: step, Err: cause}
}

// rollback puts every activated target back on the release it had, newest
// switch first, reloads its server, flushes the caches again (they may
// hold pages of the bad release by now) and releases holds. Every target
// is attempted even when one fails.
func (c *Context) rollback(ctx context.Context) error {
	var errs []error
	rec := func(name string, t0 time.Time, err error) {
		d := time.Since(t0)
		sr := StepResult{Name: name, Status: StatusOK, Duration: d.Round(time.Millisecond).String(), DurationMS: d.Milliseconds()}
		if err != nil {
			sr.Status, sr.Error = StatusFailed, err.Error()
		}
		c.report.Rollback = append(c.report.Rollback, sr)
	}
	undone := false
	for i := len(c.Targets) - 1; i >= 0; i-- {
		t := c.Targets[i]
		if !t.Activated {
			continue
		}
		t0 := time.Now()
		err := c.rollbackOne(ctx, t)
		rec("rollback "+t.String(), t0, err)
		if err != nil {
			t.RollbackErr = err
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
			continue
		}
		t.RolledBack, undone = true, true
		c.Log.Warn("rolled back", "target", t.String(), "release", t.Previous)
	}
	if undone && len(c.Cfg.Flush) > 0 && c.New != nil {
		t0 := time.Now()
		paths := flush.Diff(c.Old, c.New).URLPaths(c.Cfg.StaticPath)
		frep, err := flush.Run(ctx, c.Cfg.FlushTargets(), flush.Request{Release: c.PreviousID, Paths: paths}, flush.Options{Logger: c.Log})
		if err == nil {
			for _, r := range frep.Failed() {
				c.Log.Warn("flush after rollback failed (on_failure: continue)", "target", r.Target, "err", r.Err)
			}
		}
		rec("flush again", t0, err)
		if err != nil {
			// Not a failed rollback: every target is back, and a cache
			// that cannot be reached now is most likely the one whose
			// failure caused the rollback. Loud, in the log and report.
			c.Log.Error("flush after rollback failed: caches may hold pages of the rolled-back release", "err", err)
		}
	}
	c.releaseHolds(ctx, &c.report.Rollback)
	return errors.Join(errs...)
}

func (c *Context) rollbackOne(ctx context.Context, t *TargetState) error {
	if t.Previous == "" {
		return errors.New("no release was active before this deploy: nothing to roll back to")
	}
	if _, err := t.Target.Target.Rollback(ctx, t.Previous); err != nil {
		return err
	}
	if t.Admin != nil {
		got, err := t.Admin.Reload(ctx)
		if err != nil {
			return fmt.Errorf("rolled back on the target, but the server did not reload: %w", err)
		}
		if got != t.Previous {
			return fmt.Errorf("rolled back on the target, but the server serves %s, not %s", got, t.Previous)
		}
	}
	return nil
}

// releaseHolds ends every hold the deploy opened; a failure is recorded
// (the hold still ends at its deadline).
func (c *Context) releaseHolds(ctx context.Context, into *[]StepResult) error {
	var errs []error
	for _, t := range c.Targets {
		if !t.Held {
			continue
		}
		t0 := time.Now()
		_, err := t.Admin.ReleaseHold(ctx)
		sr := StepResult{Name: "release hold " + t.String(), Status: StatusOK, DurationMS: time.Since(t0).Milliseconds()}
		if err != nil {
			sr.Status, sr.Error = StatusFailed, err.Error()
			errs = append(errs, fmt.Errorf("%s: release hold: %w", t, err))
			c.Log.Error("release hold failed; it ends at its deadline", "target", t.String(), "err", err)
		} else {
			t.Held = false
		}
		if into != nil {
			*into = append(*into, sr)
		}
	}
	return errors.Join(errs...)
}

func hasPhase(hs []run.Hook, p run.Phase) bool {
	for _, h := range hs {
		if h.Phase == p {
			return true
		}
	}
	return false
}
