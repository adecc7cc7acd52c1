package builder_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
)

// Environment of the builder child of TestBuildSIGKILL: the project's
// root, the output and the cache, one per line.
const (
	envKillChild  = "SCD_BUILD_KILL_CHILD"
	killChildTest = "TestBuildKilledChild"
)

// killedEdit is the i-th edit of the child's sequence: the module file
// with a line of its own each time, and a theme override added and
// removed every other build, so that every build has work to do.
func killedEdit(t *testing.T, root string, i int) {
	appendSrc(t, root, "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", fmt.Sprintf("\nwindow.acmeBuild = %d;\n", i))
	override := "app/design/frontend/Acme/shop/Acme_Checkout/web/js/cart.js"
	if i%2 == 0 {
		writeSrc(t, root, override, fmt.Sprintf("define([], function () { return 'shop cart %d'; });\n", i))
	} else if err := os.Remove(filepath.Join(root, override)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// TestBuildKilledChild is not a test: it is the builder that
// TestBuildSIGKILL runs in a child process (this test binary, run again)
// and kills. It edits the project and rebuilds it, over and over, until
// it is killed; a failed build exits non-zero, which the parent tells
// from the kill.
func TestBuildKilledChild(t *testing.T) {
	spec := os.Getenv(envKillChild)
	if spec == "" {
		t.Skip("the child of TestBuildSIGKILL")
	}
	parts := strings.Split(spec, "\n")
	if len(parts) != 3 {
		t.Fatalf("%s: want three lines, got %q", envKillChild, spec)
	}
	root, out, cache := parts[0], parts[1], parts[2]
	fmt.Println("ready")
	for i := 0; ; i++ {
		killedEdit(t, root, i)
		magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{CacheDir: cache, Skip: builder.Skip{CSS: !haveLess(t)}})
		fmt.Println("done", i)
	}
}

// TestBuildSIGKILL kills a builder (TestBuildKilledChild) with SIGKILL at
// random moments of its rebuilds of the Magento fixture, 40 times, with no
// clean-up of any kind: over the kills, in the middle of every step
// (compiling, writing the tree aside or updating the spare tree, the swap,
// saving the pack, the state and the job records). After each kill a
// build over what it left, with the same cache, must succeed and give what
// a cold build of the same sources gives, byte for byte, and leave no
// temporary tree beside the output.
func TestBuildSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	root, tmp := t.TempDir(), t.TempDir()
	if err := fixtures.CopyDir(fixtures.Dir("magento"), root); err != nil {
		t.Fatal(err)
	}
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	// (LESS included where node can compile it: its recalls from the
	// cache are killed too)
	o := builder.Options{CacheDir: cache, Skip: builder.Skip{CSS: !haveLess(t)}}
	magentoBuild(t, root, out, "", matrix.Filter{}, o)
	// One rebuild's time, to spread the kills over the child's first few.
	killedEdit(t, root, -1)
	start := time.Now()
	magentoBuild(t, root, out, "", matrix.Filter{}, o)
	one := time.Since(start)

	const kills = 40
	rng := rand.New(rand.NewPCG(3, 29))
	completed := 0
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^"+killChildTest+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), envKillChild+"="+root+"\n"+out+"\n"+cache)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The child's lines, read as they come: the kill is timed from
		// its "ready", however long the test binary took to start.
		ready, lines := make(chan struct{}), make(chan string, 1)
		go func() {
			var all strings.Builder
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				if sc.Text() == "ready" {
					close(ready)
				}
				all.WriteString(sc.Text() + "\n")
			}
			lines <- all.String()
		}()
		select {
		case <-ready:
		case got := <-lines:
			t.Fatalf("kill %d: the child stopped before it was ready (%v):\n%s%s", i, cmd.Wait(), got, stderr.String())
		}
		wait := time.Duration(rng.Int64N(int64(4 * one)))
		time.Sleep(wait)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		stdout := <-lines
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: the child ended with %v, not by SIGKILL:\n%s%s", i, err, stdout, stderr.String())
		}
		done := strings.Count(stdout, "done ")
		completed += done

		what := fmt.Sprintf("after kill %d (%s after the child's start, %d of its builds done)", i, wait.Round(time.Millisecond), done)
		magentoBuild(t, root, out, "", matrix.Filter{}, o)
		cold := filepath.Join(tmp, "cold")
		magentoBuild(t, root, cold, "", matrix.Filter{}, builder.Options{Skip: o.Skip})
		sameTree(t, what, treeSums(t, out), treeSums(t, cold))
		if left, _ := filepath.Glob(filepath.Join(tmp, ".out.tmp-*")); len(left) > 0 {
			t.Errorf("%s: the rebuild left %v beside the output", what, left)
		}
		if err := os.RemoveAll(cold); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
	if completed == 0 {
		t.Errorf("no build of the child completed before its kill: the kills came too early to reach the later steps")
	}
	t.Logf("%d SIGKILLs (a rebuild takes %s); %d of the child's builds completed in between", kills, one.Round(time.Millisecond), completed)
}
