package run

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func logger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestEnvironment(t *testing.T) {
	var log bytes.Buffer
	env := Env{ReleaseID: "20260102T030405Z-abcdef12", BuildDir: "/b", Target: "/srv/site", PreviousReleaseID: "old"}
	hooks := []Hook{{
		Name:    "show",
		Phase:   PostDeploy,
		Command: []string{"/bin/sh", "-c", `echo "$SCD_PHASE $SCD_RELEASE_ID $SCD_BUILD_DIR $SCD_TARGET $SCD_PREVIOUS_RELEASE_ID $SCD_HOOK $EXTRA"`},
		Env:     map[string]string{"EXTRA": "x"},
	}}
	res, err := Run(context.Background(), hooks, PostDeploy, env, Options{Logger: logger(&log)})
	if err != nil {
		t.Fatal(err)
	}
	want := "post_deploy 20260102T030405Z-abcdef12 /b /srv/site old show x"
	if len(res) != 1 || res[0].Output != want || res[0].ExitCode != 0 {
		t.Fatalf("got %+v, want output %q", res, want)
	}
	// The output is in the log, attributed to the hook.
	if !strings.Contains(log.String(), "hook=show") || !strings.Contains(log.String(), want) {
		t.Errorf("log lacks the hook's output:\n%s", log.String())
	}
}

func TestPlaceholdersStayOneArgument(t *testing.T) {
	env := Env{ReleaseID: "r1", BuildDir: "/dir with spaces"}
	h := Hook{Phase: PreBuild, Command: []string{"printf", "[%s]", "{release}", "{build_dir}", "pre-{phase}"}}
	res, err := Run(context.Background(), []Hook{h}, PreBuild, env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res[0].Output, "[r1][/dir with spaces][pre-pre_build]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A build directory whose name is shell syntax must stay a name, whether
// the hook passes it as an argument or (with shell: true) reads it from
// the environment.
func TestNoInjection(t *testing.T) {
	tmp := t.TempDir()
	canary := filepath.Join(tmp, "canary")
	if err := os.WriteFile(canary, []byte("alive"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, evil := range []string{
		"x; rm -rf " + canary,
		"x && rm -rf " + canary,
		"$(rm -rf " + canary + ")",
		"`rm -rf " + canary + "`",
		"x' ; rm -rf '" + canary,
	} {
		dir := filepath.Join(tmp, evil)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		env := Env{BuildDir: dir, ReleaseID: evil}
		hooks := []Hook{
			{Name: "argv", Phase: PostBuild, Command: []string{"ls", "-d", "{build_dir}"}},
			{Name: "argv-release", Phase: PostBuild, Command: []string{"echo", "{release}"}},
			{Name: "shell", Phase: PostBuild, Shell: true, Command: []string{`ls -d "$SCD_BUILD_DIR" && echo "$SCD_RELEASE_ID"`}},
		}
		res, err := Run(context.Background(), hooks, PostBuild, env, Options{})
		if err != nil {
			t.Fatalf("%q: %v", evil, err)
		}
		if res[0].Output != dir || res[1].Output != evil || res[2].Output != dir+"\n"+evil {
			t.Errorf("%q: outputs %q, %q, %q", evil, res[0].Output, res[1].Output, res[2].Output)
		}
		if _, err := os.Stat(canary); err != nil {
			t.Fatalf("%q: canary removed: the name was run as a command", evil)
		}
	}
}

func TestFailureNamesTheHookAndStops(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	hooks := []Hook{
		{Name: "first", Phase: PreActivate, Command: []string{"true"}},
		{Name: "check-cdn", Phase: PreActivate, Shell: true, Command: []string{"echo cdn unreachable >&2; exit 3"}},
		{Name: "never", Phase: PreActivate, Command: []string{"touch", ran}},
		{Name: "other-phase", Phase: PostDeploy, Command: []string{"false"}},
	}
	res, err := Run(context.Background(), hooks, PreActivate, Env{}, Options{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`hook "check-cdn"`, "pre_activate", "exit status 3", "cdn unreachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("error does not wrap the exit status: %v", err)
	}
	if len(res) != 2 || res[1].ExitCode != 3 {
		t.Errorf("results %+v", res)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("a hook after the failing one ran")
	}
}

func TestOnFailureRunsEveryHook(t *testing.T) {
	hooks := []Hook{
		{Name: "a", Phase: OnFailure, Command: []string{"false"}},
		{Name: "b", Phase: OnFailure, Shell: true, Command: []string{`echo "$SCD_ERROR $SCD_ROLLED_BACK"`}},
		{Name: "c", Phase: OnFailure, Command: []string{"false"}},
	}
	res, err := Run(context.Background(), hooks, OnFailure, Env{Error: "warm-up failed", RolledBack: true}, Options{})
	if len(res) != 3 {
		t.Fatalf("ran %d hooks, want 3", len(res))
	}
	if res[1].Output != "warm-up failed 1" {
		t.Errorf("b: %q", res[1].Output)
	}
	if err == nil || !strings.Contains(err.Error(), `hook "a"`) || !strings.Contains(err.Error(), `hook "c"`) {
		t.Errorf("err = %v", err)
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	start := time.Now()
	hooks := []Hook{{Name: "slow", Phase: PostDeploy, Shell: true, Timeout: 200 * time.Millisecond,
		// The shell's child keeps stdout open: the group kill and WaitDelay
		// must still end the hook promptly.
		Command: []string{"sleep 30 & sleep 30"}}}
	_, err := Run(context.Background(), hooks, PostDeploy, Env{}, Options{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	if !strings.Contains(err.Error(), `hook "slow"`) {
		t.Errorf("err = %v", err)
	}
}

func TestBadCommands(t *testing.T) {
	for name, h := range map[string]Hook{
		"empty":           {Phase: PreBuild},
		"shell two parts": {Phase: PreBuild, Shell: true, Command: []string{"echo", "x"}},
		"not found":       {Phase: PreBuild, Command: []string{"/nonexistent/scd-hook"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(context.Background(), []Hook{h}, PreBuild, Env{}, Options{})
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestPhases(t *testing.T) {
	for _, p := range Phases {
		if !p.Valid() {
			t.Errorf("%s not valid", p)
		}
	}
	if Phase("post-deploy").Valid() {
		t.Error("post-deploy (dash) accepted")
	}
}
