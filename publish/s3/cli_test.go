package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/publish"
)

// TestCLI runs the scd binary (built from cmd/scd into a temporary
// directory) against the S3 server, the way a user does: the bucket and
// prefix in --to, the endpoint in the URL query, the credentials and the
// region in the AWS_* environment variables. It covers publish --activate,
// releases, rollback, activate, prune with --max-deletes (refused over
// the cap, deleting nothing; then done) and wrong credentials.
func TestCLI(t *testing.T) {
	s := needServer(t)
	if testing.Short() {
		t.Skip("builds the scd binary")
	}
	bin := filepath.Join(t.TempDir(), "scd")
	build := exec.Command("go", "build", "-o", bin, "github.com/scdtool/scd/cmd/scd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bucket := s.newBucket(t)
	to := fmt.Sprintf("s3://%s/site?endpoint=%s", bucket, s.endpoint)
	env := []string{"AWS_ACCESS_KEY_ID=" + testAccess, "AWS_SECRET_ACCESS_KEY=" + testSecret, "AWS_REGION=us-east-1"}
	run := func(wantCode int, extraEnv []string, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(withoutAWS(os.Environ()), append(env, extraEnv...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("scd %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	publishJSON := func(dir string) publish.Release {
		t.Helper()
		out, _ := run(0, nil, "publish", "--from", dir, "--to", to, "--activate", "--json")
		var r publish.Release
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("publish --json: %v: %s", err, out)
		}
		return r
	}
	releases := func() []publish.Release {
		t.Helper()
		out, _ := run(0, nil, "releases", "--to", to, "--json")
		var rs []publish.Release
		if err := json.Unmarshal([]byte(out), &rs); err != nil {
			t.Fatalf("releases --json: %v: %s", err, out)
		}
		return rs
	}

	builds := []string{sampleBuild(t), changedSample(t, adminCSS, "\n.cli1{color:red}\n"),
		changedSample(t, adminCSS, "\n.cli2{color:red}\n"), changedSample(t, adminCSS, "\n.cli3{color:red}\n")}
	r1 := publishJSON(builds[0])
	r2 := publishJSON(builds[1])
	if rs := releases(); len(rs) != 2 || rs[1].ID != r2.ID || rs[1].Status != publish.StatusActive {
		t.Fatalf("releases after two publishes: %+v", rs)
	}
	if out, _ := run(0, nil, "rollback", "--to", to); !strings.Contains(out, "rolled back to release "+r1.ID) {
		t.Errorf("rollback: %s", out)
	}
	run(0, nil, "activate", r2.ID, "--to", to)
	publishJSON(builds[2])
	r4 := publishJSON(builds[3])

	// What the bucket serves is the last build.
	tg, err := New(Config{Bucket: bucket, Prefix: "site", Endpoint: s.endpoint, Region: "us-east-1", AccessKey: testAccess, SecretKey: testSecret}, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const m = "adminhtml/Acme/backend/en_US/manifest.json"
	got, err := tg.Read(ctx, m)
	want, _ := os.ReadFile(filepath.Join(builds[3], m))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s after publishing through the CLI: %v", m, err)
	}

	// r1 is outside the skew window (r4, then r3 and r2 were active
	// last): pruning it deletes its index and its own admin.css (and
	// sidecars), more than 1 shared object.
	before := s.keys(t, bucket)
	_, errOut := run(1, nil, "prune", "--keep", "1", "--to", to, "--max-deletes", "1")
	if !strings.Contains(errOut, "more than the limit of 1") || !strings.Contains(errOut, "nothing deleted") {
		t.Errorf("prune over --max-deletes: %s", errOut)
	}
	if after := s.keys(t, bucket); len(after) != len(before) {
		t.Fatalf("prune over --max-deletes deleted %d objects", len(before)-len(after))
	}
	out, _ := run(0, nil, "prune", "--keep", "1", "--to", to, "--max-deletes", "100")
	if !strings.Contains(out, r1.ID) {
		t.Errorf("prune: %s", out)
	}
	if rs := releases(); rs[len(rs)-1].ID != r4.ID || rs[len(rs)-1].Status != publish.StatusActive {
		t.Errorf("after prune: %+v", rs)
	}

	// Wrong credentials: exit 1, a hint, nothing changed.
	before = s.keys(t, bucket)
	_, errOut = run(1, []string{"AWS_SECRET_ACCESS_KEY=wrong"}, "publish", "--from", builds[0], "--to", to, "--activate")
	if !strings.Contains(errOut, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("wrong credentials: %s", errOut)
	}
	if after := s.keys(t, bucket); len(after) != len(before) {
		t.Errorf("a failed publish changed the bucket: %d objects, then %d", len(before), len(after))
	}
}

// withoutAWS drops the AWS_* variables of the environment the tests run
// in, so the binary sees only the ones a test sets.
func withoutAWS(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "AWS_") {
			out = append(out, e)
		}
	}
	return out
}
