package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scdtool/scd/publish"
)

// Names of the local target's layout (see package publish).
const (
	currentLink = "current"
	releasesDir = "releases"
	markerFile  = ".complete"
)

// Defaults for Options.
const (
	DefaultHoldTimeout  = 5 * time.Minute
	DefaultPollInterval = 2 * time.Second
	DefaultCanaryCookie = "scd_bucket"
	DefaultCacheBytes   = 64 << 20
	// previewIdle is how long a release opened only for preview (or left
	// behind by a switch) stays open without requests.
	previewIdle = time.Minute
)

// Options configure a Server. Only Root is required.
type Options struct {
	// Root is the local target: the directory holding current,
	// releases/ and releases.json, as `scd publish --to` writes it.
	Root string
	// HoldTimeout bounds every hold: a hold asked for longer, or for no
	// particular time, ends after HoldTimeout. 0 means DefaultHoldTimeout.
	HoldTimeout time.Duration
	// PollInterval is how often current is re-read besides the file
	// watch, in case an event is lost (a watch on a network filesystem,
	// an overflowing inotify queue). 0 means DefaultPollInterval; a
	// negative value disables polling.
	PollInterval time.Duration
	// CanaryCookie names the cookie that keeps a client on one side of a
	// canary. "" means DefaultCanaryCookie.
	CanaryCookie string
	// KeepAssets is passed to the publisher when a canary is promoted
	// (publish.Options.KeepAssets).
	KeepAssets int
	// CacheBytes bounds the memory each open release may use to keep
	// small files (up to 128 KiB) in memory. 0 means DefaultCacheBytes; a
	// negative value disables the cache.
	CacheBytes int64
	// Logger receives switches, holds and errors. nil discards.
	Logger *slog.Logger
	// AccessLog, when set, receives one Info record per request.
	AccessLog *slog.Logger
}

// Server serves the releases of a local target. It is safe for concurrent
// use; create it with New and call Close when done.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	active atomic.Pointer[release]
	canary atomic.Pointer[canary]
	hold   atomic.Pointer[hold]

	// mu serialises changes: reloads, canary changes, holds, and the
	// cache of other open releases. Requests never take it, except a
	// preview of a release not open yet.
	mu     sync.Mutex
	others map[string]*release // open releases other than the active one
	closed bool
}

// canary is a share of clients routed to another release.
type canary struct {
	rel     *release
	percent int
	since   time.Time
}

// hold makes new requests wait until done is closed: by ReleaseHold, or
// by the timer at the deadline, whichever comes first.
type hold struct {
	done     chan struct{}
	once     sync.Once
	timer    *time.Timer
	since    time.Time
	deadline time.Time
	waiting  atomic.Int64
}

func (h *hold) end() { h.once.Do(func() { close(h.done) }) }

// New opens the target in o.Root and the release current names, if any:
// a server may start before the first activation, answering 503 until
// there is a release.
func New(o Options) (*Server, error) {
	if o.Root == "" {
		return nil, errors.New("serve: no root directory")
	}
	abs, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	o.Root = abs
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("serve: root %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("serve: root %s is not a directory", abs)
	}
	if o.HoldTimeout <= 0 {
		o.HoldTimeout = DefaultHoldTimeout
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.CanaryCookie == "" {
		o.CanaryCookie = DefaultCanaryCookie
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, log: o.Logger, metrics: newMetrics(), others: map[string]*release{}}
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close ends any hold and drops the server's references to its releases;
// each closes when its last request is done.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if h := s.hold.Swap(nil); h != nil {
		h.timer.Stop()
		h.end()
	}
	if c := s.canary.Swap(nil); c != nil {
		c.rel.decref()
	}
	if r := s.active.Swap(nil); r != nil {
		r.decref()
	}
	for id, r := range s.others {
		delete(s.others, id)
		r.decref()
	}
	return nil
}

// ActiveID is the id of the release being served, or "".
func (s *Server) ActiveID() string {
	if r := s.active.Load(); r != nil {
		return r.id
	}
	return ""
}

// Reload reads current and, when it names another release than the one
// being served, opens that release and swaps it in: requests that start
// afterwards read the new release, requests in flight finish on the old
// one. It returns the active release id ("" before the first activation).
// Reload is what the file watch, SIGHUP and POST /-/reload call.
func (s *Server) Reload() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("serve: server closed")
	}
	target, err := os.Readlink(filepath.Join(s.opts.Root, currentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return s.ActiveID(), nil // keep serving what we had, if anything
	}
	if err != nil {
		return "", fmt.Errorf("serve: %s: %s is not the symlink scd publish maintains: %w", s.opts.Root, currentLink, unwrapPathErr(err))
	}
	dir := target
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.opts.Root, dir)
	}
	id := filepath.Base(dir)
	old := s.active.Load()
	if old != nil && old.id == id {
		return id, nil
	}
	r := s.others[id]
	if r != nil {
		delete(s.others, id)
	} else if r, err = openRelease(id, dir, s.opts.CacheBytes); err != nil {
		return "", fmt.Errorf("serve: %w", err)
	}
	s.active.Store(r)
	s.metrics.switches.Inc()
	s.metrics.active.Reset()
	s.metrics.active.WithLabelValues(id).Set(1)
	prev := ""
	if old != nil {
		prev = old.id
		// Kept open a while: a rollback, or a preview of it, is then
		// instant. Requests in flight hold their own references anyway.
		old.lastUsed.Store(time.Now().UnixNano())
		s.others[old.id] = old
	}
	if c := s.canary.Load(); c != nil && c.rel.id == id {
		// The canary was activated (promoted, by us or by a deploy):
		// everyone is on it now.
		s.canary.Store(nil)
		s.metrics.canary.Reset()
		c.rel.decref()
	}
	s.log.Info("switched release", "release", id, "previous", prev)
	return id, nil
}

