package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Release is one entry of a target's history.
type Release struct {
	// ID sorts in creation order: the UTC creation time (20061102T150405Z)
	// + "-" + the first 8 hex digits of the build id (see NewReleaseID).
	ID string `json:"id"`
	// Build is the id of the build (build.json "id") the release holds.
	Build     string    `json:"build"`
	Created   time.Time `json:"created"`
	Activated time.Time `json:"activated,omitzero"`
	Status    Status    `json:"status"`
	// Files and Size count the files of the build (build.json included),
	// not the skew-protection assets linked in later.
	Files int   `json:"files"`
	Size  int64 `json:"size"`
}

// Status is the state of a release in the history.
type Status string

const (
	// StatusStaged: written and verified, never activated.
	StatusStaged Status = "staged"
	// StatusActive: the release `current` names. Exactly one release, or
	// none before the first activation, is active.
	StatusActive Status = "active"
	// StatusGood: was active and was left by a normal activation.
	StatusGood Status = "good"
	// StatusBad: was active and was left by a rollback.
	StatusBad Status = "bad"
)

// Target is where releases live. Implementations: Local (a directory),
// s3.Target. Every implementation must pass publishtest.Run.
//
// Errors wrap ErrUnknownRelease, ErrLocked and ErrCorruptBuild where they
// apply, so callers (and the CLI's exit codes) can tell them apart with
// errors.Is. A failed operation changes nothing that a reader can see.
type Target interface {
	// String names the target for messages (a path or an s3:// URL).
	String() string
	// Stage writes buildDir (a finished build: build.json + files) as a new,
	// complete, verified release. It never changes which release is active.
	// Returns the release, with Status StatusStaged. Its id is the
	// target's choice unless an option gives it (WithReleaseID).
	Stage(ctx context.Context, buildDir string, opts ...StageOption) (Release, error)
	// Activate atomically makes release id the active one (and records the
	// previous active one as good).
	Activate(ctx context.Context, id string) error
	// Rollback activates id, or when id is "" the newest good release older
	// than the active one, and marks the release it leaves bad. Returns the
	// release now active.
	Rollback(ctx context.Context, id string) (Release, error)
	// Releases lists the history, oldest first.
	Releases(ctx context.Context) ([]Release, error)
	// Prune removes releases beyond the newest keep, never the active one nor
	// the one before it (the rollback target). Returns the removed ids.
	Prune(ctx context.Context, keep int) ([]string, error)
	// Read returns the content of path (slash-separated, relative to the
	// release root, e.g. "frontend/Magento/luma/en_US/manifest.json") as
	// served through the active release — including skew-protection assets
	// of earlier releases. It is how tests, and health checks, see what a
	// web server would serve. A path that does not exist wraps fs.ErrNotExist.
	Read(ctx context.Context, path string) ([]byte, error)
}

// Options configure a target. The zero value is valid.
type Options struct {
	// KeepAssets is the skew-protection depth K: the active release also
	// serves the hashed assets of the previous K activated releases.
	// 0 means DefaultKeepAssets; a negative value disables skew protection.
	KeepAssets int
	// LockTimeout bounds how long a publisher waits for another one to
	// finish. 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives progress at Info and details at Debug. nil discards.
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultKeepAssets  = 2
	DefaultLockTimeout = 30 * time.Second
)

