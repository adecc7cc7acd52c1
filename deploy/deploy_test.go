package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scdtool/scd/deploy"
	"github.com/scdtool/scd/manifest"
	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/serve"
)

// stepNames is the expected order of Pipeline.
var stepNames = []string{
	"pre_build hooks", "build", "post_build hooks", "verify build", "stage", "warm up preview",
	"pre_activate hooks", "hold requests", "activate", "flush caches", "release hold",
	"warm up live", "verify", "post_deploy hooks", "prune",
}

func names(steps []deploy.StepResult) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return out
}

// fullConfig configures every optional step against s and the cache c.
func fullConfig(t *testing.T, s *stack, c *recorder, extra string) string {
	return fmt.Sprintf(`
base_url: %s/
preview_url: %s/-/preview/{release}/
warm_up_pages: ["/{dir}/{template}", "/{dir}/manifest.json"]
warm_up: {timeout: 5s}
flush:
  - {name: cache, type: ban, url: %s/, headers: {X-Ban-Url: "{pattern}"}, retries: 1, backoff: 1ms}
hooks:
  pre_activate: [{name: pre, command: ["true"]}]
  post_deploy: [{name: post, command: ["true"]}]
%s`, s.public.URL, s.preview.URL, c.URL, extra)
}

// deployed puts release 1 (page "one") live on s and returns its id.
func deployed(t *testing.T, s *stack, o deploy.Options) string {
	t.Helper()
	o.From = writeBuild(t, "<p>one</p>", "aaaa1111", nil)
	o.Targets = []deploy.Target{s.target()}
	rep, err := deploy.Run(t.Context(), o)
	if err != nil {
		t.Fatalf("deploy 1: %v\n%+v", err, rep)
	}
	if code, body := s.get(t, "/"+job+"/template/page.html"); code != 200 || body != "<p>one</p>" {
		t.Fatalf("after deploy 1: %d %q", code, body)
	}
	return rep.Release
}

func TestDryRunPlansAndChangesNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "target")
	tg, err := publish.OpenLocal(root, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	built := false
	cfg := config(t, `
base_url: http://127.0.0.1:1/
warm_up_pages: [/]
flush: [{name: varnish, type: ban, url: "http://127.0.0.1:1/", headers: {X-Ban-Url: "{pattern}"}}]
hooks: {pre_build: [{name: lint, command: ["true"]}]}
`)
	rep, err := deploy.Run(t.Context(), deploy.Options{
		Config: cfg, DryRun: true, Targets: []deploy.Target{{Target: tg}},
		Build: func(context.Context) (string, error) { built = true; return "", errors.New("must not build") },
	})
	if err != nil || rep.Status != "planned" {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	if !slices.Equal(names(rep.Steps), stepNames) {
		t.Fatalf("plan order:\n got %v\nwant %v", names(rep.Steps), stepNames)
	}
	want := map[string]string{
		"pre_build hooks": "planned", "build": "planned", "post_build hooks": "skipped",
		"hold requests": "skipped", "flush caches": "planned", "warm up preview": "planned", "prune": "planned",
	}
	for name, status := range want {
		if got := rep.Step(name); got.Status != status {
			t.Errorf("%s: %s (%s), want %s", name, got.Status, got.Detail, status)
		}
	}
	if d := rep.Step("flush caches").Detail; !strings.Contains(d, "varnish (on_failure: fail)") {
		t.Errorf("flush plan: %q", d)
	}
	if d := rep.Step("prune").Detail; !strings.Contains(d, "keep 5") {
		t.Errorf("prune plan: %q", d)
	}
	if built {
		t.Error("dry run built")
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("dry run touched the target: %v", err)
	}
}

func TestDeployTwoReleases(t *testing.T) {
	s := newStack(t)
	c := newRecorder(t)
	cfg := config(t, fullConfig(t, s, c, ""))
	log := testLogger(t)
	r1 := deployed(t, s, deploy.Options{Config: cfg, Logger: log})

	b2 := writeBuild(t, "<p>two</p>", "bbbb2222", nil)
	rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: b2, Targets: []deploy.Target{s.target()}, Logger: log})
	if err != nil {
		t.Fatalf("deploy 2: %v", err)
	}
	if !slices.Equal(names(rep.Steps), stepNames) {
		t.Fatalf("steps %v", names(rep.Steps))
	}
	for _, st := range rep.Steps {
		wantSkip := st.Name == "pre_build hooks" || st.Name == "post_build hooks"
		if (st.Status == "skipped") != wantSkip || (!wantSkip && st.Status != "ok") {
			t.Errorf("step %s: %s %s %s", st.Name, st.Status, st.Detail, st.Error)
		}
		if st.Status == "ok" && st.Duration == "" {
			t.Errorf("step %s has no duration", st.Name)
		}
	}
	if rep.Previous != r1 || rep.Release == r1 || rep.ExitCode != 0 {
		t.Errorf("report: %+v", rep)
	}
	if code, body := s.get(t, "/"+job+"/template/page.html"); code != 200 || body != "<p>two</p>" {
		t.Errorf("after deploy 2: %d %q", code, body)
	}
	// Skew protection: the old hashed asset is still served.
	if code, _ := s.get(t, "/"+job+"/js/app.aaaa1111.js"); code != 200 {
		t.Errorf("old hashed asset: %d", code)
	}
	if c.count() != 2 {
		t.Errorf("bans: %v", c.bans)
	}
	if strings.Contains(c.bans[1], "aaaa1111") || strings.Contains(c.bans[1], "bbbb2222") || !strings.Contains(c.bans[1], "page") {
		t.Errorf("ban pattern %q: must name the changed template, never a hashed asset", c.bans[1])
	}
}

