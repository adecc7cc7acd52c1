// Package run runs the user's own commands at the steps of a deploy
// (pre_build, post_build, pre_activate, post_deploy, on_failure).
//
// A hook is an argv, executed directly: a release id, a path or a file name
// passed to it is one argument however it is spelled, so nothing in it can
// be read as shell syntax. Only a hook that says `shell: true` runs through
// /bin/sh -c, and then its script sees the deploy's values only in
// environment variables ("$SCD_BUILD_DIR"), never pasted into the script.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/scdtool/scd/hooks/internal/proc"
)

// Phase is a step of the deploy at which hooks run.
type Phase string

// Phases, in the order a deploy reaches them.
const (
	PreBuild    Phase = "pre_build"
	PostBuild   Phase = "post_build"
	PreActivate Phase = "pre_activate"
	PostDeploy  Phase = "post_deploy"
	// OnFailure runs after a failed deploy (and after its rollback, when
	// there was one). Every on_failure hook runs even if one fails, since
	// they usually notify and a broken notifier must not hide another.
	OnFailure Phase = "on_failure"
)

// Phases lists every phase in deploy order.
var Phases = []Phase{PreBuild, PostBuild, PreActivate, PostDeploy, OnFailure}

// Valid reports whether p is one of Phases.
func (p Phase) Valid() bool {
	for _, q := range Phases {
		if p == q {
			return true
		}
	}
	return false
}

// DefaultTimeout bounds a hook that sets no timeout: a hung hook must not
// hold a deploy (and the held requests behind it) forever.
const DefaultTimeout = 10 * time.Minute

// Hook is one user command.
type Hook struct {
	// Name identifies the hook in logs and errors; "" uses Command[0].
	Name  string
	Phase Phase
	// Command is the argv. Arguments may contain the placeholders of
	// Expand ({release}, {build_dir}, …); each substitution stays inside its
	// argument. With Shell, Command must be a single script, run as
	// /bin/sh -c script, and gets no substitution.
	Command []string
	Shell   bool
	// Dir is the working directory; "" is the deploy's own.
	Dir string
	// Env adds variables (after the SCD_* ones, so a hook may override
	// them deliberately).
	Env     map[string]string
	Timeout time.Duration // 0 = DefaultTimeout
}

// Label is the name used for h in logs and errors.
func (h Hook) Label() string {
	if h.Name != "" {
		return h.Name
	}
	if len(h.Command) > 0 {
		if h.Shell {
			return "sh"
		}
		return h.Command[0]
	}
	return "hook"
}

// Env is what a deploy tells its hooks, as SCD_* environment variables.
type Env struct {
	ReleaseID         string // SCD_RELEASE_ID
	PreviousReleaseID string // SCD_PREVIOUS_RELEASE_ID: active before this deploy
	BuildDir          string // SCD_BUILD_DIR
	Target            string // SCD_TARGET (a directory or s3:// URL)
	PreviewURL        string // SCD_PREVIEW_URL: where the staged release is reachable
	BaseURL           string // SCD_BASE_URL: the live address
	// Error is the deploy's error, for on_failure hooks (SCD_ERROR).
	Error string
	// RolledBack is set for on_failure after an automatic rollback
	// (SCD_ROLLED_BACK=1).
	RolledBack bool
}

// Vars returns the environment for phase as NAME=value pairs.
func (e Env) Vars(phase Phase) []string {
	v := []string{
		"SCD_PHASE=" + string(phase),
		"SCD_RELEASE_ID=" + e.ReleaseID,
		"SCD_PREVIOUS_RELEASE_ID=" + e.PreviousReleaseID,
		"SCD_BUILD_DIR=" + e.BuildDir,
		"SCD_TARGET=" + e.Target,
		"SCD_PREVIEW_URL=" + e.PreviewURL,
		"SCD_BASE_URL=" + e.BaseURL,
	}
	if phase == OnFailure {
		v = append(v, "SCD_ERROR="+e.Error)
		if e.RolledBack {
			v = append(v, "SCD_ROLLED_BACK=1")
		} else {
			v = append(v, "SCD_ROLLED_BACK=0")
		}
	}
	return v
}

