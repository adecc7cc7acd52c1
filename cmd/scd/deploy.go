package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/deploy"
	"github.com/scdtool/scd/hooks"
	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/serve"
)

// deployCommands are `scd deploy` and `scd check`.
//
// scd deploy exit codes (see the deploy package documentation): 0
// deployed; 1 a step failed before any switch (users unaffected); 2 usage
// or configuration; 4 failed after a switch and rolled back; 5 the
// rollback failed. scd check: 0 no error finding; 1 at least one; 2 usage.
func deployCommands(stdout, stderr io.Writer) []*cobra.Command {
	v := viper.New()
	dep := &cobra.Command{
		Use:   "deploy --to <target> [--to <target2>…] [--from <build>]",
		Short: "Build, stage, warm up, switch, flush and verify a release, rolling back on failure",
		Long: `deploy runs the whole deploy sequence: build (or --from a finished build) →
verify → stage on every target → warm up the staged release through its
preview address → hold requests (--admin) → activate, target by target →
flush caches → release the hold → warm up the live pages → verify → prune.

A failure before the switch changes nothing for users (exit 1). A failure
after it rolls back every target already switched and flushes again (exit 4;
5 if the rollback failed). Warm-up, flush and hooks come from the deploy:
section of themes.yml. --dry-run prints the plan and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDeploy(cmd, v, stdout, stderr) },
	}
	f := dep.Flags()
	addBuildFlags(f)
	f.StringArray("to", nil, "target: a directory or s3://bucket/prefix (repeat for a rolling deploy)")
	f.String("from", "", "deploy this finished build (the directory holding build.json) instead of building")
	f.StringArray("admin", nil, "scd serve admin API of each target, in --to order (host:port, http://host:port or unix:/path; - for none)")
	f.String("admin-token", "", "bearer token for the admin APIs (env SCD_ADMIN_TOKEN)")
	f.Int("keep", deploy.DefaultKeep, "releases to keep per target when pruning (at least 2)")
	f.Int("keep-assets", publish.DefaultKeepAssets, "skew protection: also serve the hashed assets of this many previously active releases")
	f.Duration("hold-timeout", deploy.DefaultHoldTimeout, "the longest the servers hold new requests during the switch")
	f.Duration("lock-timeout", publish.DefaultLockTimeout, "how long to wait for another publisher of a target")
	f.Bool("dry-run", false, "print the plan and change nothing")
	f.Int("canary", 0, "instead of switching, send this share of clients (1-99) to the new release on the servers given with --admin; end with scd promote or scd abort")

	chk := &cobra.Command{
		Use:   "check",
		Short: "Check the configuration and environment for a zero-downtime deploy",
		Long: `check validates what a zero-downtime deploy needs — the matrix and its deploy:
section, a build made in the build phase (--from), warm-up pages, flush targets
reachable, compression, a sensible thread count, release retention and skew
protection — and prints each finding with how to fix it. It exits 1 when a
finding is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd, stdout, stderr) },
	}
	cf := chk.Flags()
	cf.StringP("matrix", "m", "themes.yml", "matrix file")
	cf.String("from", "", "the build scd deploy would be given")
	cf.IntP("threads", "j", -1, "the --threads the build would run with (default: the matrix file's)")
	cf.Int("keep", deploy.DefaultKeep, "the --keep scd deploy would be given")
	cf.Int("keep-assets", publish.DefaultKeepAssets, "the --keep-assets the targets use")
	cf.StringArray("admin", nil, "scd serve admin APIs to probe")
	cf.Bool("json", false, "print the findings as JSON")
	return []*cobra.Command{dep, chk}
}

func runDeploy(cmd *cobra.Command, v *viper.Viper, stdout, stderr io.Writer) error {
	f := cmd.Flags()
	usage := func(err error) error {
		fmt.Fprintf(stderr, "scd: %s\n", detail(err))
		return &exitError{code: deploy.ExitUsage, err: err}
	}
	s, err := loadSettings(cmd, v)
	if err != nil {
		report(stderr, err, nil)
		return &exitError{code: deploy.ExitUsage, err: err}
	}
	cfg := s.opts.Config
	dc, err := hooks.Decode(cfg.File, cfg.Data, cfg.Deploy)
	if err == nil {
		err = dc.Validate()
	}
	if err != nil {
		report(stderr, err, nil)
		return &exitError{code: deploy.ExitUsage, err: err}
	}
	tos, _ := f.GetStringArray("to")
	admins, _ := f.GetStringArray("admin")
	if len(tos) == 0 {
		return usage(errors.New("--to is required: where the release goes"))
	}
	if len(admins) > 0 && len(admins) != len(tos) {
		return usage(fmt.Errorf("%d --admin for %d --to: give one per target, in --to order (- for none)", len(admins), len(tos)))
	}
	token, _ := f.GetString("admin-token")
	if token == "" {
		token = envValue("SCD_ADMIN_TOKEN")
	}
	verbose, _ := f.GetBool("verbose")
	level := slog.LevelInfo
	switch {
	case verbose:
		level = slog.LevelDebug
	case s.quiet:
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}))
	keepAssets, _ := f.GetInt("keep-assets")
	if keepAssets == 0 {
		keepAssets = -1 // publish: 0 means the default, -1 none
	}
	lockTimeout, _ := f.GetDuration("lock-timeout")
	var targets []deploy.Target
	for i, to := range tos {
		tg, err := publish.Open(to, publish.Options{KeepAssets: keepAssets, LockTimeout: lockTimeout, Logger: log})
		if err != nil {
			return usage(err)
		}
		t := deploy.Target{Target: tg}
		if len(admins) > 0 {
			if addr := adminAddr(admins[i]); addr != "" {
				t.Admin = &serve.Client{Addr: addr, Token: token}
			}
		}
		targets = append(targets, t)
	}
	from, _ := f.GetString("from")
	keep, _ := f.GetInt("keep")
	hold, _ := f.GetDuration("hold-timeout")
	dry, _ := f.GetBool("dry-run")
	canary, _ := f.GetInt("canary")
	if canary < 0 || canary > 99 {
		err := fmt.Errorf("--canary must be 1 to 99 (percent of clients), not %d", canary)
		fmt.Fprintf(stderr, "scd: %v\n", err)
		return &exitError{code: exitConfig, err: err}
	}
	o := deploy.Options{
		Canary: canary,
		Config: dc, From: from, Targets: targets, Keep: keep, HoldTimeout: hold, DryRun: dry, Logger: log,
		Build: func(ctx context.Context) (string, error) {
			p := newProgress(stderr, s)
			s.opts.Progress = p.update
			s.opts.Logger = log
			res, err := builder.Build(ctx, s.opts)
			p.finish()
			if err != nil {
				report(stderr, err, nil)
				return "", err
			}
			if !s.quiet {
				report(stderr, nil, res.Warnings)
			}
			return res.Output, nil
		},
	}
	rep, err := deploy.Run(cmd.Context(), o)
	if s.json {
		writeJSON(stdout, rep)
	} else {
		printDeploy(stdout, rep, dry)
	}
	if err != nil {
		if !s.json {
			fmt.Fprintf(stderr, "scd: deploy failed: %v\n", err)
		}
		return &exitError{code: deploy.ExitCode(err), err: err}
	}
	return nil
}