// failing runs a step, then fails: an injected failure at that point.
type failing struct{ deploy.Step }

func (f failing) Run(ctx context.Context, c *deploy.Context) error {
	if err := f.Step.Run(ctx, c); err != nil {
		return err
	}
	return errors.New("injected failure")
}

// Skip forwards to the step (every step of the full config runs).
func (f failing) Skip(c *deploy.Context) string { return "" }

// Soft forwards to the step (prune's failure is a warning).
func (f failing) Soft() bool {
	s, ok := f.Step.(interface{ Soft() bool })
	return ok && s.Soft()
}

// TestFailureAtEachStep injects a failure after each step of a second
// deploy: before the switch nothing changes (exit 1); from the switch on
// every target is rolled back (exit 4) and the old page is served again;
// prune only warns.
func TestFailureAtEachStep(t *testing.T) {
	for i, name := range stepNames {
		if name == "pre_build hooks" || name == "post_build hooks" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s := newStack(t)
			c := newRecorder(t)
			marker := filepath.Join(t.TempDir(), "on_failure")
			cfg := config(t, fullConfig(t, s, c, fmt.Sprintf(`  on_failure: [{name: report, shell: true, command: "echo $SCD_ROLLED_BACK > %s"}]`, marker)))
			r1 := deployed(t, s, deploy.Options{Config: cfg})
			bans := c.count()

			pipe := slices.Clone(deploy.Pipeline)
			pipe[i] = failing{pipe[i]}
			rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: writeBuild(t, "<p>two</p>", "bbbb2222", nil),
				Targets: []deploy.Target{s.target()}, Pipeline: pipe})
			code, body := s.get(t, "/"+job+"/template/page.html")
			switch {
			case name == "prune":
				if err != nil || rep.Step("prune").Status != "warning" || body != "<p>two</p>" {
					t.Fatalf("prune failure: %v, %+v, page %q", err, rep.Step("prune"), body)
				}
				return
			case i < slices.Index(stepNames, "activate"):
				if deploy.ExitCode(err) != deploy.ExitFailed || rep.Status != "failed" || rep.Targets[0].Activated {
					t.Fatalf("before the switch: code %d, %+v", deploy.ExitCode(err), rep)
				}
				if c.count() != bans {
					t.Error("a failure before the switch flushed the cache")
				}
			default:
				if deploy.ExitCode(err) != deploy.ExitRolledBack || rep.Status != "rolled_back" || !rep.Targets[0].RolledBack {
					t.Fatalf("after the switch: code %d, %+v", deploy.ExitCode(err), rep)
				}
				if c.count() <= bans {
					t.Error("rollback did not flush the cache again")
				}
			}
			if rep.FailedStep != name || !strings.Contains(rep.Error, "injected failure") {
				t.Errorf("report: failed step %q, error %q", rep.FailedStep, rep.Error)
			}
			if code != 200 || body != "<p>one</p>" || active(t, s.tg) != r1 || s.srv.ActiveID() != r1 {
				t.Errorf("users must be on release 1: %d %q, target %s, server %s", code, body, active(t, s.tg), s.srv.ActiveID())
			}
			if st, _ := s.client.Status(t.Context()); st.Hold != nil {
				t.Errorf("hold left open: %+v", st.Hold)
			}
			got, _ := os.ReadFile(marker)
			want := "0"
			if rep.Status == "rolled_back" {
				want = "1"
			}
			if strings.TrimSpace(string(got)) != want {
				t.Errorf("on_failure hook saw SCD_ROLLED_BACK=%q, want %s", got, want)
			}
		})
	}
}

