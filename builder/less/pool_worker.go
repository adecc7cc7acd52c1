package less

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// driverJS is the worker's program, run with `node -e`.
//
//go:embed driver.js
var driverJS string

const (
	startTimeout = 60 * time.Second // node's start and require('less')
	stopTimeout  = 5 * time.Second  // Close: time to finish the request in hand
	stderrKeep   = 8 << 10          // bytes of a worker's stderr kept for error messages
)

// errWorkerDied is wrapped by the error of a request whose worker died.
var errWorkerDied = errors.New("the node worker died")

// worker is one node process running driver.js.
type worker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan []byte   // protocol lines from stdout; closed at EOF or kill
	quit    chan struct{} // closed by kill
	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // the process's exit, set before exited is closed
	stderr  *tailBuffer
	failed  atomic.Bool // killed, or spoke out of protocol: never reused
	once    sync.Once

	node, less, dir string // versions and less's directory, from the hello line
}

type workerHello struct {
	Ready   bool   `json:"ready"`
	Node    string `json:"node"`
	Less    string `json:"less"`
	Dir     string `json:"dir"`
	Fatal   string `json:"fatal"`
	Missing bool   `json:"missing"`
}

// startWorker starts a worker and waits for its hello line.
func startWorker(ctx context.Context, opts Options) (*worker, error) {
	node, err := nodeBinary(opts)
	if err != nil {
		return nil, err
	}
	dir, err := moduleDir(opts)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, "-e", driverJS)
	cmd.Env = workerEnv(dir)
	w := &worker{
		cmd:    cmd,
		lines:  make(chan []byte, 1),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
		stderr: &tailBuffer{},
	}
	cmd.Stderr = w.stderr
	if w.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("less: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("less: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("less: starting %s: %w", node, err)
	}
	go w.read(stdout)

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-w.lines:
		if !ok {
			w.kill()
			<-w.exited
			return nil, fmt.Errorf("less: the node worker (%s) exited before it was ready (%v)%s", node, w.waitErr, w.stderrTail())
		}
		var h workerHello
		if err := json.Unmarshal(line, &h); err != nil || (!h.Ready && h.Fatal == "") {
			w.kill()
			return nil, fmt.Errorf("less: the node worker (%s) said %.200q instead of its hello line%s", node, line, w.stderrTail())
		}
		if h.Fatal != "" {
			w.kill()
			if h.Missing {
				return nil, missingLess(h.Fatal, dir)
			}
			return nil, fmt.Errorf("less: %s (node: %s)", h.Fatal, node)
		}
		w.node, w.less, w.dir = h.Node, h.Less, h.Dir
		return w, nil
	case <-ctx.Done():
		w.kill()
		return nil, fmt.Errorf("less: starting the node worker: %w", ctx.Err())
	case <-timer.C:
		w.kill()
		return nil, fmt.Errorf("less: the node worker (%s) was not ready within %s%s", node, startTimeout, w.stderrTail())
	}
}

// workerEnv is the environment with SCD_LESS_RESOLVED set to dir (or unset).
func workerEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCD_LESS_RESOLVED=") {
			env = append(env, kv)
		}
	}
	if dir != "" {
		env = append(env, "SCD_LESS_RESOLVED="+dir)
	}
	return env
}

// read passes stdout's lines to w.lines until EOF or kill, then waits for the
// process.
func (w *worker) read(stdout io.Reader) {
	r := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			select {
			case w.lines <- line:
				continue
			case <-w.quit:
			}
		}
		break
	}
	close(w.lines)
	w.kill() // stdout is closed or unread: the process is of no more use
	w.waitErr = w.cmd.Wait()
	close(w.exited)
}

// kill ends the process (once; safe to call at any time).
func (w *worker) kill() {
	w.once.Do(func() {
		w.failed.Store(true)
		close(w.quit)
		if w.cmd.Process != nil {
			_ = w.cmd.Process.Kill()
		}
	})
}

// alive reports whether the worker can take a request.
func (w *worker) alive() bool {
	if w.failed.Load() {
		return false
	}
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// stop closes stdin so the worker exits after the request in hand, and kills
// it if it has not exited within stopTimeout.
func (w *worker) stop() {
	_ = w.stdin.Close()
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		w.kill()
		<-w.exited
	}
}

func (w *worker) pid() int {
	if w.cmd.Process == nil {
		return 0
	}
	return w.cmd.Process.Pid
}

