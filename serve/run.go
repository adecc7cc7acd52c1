package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch re-reads current whenever it changes — a watch on the root
// directory, since current is replaced by rename(2) and a watch on the
// link itself would follow it — and every PollInterval besides, until ctx
// is done. It also closes releases left idle (see previewIdle).
func (s *Server) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("serve: watch: %w", err)
	}
	defer w.Close()
	if err := w.Add(s.opts.Root); err != nil {
		return fmt.Errorf("serve: watch %s: %w", s.opts.Root, err)
	}
	poll := s.opts.PollInterval
	if poll < 0 {
		poll = time.Hour // still expire idle releases now and then
	}
	tick := time.NewTicker(min(poll, previewIdle/2))
	defer tick.Stop()
	reload := func(why string) {
		if _, err := s.Reload(); err != nil {
			s.log.Error("reload failed", "trigger", why, "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == currentLink && ev.Op&(fsnotify.Create|fsnotify.Rename|fsnotify.Write) != 0 {
				reload("watch")
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events: re-read now rather than wait.
			s.log.Warn("watch error", "err", err)
			reload("watch error")
		case now := <-tick.C:
			if s.opts.PollInterval > 0 {
				reload("poll")
			}
			s.expire(now)
		}
	}
}

// Listeners configure Run. Addresses are host:port, or unix:/path for a
// Unix socket; "" disables a listener (Addr is required).
type Listeners struct {
	Addr        string // public: the active release
	AdminAddr   string // the admin API (AdminHandler)
	AdminToken  string // required on the admin API when set
	PreviewAddr string // PreviewHandler
	// ShutdownTimeout bounds the graceful shutdown: requests in flight
	// (held ones included: the hold ends first) get this long to finish.
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the bound addresses once every
	// listener accepts (useful with port 0).
	Ready func(addr, admin, preview net.Addr)
}

// ErrAdminToken is returned by Run for an admin listener reachable from
// other hosts without a token.
var ErrAdminToken = errors.New("the admin API listens beyond loopback: an admin token is required")

// Run serves until ctx is done, then shuts down gracefully: listeners
// close, a hold ends, and requests in flight get ShutdownTimeout to
// finish. It runs Watch meanwhile.
func (s *Server) Run(ctx context.Context, l Listeners) error {
	if l.Addr == "" {
		return errors.New("serve: no listen address")
	}
	if l.AdminAddr != "" && l.AdminToken == "" && !IsLocalAddr(l.AdminAddr) {
		return ErrAdminToken
	}
	if l.ShutdownTimeout <= 0 {
		l.ShutdownTimeout = 30 * time.Second
	}
	type srv struct {
		ln net.Listener
		hs *http.Server
	}
	var srvs []srv
	var addrs [3]net.Addr
	for i, c := range []struct {
		addr string
		h    http.Handler
	}{
		{l.Addr, s.Handler()},
		{l.AdminAddr, s.AdminHandler(l.AdminToken)},
		{l.PreviewAddr, s.PreviewHandler()},
	} {
		if c.addr == "" {
			continue
		}
		ln, err := Listen(c.addr)
		if err != nil {
			for _, x := range srvs {
				x.ln.Close()
			}
			return err
		}
		addrs[i] = ln.Addr()
		srvs = append(srvs, srv{ln, &http.Server{
			Handler:           c.h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          nil,
		}})
	}
	if l.Ready != nil {
		l.Ready(addrs[0], addrs[1], addrs[2])
	}
	for _, x := range srvs {
		s.log.Info("listening", "addr", x.ln.Addr().String())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(srvs)+1)
	go func() { errc <- s.Watch(ctx) }()
	for _, x := range srvs {
		go func() {
			err := x.hs.Serve(x.ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	// The first failure (a listener dying) stops everything, as does ctx.
	var errs []error
	pending := len(srvs) + 1
	select {
	case <-ctx.Done():
	case err := <-errc:
		pending--
		errs = append(errs, err)
	}
	cancel()
	s.log.Info("shutting down", "timeout", l.ShutdownTimeout)
	// Held requests would otherwise wait out their hold.
	s.ReleaseHold()
	sctx, scancel := context.WithTimeout(context.Background(), l.ShutdownTimeout)
	defer scancel()
	for _, x := range srvs {
		if err := x.hs.Shutdown(sctx); err != nil {
			errs = append(errs, err)
			x.hs.Close()
		}
	}
	for range pending {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Listen opens a TCP listener, or a Unix socket for "unix:/path" (an old
// socket file left by a dead server is replaced).
func Listen(addr string) (net.Listener, error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(p)
		}
		ln, err := net.Listen("unix", p)
		if err != nil {
			return nil, fmt.Errorf("serve: listen %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve: listen %s: %w", addr, err)
	}
	return ln, nil
}

// IsLocalAddr reports whether addr can only be reached from this machine:
// a Unix socket or a loopback host ("localhost", 127.0.0.0/8, ::1). An
// empty host (all interfaces) is not local.
func IsLocalAddr(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