// brokenActivate is a target whose Activate fails.
type brokenActivate struct{ publish.Target }

func (brokenActivate) Activate(context.Context, string) error {
	return errors.New("disk full")
}

// TestRollingSecondTargetFails: two targets, the second one's switch
// fails; the first, already switched, is rolled back and the report says
// which targets were touched.
func TestRollingSecondTargetFails(t *testing.T) {
	a, b := newStack(t), newStack(t)
	cfg := config(t, "{}")
	b1 := writeBuild(t, "<p>one</p>", "aaaa1111", nil)
	rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: b1, Targets: []deploy.Target{a.target(), b.target()}})
	if err != nil {
		t.Fatal(err)
	}
	r1a, r1b := rep.Targets[0].Release, rep.Targets[1].Release

	b2 := writeBuild(t, "<p>two</p>", "bbbb2222", nil)
	rep, err = deploy.Run(t.Context(), deploy.Options{Config: cfg, From: b2, Targets: []deploy.Target{
		a.target(), {Target: brokenActivate{b.tg}, Admin: b.client},
	}})
	if deploy.ExitCode(err) != deploy.ExitRolledBack {
		t.Fatalf("code %d: %v", deploy.ExitCode(err), err)
	}
	ta, tb := rep.Targets[0], rep.Targets[1]
	if !ta.Staged || !ta.Activated || !ta.RolledBack || !tb.Staged || tb.Activated || tb.RolledBack {
		t.Errorf("targets: %+v", rep.Targets)
	}
	if active(t, a.tg) != r1a || active(t, b.tg) != r1b || a.srv.ActiveID() != r1a {
		t.Errorf("not back on release 1")
	}
	if _, body := a.get(t, "/"+job+"/template/page.html"); body != "<p>one</p>" {
		t.Errorf("target a serves %q", body)
	}
	if !strings.Contains(rep.Error, "disk full") || len(rep.Rollback) == 0 {
		t.Errorf("report: %+v", rep)
	}
}

// TestRollingChecksEachTargetBeforeTheNext: the check of the first target
// runs before the second is activated.
func TestRollingChecksEachTargetBeforeTheNext(t *testing.T) {
	a, b := newStack(t), newStack(t)
	cfg := config(t, "{}")
	var order []string
	o := deploy.Options{Config: cfg, From: writeBuild(t, "<p>one</p>", "aaaa1111", nil), Targets: []deploy.Target{a.target(), b.target()},
		CheckTarget: func(_ context.Context, c *deploy.Context, ts *deploy.TargetState) error {
			var st []string
			for _, x := range c.Targets {
				st = append(st, fmt.Sprint(x.Activated))
			}
			order = append(order, strings.Join(st, ","))
			return nil
		}}
	if _, err := deploy.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"true,false", "true,true"}) {
		t.Errorf("checks saw %v", order)
	}
}

// TestFlushTargetDown: a cache that does not answer is retried, then
// fails the deploy (rolled back) or, with on_failure: continue, is a
// warning in the report — never silent.
func TestFlushTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/"
	ln.Close()
	for _, policy := range []string{"fail", "continue"} {
		t.Run(policy, func(t *testing.T) {
			s := newStack(t)
			cfg := config(t, fmt.Sprintf(`
flush: [{name: down, type: ban, url: %q, headers: {X-Ban-Url: "{pattern}"}, retries: 2, backoff: 1ms, timeout: 1s, on_failure: %s}]
`, down, policy))
			deployed(t, s, deploy.Options{Config: config(t, "{}")})
			rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: writeBuild(t, "<p>two</p>", "bbbb2222", nil), Targets: []deploy.Target{s.target()}})
			st := rep.Step("flush caches")
			_, body := s.get(t, "/"+job+"/template/page.html")
			if policy == "fail" {
				if deploy.ExitCode(err) != deploy.ExitRolledBack || st.Status != "failed" || body != "<p>one</p>" {
					t.Fatalf("code %d, step %+v, page %q", deploy.ExitCode(err), st, body)
				}
				return
			}
			if err != nil || st.Status != "warning" || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "after 3 attempts") || body != "<p>two</p>" {
				t.Fatalf("err %v, step %+v, page %q", err, st, body)
			}
		})
	}
}