func (w *worker) stderrTail() string {
	s := strings.TrimSpace(w.stderr.String())
	if s == "" {
		return ""
	}
	return "\nnode's stderr (end):\n" + s
}

type workerRequest struct {
	ID        uint64            `json:"id"`
	Root      string            `json:"root"`
	Files     map[string]string `json:"files"`
	Bin       map[string]string `json:"bin,omitempty"` // files that are not UTF-8, base64
	SourceMap bool              `json:"sourceMap,omitempty"`
}

type workerReply struct {
	ID       uint64   `json:"id"`
	CSS      *string  `json:"css"`
	Map      string   `json:"map"`
	Imports  []string `json:"imports"`
	Warnings []struct {
		File string `json:"file"`
		Line int    `json:"line"`
		Col  int    `json:"col"`
		Text string `json:"text"`
	} `json:"warnings"`
	Error *struct {
		Type     string `json:"type"`
		Message  string `json:"message"`
		Filename string `json:"filename"`
		Line     int    `json:"line"`
		Col      int    `json:"col"`
		Extract  string `json:"extract"`
		Internal string `json:"internal"`
	} `json:"error"`
}

// compile sends one request and waits for its reply. answered reports
// whether less.js answered (with CSS or with a LESS error).
func (w *worker) compile(ctx context.Context, id uint64, root string, files map[string][]byte, o CompileOptions) (res *Result, answered bool, err error) {
	req := workerRequest{ID: id, Root: root, Files: make(map[string]string, len(files)), SourceMap: o.SourceMap}
	for name, b := range files {
		if utf8.Valid(b) {
			req.Files[name] = string(b)
		} else {
			if req.Bin == nil {
				req.Bin = map[string]string{}
			}
			req.Bin[name] = base64.StdEncoding.EncodeToString(b)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&req); err != nil { // ends with a newline
		return nil, false, fmt.Errorf("less: encoding the request for %s: %w", root, err)
	}

	stop := context.AfterFunc(ctx, w.kill) // a request never outlives its ctx
	defer stop()
	if _, err := w.stdin.Write(buf.Bytes()); err != nil {
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("less: compiling %s: %w", root, ctx.Err())
		}
		return nil, false, w.died(root, err)
	}
	var line []byte
	select {
	case l, ok := <-w.lines:
		if !ok {
			if ctx.Err() != nil {
				return nil, false, fmt.Errorf("less: compiling %s: %w", root, ctx.Err())
			}
			return nil, false, w.died(root, nil)
		}
		line = l
	case <-ctx.Done():
		w.kill()
		return nil, false, fmt.Errorf("less: compiling %s: %w", root, ctx.Err())
	}

	var rep workerReply
	if err := json.Unmarshal(line, &rep); err != nil || rep.ID != id {
		w.kill()
		return nil, false, fmt.Errorf("less: the node worker (pid %d) answered %.200q to request %d for %s%s", w.pid(), line, id, root, w.stderrTail())
	}
	if rep.Error != nil && rep.Error.Internal != "" {
		w.kill() // a bug in less or the driver: start afresh
		return nil, true, fmt.Errorf("less: less.js failed on %s: %s", root, rep.Error.Internal)
	}
	res = &Result{Imports: rep.Imports}
	for _, m := range rep.Warnings {
		res.Warnings = append(res.Warnings, Message{File: m.File, Line: m.Line, Col: m.Col, Text: m.Text})
	}
	if e := rep.Error; e != nil {
		return res, true, &Error{File: e.Filename, Line: e.Line, Col: e.Col, Text: e.Message, Type: e.Type, Extract: e.Extract}
	}
	if rep.CSS == nil {
		w.kill()
		return nil, true, fmt.Errorf("less: the node worker (pid %d) gave no CSS for %s", w.pid(), root)
	}
	res.CSS = []byte(*rep.CSS)
	if o.SourceMap {
		res.Map = []byte(rep.Map)
	}
	return res, true, nil
}

// died is the error of a request whose worker died.
func (w *worker) died(root string, ioErr error) error {
	w.kill()
	<-w.exited
	why := fmt.Sprint(w.waitErr)
	if w.waitErr == nil && ioErr != nil {
		why = ioErr.Error()
	}
	return fmt.Errorf("less: compiling %s: %w (pid %d: %s); the next compile starts a new one%s", root, errWorkerDied, w.pid(), why, w.stderrTail())
}

// tailBuffer keeps the last stderrKeep bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > stderrKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-stderrKeep:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
