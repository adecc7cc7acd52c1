//go:build unix

package publish

import (
	"context"
	"io"
	"time"
)

// Hooks for the external tests (package publish_test, which can import
// publishtest without an import cycle).

const (
	HistoryFile = historyFile
	CurrentLink = currentLink
	LockFile    = lockFile
	ObjectsDir  = objectsDir
	ReleasesDir = releasesDir
	MarkerFile  = markerFile
	TmpSuffix   = tmpSuffix
)

func (l *Local) Root() string                 { return l.root }
func (l *Local) ReleasePath(id string) string { return l.releasePath(id) }
func (l *Local) ActiveID() (string, error)    { return l.activeID() }
func (l *Local) GCObjects() error             { return l.gcObjects() }
func (l *Local) Lock(ctx context.Context) (func(), error) {
	return l.lock(ctx)
}
func (l *Local) SetWrapWriter(f func(name string, w io.Writer) io.Writer) { l.wrapWriter = f }
func (l *Local) SetLockTimeout(d time.Duration)                           { l.opts.LockTimeout = d }
func (l *Local) SwitchCurrent(id string) error                            { return l.switchCurrent(id) }

// HistoryStatus is the status the history file records for id, or "".
func (l *Local) HistoryStatus(id string) Status {
	h, err := l.loadHistory()
	if err != nil || h.find(id) < 0 {
		return ""
	}
	return h.Releases[h.find(id)].Status
}