// TestPreviewWarmUpFailureNeverActivates: a page that exists live but
// 404s in the staged release stops the deploy before the switch.
func TestPreviewWarmUpFailureNeverActivates(t *testing.T) {
	s := newStack(t)
	c := newRecorder(t)
	o := deploy.Options{Config: config(t, fullConfig(t, s, c, ""))}
	o.From = writeBuild(t, "<p>one</p>", "aaaa1111", map[string]string{"template/legacy.html": "<p>legacy</p>"})
	o.Targets = []deploy.Target{s.target()}
	rep, err := deploy.Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	r1 := rep.Release
	cfg := config(t, fullConfig(t, s, c, "")+"\nttfb_tested_pages: [/"+job+"/template/legacy.html]\n")
	rep, err = deploy.Run(t.Context(), deploy.Options{Config: cfg, From: writeBuild(t, "<p>two</p>", "bbbb2222", nil), Targets: []deploy.Target{s.target()}})
	if deploy.ExitCode(err) != deploy.ExitFailed || rep.FailedStep != "warm up preview" || rep.Targets[0].Activated {
		t.Fatalf("code %d: %+v", deploy.ExitCode(err), rep)
	}
	if !strings.Contains(rep.Error, "404") {
		t.Errorf("the report does not say why: %q", rep.Error)
	}
	if active(t, s.tg) != r1 {
		t.Error("activated")
	}
	if _, body := s.get(t, "/"+job+"/template/page.html"); body != "<p>one</p>" {
		t.Errorf("users get %q", body)
	}
}

// TestFirstDeployCannotRollBack: with no earlier release there is nothing
// to go back to: exit 5, and the report says so.
func TestFirstDeployCannotRollBack(t *testing.T) {
	s := newStack(t)
	rep, err := deploy.Run(t.Context(), deploy.Options{Config: config(t, "{}"), From: writeBuild(t, "<p>one</p>", "aaaa1111", nil),
		Targets: []deploy.Target{s.target()},
		Verify:  func(context.Context, *deploy.Context) error { return errors.New("smoke test failed") }})
	if deploy.ExitCode(err) != deploy.ExitRollbackFailed || rep.Status != "rollback_failed" || !strings.Contains(rep.Targets[0].RollbackError, "nothing to roll back to") {
		t.Fatalf("code %d: %+v", deploy.ExitCode(err), rep)
	}
}

