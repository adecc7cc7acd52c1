// Package varnishtest starts a real Varnish for tests: varnishd in the
// foreground, in a temporary working directory, on a free loopback port,
// stopped when the test ends. Without varnishd the test is skipped with
// the reason — except under CI=true, where a missing server fails the run
// (.ci/run installs the Debian package `varnish`).
package varnishtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Varnish is a running varnishd.
type Varnish struct {
	Addr string // host:port it listens on
	URL  string // http://Addr
	Dir  string // its working directory (-n)
}

// Binary returns the path of varnishd, or "" when it is not installed.
func Binary() string {
	if p := os.Getenv("SCD_VARNISHD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if p, err := exec.LookPath("varnishd"); err == nil {
		return p
	}
	// Debian installs it in /usr/sbin, often not in a test's PATH.
	for _, p := range []string{"/usr/sbin/varnishd", "/usr/local/sbin/varnishd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs varnishd with the VCL text vcl (already pointing at the
// test's backend) and waits until it accepts connections.
func Start(t testing.TB, vcl string) *Varnish {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "SKIPPING the real-Varnish test: varnishd not found (apt-get install -y varnish, or set SCD_VARNISHD)"
		if os.Getenv("CI") == "true" {
			t.Fatal(strings.Replace(msg, "SKIPPING", "FAILING under CI=true:", 1))
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	vclPath := filepath.Join(dir, "test.vcl")
	if err := os.WriteFile(vclPath, []byte(vcl), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	for range 3 { // a free port can be taken between probe and bind
		v, stop, out, err := launch(bin, dir, vclPath, freePort(t))
		if err == nil {
			t.Cleanup(stop)
			return v
		}
		lastErr = fmt.Sprintf("%v\n%s", err, out)
	}
	t.Fatalf("varnishd: %s", lastErr)
	return nil
}

// launch starts varnishd on port and waits for it to listen. On failure
// the process is gone and out holds what it said.
func launch(bin, dir, vclPath string, port int) (v *Varnish, stop func(), out string, err error) {
	v = &Varnish{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: filepath.Join(dir, fmt.Sprintf("work%d", port))}
	v.URL = "http://" + v.Addr
	args := []string{
		"-F", // foreground: the test owns the process
		"-n", v.Dir,
		"-a", v.Addr,
		"-T", "127.0.0.1:0", // management port: loopback, any port
		"-f", vclPath,
		"-s", "malloc,64m",
		// No privilege separation: the test runs as whoever runs it and
		// needs no varnish user; as root, the jail would switch to a user
		// that cannot read the test's temporary directory.
		"-j", "none",
		"-p", "ban_lurker_sleep=0.01",
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return nil, nil, "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return nil, nil, buf.String(), fmt.Errorf("exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", v.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return v, stop, "", nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return nil, nil, buf.String(), fmt.Errorf("not listening on %s within 30s", v.Addr)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
