package s3

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/publish"
)

// The integration tests run against a real S3-compatible server on
// loopback: the Versity S3 Gateway (posix backend) by default, MinIO when
// SCD_S3_SERVER=minio. Both are installed by .ci/run (see CI-INSTALL.txt).

const (
	testAccess = "scdtestaccess"
	testSecret = "scdtestsecret-0123456789"
)

type server struct {
	endpoint string // http://127.0.0.1:port
	cmd      *exec.Cmd
	admin    *minio.Client
	data     string // data dir and log, removed at exit
}

var (
	srvOnce sync.Once
	srv     *server
	srvErr  error
	srvSkip string
	bucketN atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		_ = srv.cmd.Process.Kill()
		_ = srv.cmd.Wait()
		_ = os.RemoveAll(srv.data)
	}
	if corpusRoot != "" {
		_ = os.RemoveAll(corpusRoot)
	}
	if sampleDir != "" {
		_ = os.RemoveAll(filepath.Dir(sampleDir))
	}
	os.Exit(code)
}

// findBinary looks in PATH, then in $(go env GOPATH)/bin.
func findBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts the S3 server once per test binary.
func startServer() {
	kind := os.Getenv("SCD_S3_SERVER")
	if kind == "" {
		kind = "versitygw"
	}
	bin := findBinary(kind)
	if bin == "" {
		srvSkip = fmt.Sprintf("*** S3 INTEGRATION TESTS NOT RUN: %s is not in PATH nor in $(go env GOPATH)/bin; install it as in publish/s3/CI-INSTALL.txt ***", kind)
		return
	}
	port, err := freePort()
	if err != nil {
		srvErr = err
		return
	}
	root, err := os.MkdirTemp("", "scd-s3-*")
	if err != nil {
		srvErr = err
		return
	}
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		srvErr = err
		return
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var cmd *exec.Cmd
	switch kind {
	case "versitygw":
		cmd = exec.Command(bin, "--port", addr, "--access", testAccess, "--secret", testSecret, "--quiet", "posix", data)
	case "minio":
		cmd = exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:0", data)
		cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+testAccess, "MINIO_ROOT_PASSWORD="+testSecret)
	default:
		srvErr = fmt.Errorf("SCD_S3_SERVER=%q: want versitygw or minio", kind)
		return
	}
	logf, err := os.Create(filepath.Join(root, "server.log"))
	if err != nil {
		srvErr = err
		return
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		srvErr = err
		return
	}
	s := &server{endpoint: "http://" + addr, cmd: cmd, data: root}
	s.admin, err = minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(testAccess, testSecret, ""), BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		srvErr = err
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = s.admin.ListBuckets(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log, _ := os.ReadFile(logf.Name())
			_ = os.RemoveAll(root)
			srvErr = fmt.Errorf("%s did not become ready on %s: %v; its output:\n%s", kind, addr, err, log)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv = s
}

// needServer returns the running server, skipping loudly (or failing under
// CI=true) when it is not installed.
func needServer(t testing.TB) *server {
	t.Helper()
	srvOnce.Do(startServer)
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	if srv == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(srvSkip)
		}
		t.Skip(srvSkip)
	}
	return srv
}

// newBucket creates an empty bucket for one test.
func (s *server) newBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("scd-test-%d-%d", os.Getpid(), bucketN.Add(1))
	if err := s.admin.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (s *server) config(bucket string) Config {
	return Config{Bucket: bucket, Prefix: "static", Endpoint: s.endpoint, Region: "us-east-1",
		AccessKey: testAccess, SecretKey: testSecret, PathStyle: true,
		RetryBase: 10 * time.Millisecond, StaleLock: 10 * time.Second}
}

// openTarget returns a target on a fresh bucket.
func openTarget(t testing.TB, mod func(*Config)) (*Target, string) {
	t.Helper()
	s := needServer(t)
	b := s.newBucket(t)
	cfg := s.config(b)
	if mod != nil {
		mod(&cfg)
	}
	tg, err := New(cfg, publish.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tg, b
}

// keys lists every object key in bucket.
func (s *server) keys(t testing.TB, bucket string) map[string]minio.ObjectInfo {
	t.Helper()
	out := map[string]minio.ObjectInfo{}
	for o := range s.admin.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out[o.Key] = o
	}
	return out
}

// counter is an http.RoundTripper counting PUTs by key. A server-side copy
// is a PUT too (with X-Amz-Copy-Source and no body): it is recorded in puts
// and, separately, in copies; bytes counts request bodies of uploads.
type counter struct {
	base   http.RoundTripper
	mu     sync.Mutex
	puts   []string // request paths, copies included
	copies []string // request paths of copies
	bytes  map[string]int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut {
		c.mu.Lock()
		c.puts = append(c.puts, r.URL.Path)
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			c.copies = append(c.copies, r.URL.Path)
		} else if r.ContentLength > 0 {
			if c.bytes == nil {
				c.bytes = map[string]int64{}
			}
			c.bytes[r.URL.Path] += r.ContentLength
		}
		c.mu.Unlock()
	}
	return c.base.RoundTrip(r)
}

func (c *counter) reset() { c.mu.Lock(); c.puts, c.copies, c.bytes = nil, nil, nil; c.mu.Unlock() }

// count returns the PUTs (uploads and copies) whose path contains sub.
func (c *counter) count(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return countSub(c.puts, sub)
}

// copied returns the copies whose path contains sub.
func (c *counter) copied(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return countSub(c.copies, sub)
}

// uploads returns the PUTs that carried content (not copies) whose path
// contains sub, and their bytes. Retried requests count twice.
func (c *counter) uploads(sub string) (n int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n = countSub(c.puts, sub) - countSub(c.copies, sub)
	for p, b := range c.bytes {
		if strings.Contains(p, sub) {
			bytes += b
		}
	}
	return n, bytes
}

func countSub(paths []string, sub string) int {
	n := 0
	for _, p := range paths {
		if strings.Contains(p, sub) {
			n++
		}
	}
	return n
}

// Fixtures: the bundled sample built by the real builder.
var (
	sampleOnce sync.Once
	sampleDir  string
	sampleErr  error
)

func buildTree(src, out string) error {
	cfg, err := matrix.Load(filepath.Join(src, "themes.yml"))
	if err != nil {
		return err
	}
	jobs, err := cfg.Jobs(matrix.Filter{})
	if err != nil {
		return err
	}
	_, err = builder.Build(context.Background(), builder.Options{Config: cfg, Jobs: jobs, Output: out, Threads: 2, WorkDir: src})
	return err
}

// sampleBuild returns a build of fixtures/sample shared by the tests; it
// must not be modified (copy it with copyTree).
func sampleBuild(t testing.TB) string {
	t.Helper()
	sampleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scd-s3-sample-*")
		if err != nil {
			sampleErr = err
			return
		}
		sampleDir = filepath.Join(dir, "build")
		sampleErr = buildTree("../../fixtures/sample", sampleDir)
	})
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	return sampleDir
}

// changedSample builds a copy of the sample source with one file edited.
func changedSample(t testing.TB, rel, appendText string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.CopyFS(src, os.DirFS("../../fixtures/sample")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(src, filepath.FromSlash(rel)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(f, appendText)
	f.Close()
	out := filepath.Join(t.TempDir(), "build")
	if err := buildTree(src, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "build")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	// CopyFS makes files read-only copies of the mode; tests edit them.
	_ = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			_ = os.Chmod(p, 0o644)
		}
		return nil
	})
	return dst
}
