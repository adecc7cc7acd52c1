// Package proc runs an external command for the hooks packages: an argv
// (never through a shell unless the caller builds one), a timeout that kills
// the whole process group, and output captured line by line into a logger
// and a bounded tail kept for the error message.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Cmd is one command to run.
type Cmd struct {
	Argv    []string
	Env     []string // appended to the environment of the process
	Dir     string
	Timeout time.Duration // 0 = no timeout of its own (the context still applies)
	Logger  *slog.Logger  // every output line is logged at Info
	Attrs   []any         // added to every log line (hook name, phase…)
}

// Result is what a finished command did.
type Result struct {
	ExitCode int // -1 when it did not exit normally (killed, not started)
	Duration time.Duration
	// Output is the tail of stdout and stderr interleaved, at most
	// tailSize bytes: enough to say why a hook failed without holding the
	// whole output of a chatty command in memory.
	Output string
}

const tailSize = 4 << 10

// ErrTimeout is wrapped by Run when the command outlived its Timeout.
var ErrTimeout = errors.New("timed out")

// waitDelay bounds how long Run waits for output pipes after the process
// is gone: a grandchild that kept them open must not hang the deploy.
const waitDelay = 2 * time.Second

// Run runs c and waits for it. A non-zero exit, a failure to start and a
// timeout are errors; the Result is filled in every case.
func Run(ctx context.Context, c Cmd) (Result, error) {
	res := Result{ExitCode: -1}
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return res, errors.New("empty command")
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = append(cmd.Environ(), c.Env...)
	setProcessGroup(cmd)
	cmd.WaitDelay = waitDelay

	tail := &tailBuffer{max: tailSize}
	outW := &lineWriter{stream: "stdout", tail: tail, log: log, attrs: c.Attrs}
	errW := &lineWriter{stream: "stderr", tail: tail, log: log, attrs: c.Attrs}
	cmd.Stdout, cmd.Stderr = outW, errW
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	err := cmd.Wait()
	outW.Flush()
	errW.Flush()
	res.Duration = time.Since(start)
	res.Output = tail.String()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() == context.DeadlineExceeded && c.Timeout > 0 {
		return res, fmt.Errorf("%w after %s", ErrTimeout, c.Timeout)
	}
	if err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return res, err
	}
	return res, nil
}

// lineWriter logs what a command writes, one record per line. exec copies
// the pipes into it from its own goroutines, so Wait and WaitDelay bound the
// copying even when a grandchild keeps the pipe open.
type lineWriter struct {
	stream string
	tail   *tailBuffer
	log    *slog.Logger
	attrs  []any
	mu     sync.Mutex
	part   []byte
}

// maxLine caps a line without a newline, so a binary blob on stdout cannot
// grow the buffer without bound.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.emit(string(bytes.TrimRight(w.part[:i], "\r")))
		w.part = w.part[i+1:]
	}
	if len(w.part) > maxLine {
		w.emit(string(w.part))
		w.part = w.part[:0]
	}
	return len(p), nil
}

// Flush emits a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.emit(string(w.part))
		w.part = nil
	}
}

func (w *lineWriter) emit(line string) {
	w.tail.WriteLine(line)
	w.log.Info(line, append([]any{"stream", w.stream}, w.attrs...)...)
}

// tailBuffer keeps the last max bytes of whole lines.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) WriteLine(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.WriteString(s)
	t.buf.WriteByte('\n')
	if over := t.buf.Len() - t.max; over > 0 {
		b := t.buf.Bytes()[over:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i+1 < len(b) {
			b = b[i+1:]
		}
		rest := append([]byte(nil), b...)
		t.buf.Reset()
		t.buf.Write(rest)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimRight(t.buf.String(), "\n")
}