// WithDefaults returns o with zero fields replaced by their defaults.
func (o Options) WithDefaults() Options {
	if o.KeepAssets == 0 {
		o.KeepAssets = DefaultKeepAssets
	}
	if o.KeepAssets < 0 {
		o.KeepAssets = 0
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Errors wrapped by every target.
var (
	// ErrUnknownRelease: the id names no release of the target (or, for
	// Rollback with no id, there is no good release to go back to).
	ErrUnknownRelease = errors.New("unknown release")
	// ErrLocked: another publisher holds the target's lock past LockTimeout.
	ErrLocked = errors.New("target is locked by another publisher")
	// ErrCorruptBuild: the build directory is missing, has no valid
	// build.json, or a file does not match its digest or size.
	ErrCorruptBuild = errors.New("corrupt build")
	// ErrReleaseID: the id WithReleaseID gives cannot name a new release
	// of the target (it does not sort after every id the target has, or
	// does not end with the build's).
	ErrReleaseID = errors.New("release id cannot be staged")
)

// StageOptions are what the options of one Stage call set.
type StageOptions struct {
	// ID is the id the release must have; "" lets the target choose one
	// that sorts after all of its ids (NextReleaseID).
	ID string
}

// StageOption sets a StageOptions field.
type StageOption func(*StageOptions)

// WithReleaseID makes Stage name the release id, which must sort after
// every id the target has and end with the build's first 8 hex digits,
// as NextReleaseID makes it. A deploy to several targets stages one id on
// all of them, so that an address naming the release (a preview URL)
// means the same release whichever server answers it.
func WithReleaseID(id string) StageOption {
	return func(o *StageOptions) { o.ID = id }
}

// NewStageOptions applies opts to the zero StageOptions.
func NewStageOptions(opts []StageOption) StageOptions {
	var o StageOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// CheckReleaseID reports, wrapping ErrReleaseID, why id cannot name a new
// release of build on a target whose newest id is newest.
func CheckReleaseID(id, build, newest string) error {
	switch {
	case id <= newest:
		return fmt.Errorf("%w: %q does not sort after the newest release %q", ErrReleaseID, id, newest)
	case !strings.HasSuffix(id, "-"+shortBuild(build)):
		return fmt.Errorf("%w: %q does not name build %.8s", ErrReleaseID, id, build)
	case strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\"):
		return fmt.Errorf("%w: %q is not a file name", ErrReleaseID, id)
	}
	return nil
}

// Opener opens a target for a URL whose scheme it was registered for.
type Opener func(u *url.URL, o Options) (Target, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes Open hand URLs of scheme (e.g. "s3") to open. It is meant
// to be called from an init function; registering a scheme twice panics.
func Register(scheme string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	scheme = strings.ToLower(scheme)
	if _, dup := openers[scheme]; dup {
		panic("publish: Register called twice for scheme " + scheme)
	}
	openers[scheme] = open
}

// Open parses a --to value: "scheme://…" is handled by the opener registered
// for scheme (the s3 package registers "s3"); anything else is a local
// directory (see OpenLocal). A URL with an unregistered scheme is an error
// rather than a directory named "s3:", so a missing import fails loudly.
func Open(to string, o Options) (Target, error) {
	if to == "" {
		return nil, errors.New("no target: --to is empty")
	}
	if i := strings.Index(to, "://"); i > 0 {
		u, err := url.Parse(to)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", to, err)
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme == "file" {
			return openLocal(u.Path, o)
		}
		openersMu.RLock()
		open := openers[scheme]
		openersMu.RUnlock()
		if open == nil {
			return nil, fmt.Errorf("target %q: no publisher for scheme %q", to, u.Scheme)
		}
		return open(u, o)
	}
	return openLocal(to, o)
}

// openLocal is OpenLocal returning a Target, so that a nil *Local never
// becomes a non-nil interface.
func openLocal(dir string, o Options) (Target, error) {
	l, err := OpenLocal(dir, o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// releaseTimeLayout is the time part of a release id.
const releaseTimeLayout = "20060102T150405Z"

// NewReleaseID returns the id of a release of build created at t: the UTC
// time to the second, "-", and the first 8 hex digits of the build id, so
// ids sort in creation order and still name their build. Two releases
// created within one second would not sort in creation order (or would
// collide): a new id is made by NextReleaseID, after the newest, or the
// target makes sure it sorts after every existing one.
func NewReleaseID(t time.Time, build string) string {
	return t.UTC().Format(releaseTimeLayout) + "-" + shortBuild(build)
}

// shortBuild is the part of a build id that release ids carry.
func shortBuild(build string) string {
	return build[:min(len(build), 8)]
}

// NextReleaseID returns the id of a new release of build created at now
// that sorts after newest ("" for none): now's id, or when that would not
// sort after newest, newest's time plus one second (releases created
// faster than one a second run a few seconds ahead of their clock). A
// newest id that is not one of ours gets a suffix that sorts after it.
func NextReleaseID(now time.Time, build, newest string) string {
	id := NewReleaseID(now, build)
	for id <= newest {
		t, err := time.Parse(releaseTimeLayout, newest[:min(len(newest), len(releaseTimeLayout))])
		if err != nil {
			return newest + "-" + NewReleaseID(now, build)
		}
		id = NewReleaseID(t.Add(time.Second), build)
	}
	return id
}