// expire closes releases that are neither active nor canary and were not
// used for previewIdle.
func (s *Server) expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.others {
		if now.Sub(time.Unix(0, r.lastUsed.Load())) > previewIdle {
			delete(s.others, id)
			r.decref()
		}
	}
}

// openOther returns release id with a reference for the caller: the
// active one, the canary, or one opened for preview (kept open while it is
// used). Only complete releases (with their marker) are opened.
func (s *Server) openOther(id string) (*release, error) {
	if !validReleaseID(id) {
		return nil, fs.ErrNotExist
	}
	if r := s.active.Load(); r != nil && r.id == id && r.acquire() {
		return r, nil
	}
	if c := s.canary.Load(); c != nil && c.rel.id == id && c.rel.acquire() {
		return c.rel, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("serve: server closed")
	}
	r := s.others[id]
	if r == nil {
		dir := filepath.Join(s.opts.Root, releasesDir, id)
		if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
			return nil, fs.ErrNotExist
		}
		var err error
		if r, err = openRelease(id, dir, s.opts.CacheBytes); err != nil {
			return nil, err
		}
		s.others[id] = r
	}
	r.lastUsed.Store(time.Now().UnixNano())
	r.acquire() // cannot fail: s.others holds a reference
	return r, nil
}

// ErrHeld is returned by Hold while another hold is open.
var ErrHeld = errors.New("a hold is already open")

// HoldStatus describes an open hold.
type HoldStatus struct {
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
	// Waiting is the number of requests held right now.
	Waiting int64 `json:"waiting"`
}

// Hold makes new requests wait — instead of failing or reading a release
// in the middle of a deploy — until ReleaseHold, or until d has passed
// (at most Options.HoldTimeout; d <= 0 means HoldTimeout). Requests
// already being served are not affected. Only one hold is open at a time.
func (s *Server) Hold(d time.Duration) (HoldStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return HoldStatus{}, errors.New("serve: server closed")
	}
	if h := s.hold.Load(); h != nil {
		return h.status(), ErrHeld
	}
	if d <= 0 || d > s.opts.HoldTimeout {
		d = s.opts.HoldTimeout
	}
	now := time.Now()
	h := &hold{done: make(chan struct{}), since: now, deadline: now.Add(d)}
	h.timer = time.AfterFunc(d, func() {
		if s.hold.CompareAndSwap(h, nil) {
			s.log.Warn("hold expired", "after", d, "waiting", h.waiting.Load())
		}
		h.end()
	})
	s.hold.Store(h)
	s.metrics.holds.Inc()
	s.log.Info("hold opened", "deadline", h.deadline)
	return h.status(), nil
}

// ReleaseHold ends the open hold, letting the requests it held proceed.
// It reports whether there was one.
func (s *Server) ReleaseHold() bool {
	h := s.hold.Swap(nil)
	if h == nil {
		return false
	}
	h.timer.Stop()
	h.end()
	s.log.Info("hold released", "held", time.Since(h.since), "waiting", h.waiting.Load())
	return true
}

func (h *hold) status() HoldStatus {
	return HoldStatus{Since: h.since, Deadline: h.deadline, Waiting: h.waiting.Load()}
}