func TestUsageErrors(t *testing.T) {
	tg, _ := publish.OpenLocal(t.TempDir(), publish.Options{})
	for name, o := range map[string]deploy.Options{
		"no target":  {From: "x"},
		"no build":   {Targets: []deploy.Target{{Target: tg}}},
		"keep 1":     {From: "x", Keep: 1, Targets: []deploy.Target{{Target: tg}}},
		"nil target": {From: "x", Targets: []deploy.Target{{}}},
	} {
		if _, err := deploy.Run(t.Context(), o); deploy.ExitCode(err) != deploy.ExitUsage {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCanary checks `scd deploy --canary`: the release passes the same
// gates, then goes to a share of clients without being activated, until
// promoted.
func TestCanary(t *testing.T) {
	s := newStack(t)
	c := newRecorder(t)
	cfg := config(t, fullConfig(t, s, c, ""))
	log := testLogger(t)
	r1 := deployed(t, s, deploy.Options{Config: cfg, Logger: log})

	b2 := writeBuild(t, "<p>two</p>", "bbbb2222", nil)
	rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: b2, Targets: []deploy.Target{s.target()}, Logger: log, Canary: 25})
	if err != nil {
		t.Fatalf("canary deploy: %v\n%+v", err, rep)
	}
	var want []string
	for _, st := range deploy.CanaryPipeline {
		want = append(want, st.String())
	}
	if !slices.Equal(names(rep.Steps), want) {
		t.Fatalf("steps %v, want %v", names(rep.Steps), want)
	}
	if got := active(t, s.tg); got != r1 {
		t.Fatalf("a canary activated %s; %s must stay active", got, r1)
	}
	st, err := s.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Canary == nil || st.Canary.Release != rep.Release || st.Canary.Percent != 25 {
		t.Fatalf("canary status: %+v", st.Canary)
	}
	if c.count() != 1 {
		t.Errorf("a canary flushed the caches: %v", c.bans)
	}
	if _, err := s.client.PromoteCanary(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := active(t, s.tg); got != rep.Release {
		t.Fatalf("after promote: active %s, want %s", got, rep.Release)
	}

	// Without an admin API there is nobody to send clients to.
	b3 := writeBuild(t, "<p>three</p>", "cccc3333", nil)
	_, err = deploy.Run(t.Context(), deploy.Options{Config: cfg, From: b3, Targets: []deploy.Target{{Target: s.tg}}, Logger: log, Canary: 10})
	if err == nil || deploy.ExitCode(err) != deploy.ExitFailed {
		t.Fatalf("canary without --admin: %v", err)
	}
	if got := active(t, s.tg); got != rep.Release {
		t.Errorf("a failed canary changed the active release to %s", got)
	}
}

// TestRollingWarmsEachTarget: in a rolling deploy each target is warmed
// up on its own server right after its switch; a target that fails it
// stops the rollout and every switched target goes back.
func TestRollingWarmsEachTarget(t *testing.T) {
	a, b := newStack(t), newStack(t)
	rec := newRecorder(t)
	cfg := config(t, fullConfig(t, a, rec, ""))

	var previews atomic.Int64
	broken := atomic.Bool{}
	// b's admin listener, counting (and, when broken, failing) preview requests.
	bAdmin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/-/preview/") {
			previews.Add(1)
			if broken.Load() {
				w.WriteHeader(500)
				return
			}
		}
		b.srv.AdminHandler("").ServeHTTP(w, r)
	}))
	defer bAdmin.Close()
	tb := deploy.Target{Target: b.tg, Admin: &serve.Client{Addr: strings.TrimPrefix(bAdmin.URL, "http://")}}

	rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: writeBuild(t, "<p>one</p>", "aaaa1111", nil), Targets: []deploy.Target{a.target(), tb}})
	if err != nil {
		t.Fatal(err)
	}
	if previews.Load() == 0 {
		t.Fatal("the second target was not warmed up on its own server")
	}
	r1a, r1b := rep.Targets[0].Release, rep.Targets[1].Release
	if r1a != r1b {
		t.Fatalf("two release ids: %s and %s", r1a, r1b)
	}

	broken.Store(true)
	rep, err = deploy.Run(t.Context(), deploy.Options{Config: cfg, From: writeBuild(t, "<p>two</p>", "bbbb2222", nil), Targets: []deploy.Target{a.target(), tb}})
	if deploy.ExitCode(err) != deploy.ExitRolledBack {
		t.Fatalf("code %d: %v", deploy.ExitCode(err), err)
	}
	if !rep.Targets[0].RolledBack || !rep.Targets[1].RolledBack || !strings.Contains(rep.Error, "warm-up on its server") {
		t.Errorf("report: %+v", rep)
	}
	if active(t, a.tg) != r1a || active(t, b.tg) != r1b {
		t.Errorf("not back on release 1")
	}
	if _, body := a.get(t, "/"+job+"/template/page.html"); body != "<p>one</p>" {
		t.Errorf("target a serves %q after the rollback", body)
	}
}

// TestOneReleaseIDOnEveryTarget: a deploy to two targets stages one
// release id on both, even when one target's history is ahead of the
// other's (ids are to the second, and each target's must sort after its
// own), so that a preview address naming the release finds it on either
// server. Here the preview address is the second target's server.
func TestOneReleaseIDOnEveryTarget(t *testing.T) {
	a, b := newStack(t), newStack(t)
	rec := newRecorder(t)
	// b already has a release an hour ahead of the clock.
	ahead := writeBuild(t, "<p>zero</p>", "0000aaaa", nil)
	bm, err := manifest.ReadBuild(ahead)
	if err != nil {
		t.Fatal(err)
	}
	first := publish.NextReleaseID(time.Now().Add(time.Hour), bm.ID, "")
	if _, err := b.tg.Stage(t.Context(), ahead, publish.WithReleaseID(first)); err != nil {
		t.Fatal(err)
	}
	cfg := config(t, strings.Replace(fullConfig(t, a, rec, ""), a.preview.URL, b.preview.URL, 1))
	rep, err := deploy.Run(t.Context(), deploy.Options{Config: cfg, From: writeBuild(t, "<p>one</p>", "aaaa1111", nil),
		Targets: []deploy.Target{a.target(), b.target()}})
	if err != nil {
		t.Fatalf("deploy: %v\n%+v", err, rep)
	}
	ra, rb := rep.Targets[0].Release, rep.Targets[1].Release
	if ra != rb || rep.Release != ra || ra <= first {
		t.Errorf("releases %s on a, %s on b, %s reported; want one id after %s", ra, rb, rep.Release, first)
	}
	if active(t, a.tg) != ra || active(t, b.tg) != ra {
		t.Errorf("active: %s on a, %s on b; want %s", active(t, a.tg), active(t, b.tg), ra)
	}
}