// adminAddr turns an --admin value into serve.Client's Addr.
func adminAddr(s string) string {
	s = strings.TrimSpace(s)
	if s == "-" {
		return ""
	}
	s = strings.TrimPrefix(s, "http://")
	return strings.TrimRight(s, "/")
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func envValue(name string) string {
	return strings.TrimSpace(os.Getenv(name))
}

// printDeploy prints the steps (or, for a dry run, the plan) and the
// outcome.
func printDeploy(w io.Writer, rep *deploy.Report, dry bool) {
	if dry {
		fmt.Fprintln(w, "plan (--dry-run: nothing is changed):")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, st := range rep.Steps {
		n++
		d := st.Duration
		if d == "" {
			d = "-"
		}
		line := st.Detail
		if st.Error != "" {
			line = st.Error
		}
		fmt.Fprintf(tw, "%2d. %s\t%s\t%s\t%s\n", n, st.Name, st.Status, d, line)
		for _, warn := range st.Warnings {
			fmt.Fprintf(tw, "    \t\t\twarning: %s\n", warn)
		}
	}
	for _, st := range rep.Rollback {
		fmt.Fprintf(tw, "  ↩ %s\t%s\t%s\t%s\n", st.Name, st.Status, st.Duration, st.Error)
	}
	tw.Flush()
	if dry {
		return
	}
	for _, t := range rep.Targets {
		state := "untouched"
		switch {
		case t.RolledBack:
			state = "activated, then rolled back to " + t.Previous
		case t.Activated && t.RollbackError != "":
			state = "activated; ROLLBACK FAILED: " + t.RollbackError
		case t.Activated:
			state = "activated"
		case t.Staged:
			state = "staged only (never activated)"
		}
		fmt.Fprintf(w, "target %s: %s %s\n", t.Target, t.Release, state)
	}
	switch rep.Status {
	case deploy.StatusOK:
		fmt.Fprintf(w, "deployed release %s (build %.12s) in %s\n", rep.Release, rep.Build, rep.Duration)
	case deploy.StatusFailed:
		fmt.Fprintf(w, "deploy failed at %s; no target was switched: users were not affected\n", rep.FailedStep)
	case "rolled_back":
		fmt.Fprintf(w, "deploy failed at %s after the switch; rolled back to %s\n", rep.FailedStep, rep.Previous)
	case "rollback_failed":
		fmt.Fprintf(w, "deploy failed at %s after the switch, and the ROLLBACK FAILED: see the targets above\n", rep.FailedStep)
	}
}

func runCheck(cmd *cobra.Command, stdout, stderr io.Writer) error {
	f := cmd.Flags()
	o := deploy.CheckOptions{DialTimeout: 2 * time.Second}
	o.Matrix, _ = f.GetString("matrix")
	o.From, _ = f.GetString("from")
	o.Threads, _ = f.GetInt("threads")
	o.Keep, _ = f.GetInt("keep")
	o.KeepAssets, _ = f.GetInt("keep-assets")
	o.Admins, _ = f.GetStringArray("admin")
	for i, a := range o.Admins {
		o.Admins[i] = adminAddr(a)
	}
	findings := deploy.Check(cmd.Context(), o)
	if asJSON, _ := f.GetBool("json"); asJSON {
		writeJSON(stdout, findings)
	} else {
		for _, fd := range findings {
			fmt.Fprintf(stdout, "%-7s  %-15s  %s\n", fd.Level, fd.Check, fd.What)
			if fd.Fix != "" && fd.Level != deploy.LevelOK {
				fmt.Fprintf(stdout, "%-7s  %-15s  fix: %s\n", "", "", fd.Fix)
			}
		}
	}
	if deploy.HasErrors(findings) {
		err := errors.New("check found errors")
		fmt.Fprintln(stderr, "scd: check found errors: a deploy would not be zero-downtime")
		return &exitError{code: 1, err: err}
	}
	return nil
}
