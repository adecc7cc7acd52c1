package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/scdtool/scd/publish"
)

// lockBody is the content of P/.lock.
type lockBody struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Op    string    `json:"op"`
	Time  time.Time `json:"time"` // refreshed while held
	Nonce string    `json:"nonce"`
	// PIDNS and Start identify the holder process beyond its pid, so that
	// a publisher on the same machine can tell a dead holder (killed, or
	// crashed) from a live one at once instead of waiting for StaleLock:
	// the pid namespace (Linux: the target of /proc/self/ns/pid) and the
	// process start time (field 22 of /proc/self/stat), which a reused
	// pid does not share. Empty where /proc is not available.
	PIDNS string `json:"pidns,omitempty"`
	Start string `json:"start,omitempty"`
}

// self is this process's identity for lockBody.PIDNS and Start.
var self = struct{ pidns, start string }{pidns: readPIDNS("self"), start: procStart("self")}

func readPIDNS(pid string) string {
	ns, err := os.Readlink("/proc/" + pid + "/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}

// procStart returns the start time of a process (clock ticks since boot)
// and "" when it does not exist or is a zombie (dead, not yet reaped).
func procStart(pid string) string {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after the last ')' are state (3), ppid (4), …, start (22).
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return ""
	}
	return f[19]
}

// holderDead reports whether b was written by a process of this machine
// and pid namespace that no longer runs. It never guesses: a lock from
// another host or namespace, or without the identity fields, is left to
// StaleLock.
func holderDead(b lockBody) bool {
	host, _ := os.Hostname()
	if b.Nonce == "" || b.PIDNS == "" || b.Start == "" || self.pidns == "" || b.Host != host || b.PIDNS != self.pidns {
		return false
	}
	return procStart(strconv.Itoa(b.PID)) != b.Start
}

// taking holds the nonces of the locks this process holds or is taking.
// A lock that names this very process with any other nonce is left from an
// attempt that gave up (its context cancelled while the PUT was on its way:
// the server stored the lock after the attempt's dropIfOurs looked), and
// nobody will release it; a waiter removes it at once instead of waiting
// for StaleLock.
var taking = struct {
	sync.Mutex
	nonces map[string]bool
}{nonces: map[string]bool{}}

func setTaking(nonce string, on bool) {
	taking.Lock()
	defer taking.Unlock()
	if on {
		taking.nonces[nonce] = true
	} else {
		delete(taking.nonces, nonce)
	}
}

// orphaned reports whether b is a lock of this process that none of its
// attempts holds or is taking.
func orphaned(b lockBody) bool {
	host, _ := os.Hostname()
	if b.Nonce == "" || b.PID != os.Getpid() || b.Host != host || b.PIDNS != self.pidns || b.Start != self.start {
		return false
	}
	taking.Lock()
	defer taking.Unlock()
	return !taking.nonces[b.Nonce]
}

// heldLock is a lock this process holds; release stops its refresher and
// deletes it.
type heldLock struct {
	t    *Target
	body lockBody
	stop chan struct{}
	done sync.WaitGroup
}

// lock takes P/.lock for op, waiting up to Options.LockTimeout.
func (t *Target) lock(ctx context.Context, op string) (*heldLock, error) {
	host, _ := os.Hostname()
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	body := lockBody{PID: os.Getpid(), Host: host, Op: op, Nonce: hex.EncodeToString(nonce), PIDNS: self.pidns, Start: self.start}
	deadline := time.Now().Add(t.opt.LockTimeout)
	wait := 50 * time.Millisecond
	setTaking(body.Nonce, true)
	held := false
	defer func() {
		if !held {
			setTaking(body.Nonce, false)
		}
	}()
	for {
		body.Time = time.Now().UTC()
		created, err := t.createLock(ctx, body)
		if err != nil {
			// The PUT may have reached the server before the error (a
			// cancelled context, a lost response): do not leave a lock
			// that nobody will release until it goes stale. (It may also
			// land after this look: then it is orphaned, see taking.)
			t.dropIfOurs(body.Nonce)
			return nil, err
		}
		if created {
			held = true
			h := &heldLock{t: t, body: body, stop: make(chan struct{})}
			h.done.Add(1)
			go h.refresh()
			return h, nil
		}
		var other lockBody
		err = t.getJSON(ctx, keyLock, &other)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // released meanwhile
		case err != nil:
			// Unreadable (e.g. a half-written lock from a foreign tool):
			// treat as held, let staleness by Time decide below.
		case holderDead(other) || time.Since(other.Time) > t.cfg.StaleLock:
			t.opt.Logger.Warn("removing the lock of a dead or stalled publisher", "target", t.name, "holder", describe(other))
			if err := t.remove(ctx, keyLock); err != nil {
				return nil, err
			}
			continue
		case orphaned(other):
			t.opt.Logger.Debug("removing a lock a cancelled attempt of this process left", "target", t.name)
			if err := t.remove(ctx, keyLock); err != nil {
				return nil, err
			}
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %w (held by %s); waited %s", t.name, publish.ErrLocked, describe(other), t.opt.LockTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

func describe(b lockBody) string {
	if b.Nonce == "" {
		return "an unknown publisher"
	}
	return fmt.Sprintf("pid %d on %s (%s) since %s", b.PID, b.Host, b.Op, b.Time.Format(time.RFC3339))
}

// createLock PUTs the lock if absent. false, nil: someone else holds it.
func (t *Target) createLock(ctx context.Context, body lockBody) (bool, error) {
	data, _ := json.Marshal(body)
	err := t.retry(ctx, "lock", func() error {
		opts := minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true,
			DisableContentSha256: !t.secure, SendContentMd5: !t.secure}
		opts.SetMatchETagExcept("*")
		_, err := t.client.PutObject(ctx, t.cfg.Bucket, t.key(keyLock), bytes.NewReader(data), int64(len(data)), opts)
		return err
	})
	if err != nil {
		r := errResp(err)
		if r.StatusCode == http.StatusPreconditionFailed || r.StatusCode == http.StatusConflict ||
			r.Code == "PreconditionFailed" || r.Code == "ConditionalRequestConflict" {
			return false, nil
		}
		return false, err
	}
	// Read back: on a server that ignores If-None-Match the PUT above
	// always "succeeds"; a foreign nonce shows we overwrote a holder's lock
	// and only narrows, not closes, that race (see the package doc).
	var got lockBody
	if err := t.getJSON(ctx, keyLock, &got); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return got.Nonce == body.Nonce, nil
}

// refresh rewrites the lock's time so that waiters do not take it for
// stale while a long upload runs.
func (h *heldLock) refresh() {
	defer h.done.Done()
	tick := time.NewTicker(h.t.cfg.StaleLock / 4)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
			h.body.Time = time.Now().UTC()
			ctx, cancel := context.WithTimeout(context.Background(), h.t.cfg.StaleLock/4)
			err := h.t.putValue(ctx, keyLock, h.body)
			cancel()
			if err != nil {
				h.t.opt.Logger.Warn("could not refresh lock", "target", h.t.name, "err", err)
			}
		}
	}
}

// dropIfOurs deletes the lock if it carries nonce, on its own context.
func (t *Target) dropIfOurs(nonce string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got lockBody
	if err := t.getJSON(ctx, keyLock, &got); err != nil || got.Nonce != nonce {
		return
	}
	if err := t.remove(ctx, keyLock); err != nil {
		t.opt.Logger.Warn("could not remove lock", "target", t.name, "err", err)
	}
}

// release deletes the lock if it is still ours. It uses its own context:
// a cancelled operation must still unlock.
func (h *heldLock) release() {
	close(h.stop)
	h.done.Wait()
	h.t.dropIfOurs(h.body.Nonce)
	setTaking(h.body.Nonce, false)
}

// withLock runs fn holding the lock.
func (t *Target) withLock(ctx context.Context, op string, fn func() error) error {
	h, err := t.lock(ctx, op)
	if err != nil {
		return err
	}
	defer h.release()
	return fn()
}