// waitHold blocks while a hold is open. It returns false when the client
// went away first.
func (s *Server) waitHold(ctx context.Context) bool {
	h := s.hold.Load()
	if h == nil {
		return true
	}
	h.waiting.Add(1)
	s.metrics.held.Inc()
	defer func() {
		h.waiting.Add(-1)
		s.metrics.held.Dec()
	}()
	select {
	case <-h.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// CanaryStatus describes a running canary.
type CanaryStatus struct {
	Release string    `json:"release"`
	Percent int       `json:"percent"`
	Since   time.Time `json:"since"`
}

// StartCanary sends percent (1–100) of clients to release id, sticky per
// client through a cookie; the others stay on the active release. Calling
// it again changes the share (clients already on the canary stay there
// when it grows) or the release.
func (s *Server) StartCanary(id string, percent int) (CanaryStatus, error) {
	if percent < 1 || percent > 100 {
		return CanaryStatus{}, fmt.Errorf("canary percent must be 1 to 100, not %d", percent)
	}
	if id == s.ActiveID() {
		return CanaryStatus{}, fmt.Errorf("release %s is already active", id)
	}
	r, err := s.openOther(id)
	if err != nil {
		return CanaryStatus{}, fmt.Errorf("release %s: %w", id, unknownRelease(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &canary{rel: r, percent: percent, since: time.Now()}
	old := s.canary.Swap(c)
	if old != nil {
		if old.rel == r {
			c.since = old.since
		}
		old.rel.decref()
	}
	s.metrics.canary.Reset()
	s.metrics.canary.WithLabelValues(id).Set(float64(percent))
	s.log.Info("canary started", "release", id, "percent", percent)
	return CanaryStatus{Release: id, Percent: percent, Since: c.since}, nil
}

// AbortCanary sends every client back to the active release. It reports
// whether a canary was running.
func (s *Server) AbortCanary() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.canary.Swap(nil)
	if c == nil {
		return false
	}
	s.metrics.canary.Reset()
	c.rel.decref()
	s.log.Info("canary aborted", "release", c.rel.id)
	return true
}

// ErrNoCanary is returned by PromoteCanary without a running canary.
var ErrNoCanary = errors.New("no canary is running")

// PromoteCanary activates the canary release on the target (the same
// atomic switch as `scd activate`, so the choice survives a restart) and
// serves it to everyone. It returns the release id.
func (s *Server) PromoteCanary(ctx context.Context) (string, error) {
	c := s.canary.Load()
	if c == nil {
		return "", ErrNoCanary
	}
	tg, err := publish.OpenLocal(s.opts.Root, publish.Options{KeepAssets: s.opts.KeepAssets, Logger: s.log})
	if err != nil {
		return "", err
	}
	if err := tg.Activate(ctx, c.rel.id); err != nil {
		return "", fmt.Errorf("promote %s: %w", c.rel.id, err)
	}
	// Reload ends the canary: its release is the active one now.
	return s.Reload()
}

// Status is what GET /-/release reports.
type Status struct {
	Active   string        `json:"active"`
	Previous string        `json:"previous,omitempty"`
	Staged   []string      `json:"staged"`
	Canary   *CanaryStatus `json:"canary"`
	Hold     *HoldStatus   `json:"hold"`
}

// Status reports the active release, the staged ones (from the target's
// history), the canary and the hold.
func (s *Server) Status(ctx context.Context) (Status, error) {
	st := Status{Active: s.ActiveID(), Staged: []string{}}
	if c := s.canary.Load(); c != nil {
		st.Canary = &CanaryStatus{Release: c.rel.id, Percent: c.percent, Since: c.since}
	}
	if h := s.hold.Load(); h != nil {
		hs := h.status()
		st.Hold = &hs
	}
	tg, err := publish.OpenLocal(s.opts.Root, publish.Options{})
	if err != nil {
		return st, err
	}
	rs, err := tg.Releases(ctx)
	if err != nil {
		return st, err
	}
	var lastAct time.Time
	for _, r := range rs {
		switch {
		case r.Status == publish.StatusStaged:
			st.Staged = append(st.Staged, r.ID)
		case r.ID != st.Active && r.Activated.After(lastAct):
			st.Previous, lastAct = r.ID, r.Activated
		}
	}
	return st, nil
}

// pick chooses the release of a request: the canary for clients in its
// share, the active release otherwise. It returns a referenced release (nil
// when none is active) and whether the request went to the canary.
func (s *Server) pick(w http.ResponseWriter, r *http.Request) (*release, *release) {
	if c := s.canary.Load(); c != nil {
		if s.bucket(w, r) < c.percent && c.rel.acquire() {
			return c.rel, s.active.Load()
		}
	}
	for {
		rel := s.active.Load()
		if rel == nil {
			return nil, nil
		}
		if rel.acquire() {
			var other *release
			if c := s.canary.Load(); c != nil {
				other = c.rel
			}
			return rel, other
		}
		// Retired between Load and acquire: the new one is stored.
	}
}

// bucket is the client's canary bucket, 0–99, from its cookie; a client
// without one gets a random bucket and the cookie. Buckets rather than a
// yes/no cookie make the share adjustable: growing it from 10 to 50 keeps
// everyone already on the canary there.
func (s *Server) bucket(w http.ResponseWriter, r *http.Request) int {
	if c, err := r.Cookie(s.opts.CanaryCookie); err == nil {
		if n, err := strconv.Atoi(c.Value); err == nil && n >= 0 && n < 100 {
			return n
		}
	}
	n := rand.IntN(100)
	http.SetCookie(w, &http.Cookie{
		Name: s.opts.CanaryCookie, Value: strconv.Itoa(n), Path: "/",
		MaxAge: 30 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return n
}

// unknownRelease maps "no such release" to publish.ErrUnknownRelease.
func unknownRelease(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return publish.ErrUnknownRelease
	}
	return err
}

// isAdminPath reports whether p is in the reserved /-/ namespace.
func isAdminPath(p string) bool { return strings.HasPrefix(p, "/-/") }