// Expand substitutes the placeholders {release}, {previous_release},
// {build_dir}, {target}, {preview_url}, {base_url} and {phase} in one
// argument. The result is still one argument.
func (e Env) Expand(phase Phase, arg string) string {
	if !strings.Contains(arg, "{") {
		return arg
	}
	return strings.NewReplacer(
		"{release}", e.ReleaseID,
		"{previous_release}", e.PreviousReleaseID,
		"{build_dir}", e.BuildDir,
		"{target}", e.Target,
		"{preview_url}", e.PreviewURL,
		"{base_url}", e.BaseURL,
		"{phase}", string(phase),
	).Replace(arg)
}

// Result is what one hook did.
type Result struct {
	Hook     string
	Phase    Phase
	ExitCode int // -1 when it did not exit (not started, killed)
	Duration time.Duration
	Output   string // the tail of its output
	Err      error
}

// Options configure Run.
type Options struct {
	// Logger receives each output line of a hook at Info (with hook and
	// phase attributes) and one line per hook. nil discards.
	Logger *slog.Logger
}

// Run runs the hooks of phase (others in hooks are skipped), in order. It
// stops at the first failing hook and returns an error naming it, except in
// OnFailure, where every hook runs and the errors are joined.
func Run(ctx context.Context, hooks []Hook, phase Phase, env Env, o Options) ([]Result, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		results []Result
		errs    []error
	)
	for _, h := range hooks {
		if h.Phase != phase {
			continue
		}
		r := runOne(ctx, h, phase, env, log)
		results = append(results, r)
		if r.Err != nil {
			errs = append(errs, r.Err)
			if phase != OnFailure {
				break
			}
		}
	}
	return results, errors.Join(errs...)
}

func runOne(ctx context.Context, h Hook, phase Phase, env Env, log *slog.Logger) Result {
	name := h.Label()
	r := Result{Hook: name, Phase: phase, ExitCode: -1}
	argv, err := h.argv(phase, env)
	if err != nil {
		r.Err = fmt.Errorf("hook %q (%s): %w", name, phase, err)
		log.Error("hook failed", "hook", name, "phase", phase, "err", err)
		return r
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	vars := env.Vars(phase)
	vars = append(vars, "SCD_HOOK="+name)
	for k, v := range h.Env {
		vars = append(vars, k+"="+v)
	}
	log.Info("hook start", "hook", name, "phase", phase, "argv", argv)
	pr, err := proc.Run(ctx, proc.Cmd{
		Argv:    argv,
		Env:     vars,
		Dir:     h.Dir,
		Timeout: timeout,
		Logger:  log,
		Attrs:   []any{"hook", name, "phase", phase},
	})
	r.ExitCode, r.Duration, r.Output = pr.ExitCode, pr.Duration, pr.Output
	if err != nil {
		msg := err.Error()
		if last := lastLine(pr.Output); last != "" {
			msg += ": " + last
		}
		r.Err = fmt.Errorf("hook %q (%s): %w", name, phase, &hookError{msg: msg, err: err})
		log.Error("hook failed", "hook", name, "phase", phase, "exit", r.ExitCode, "duration", r.Duration, "err", err)
		return r
	}
	log.Info("hook done", "hook", name, "phase", phase, "duration", r.Duration)
	return r
}

// argv builds the process's argv: the command with placeholders expanded,
// or /bin/sh -c script.
func (h Hook) argv(phase Phase, env Env) ([]string, error) {
	if len(h.Command) == 0 || h.Command[0] == "" {
		return nil, errors.New("empty command")
	}
	if h.Shell {
		if len(h.Command) != 1 {
			return nil, errors.New("shell: true takes the script as one string")
		}
		// The script is passed as is: values reach it only through the
		// environment, so quoting is the script's business, not ours.
		return []string{"/bin/sh", "-c", h.Command[0]}, nil
	}
	argv := make([]string, len(h.Command))
	for i, a := range h.Command {
		argv[i] = env.Expand(phase, a)
	}
	return argv, nil
}

// hookError keeps the underlying error (proc.ErrTimeout, *exec.ExitError)
// reachable with errors.Is/As while its message adds the output's last line.
type hookError struct {
	msg string
	err error
}

func (e *hookError) Error() string { return e.msg }
func (e *hookError) Unwrap() error { return e.err }

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ErrTimeout is wrapped by a Result's Err when the hook outlived its timeout.
var ErrTimeout = proc.ErrTimeout
