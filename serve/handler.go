package serve

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Cache-Control values. Hashed names never change content, so clients and
// CDNs keep them a year without asking (RFC 8246 immutable), and so do
// names under the release's own /static/version<N>/ prefix; logical names
// (HTML, manifest.json, js-translation.json) change with every release, so
// they are revalidated on every use — cheap, with the ETag.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	// During a canary a logical name's content depends on the client's
	// cookie: no shared cache may keep it.
	cacheRevalidatePrivate = "private, no-cache"
	cacheNever             = "no-store"
)

// ReleaseHeader names the release in every response; on the preview
// listener a request may set it to choose the release.
const ReleaseHeader = "X-Scd-Release"

// previewPrefix is the path prefix of preview requests: /-/preview/<id>/<path>.
const previewPrefix = "/-/preview/"

// Handler serves the active release (or the canary, for clients in its
// share) on the public listener. It answers GET and HEAD only; besides
// files it answers /-/healthz, and nothing else under /-/. Requests that
// arrive while a hold is open wait for it to end.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAdminPath(r.URL.Path) {
			if r.URL.Path == "/-/healthz" {
				s.healthz(w, r)
				return
			}
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		start := time.Now()
		if !s.waitHold(r.Context()) {
			return // the client is gone; nothing to answer
		}
		rw := &recorder{ResponseWriter: w}
		rel, other := s.pick(rw, r)
		id := ""
		if rel != nil {
			id = rel.id
			s.serveFile(rw, r, rel, other, r.URL.Path, other != nil)
			rel.decref()
		} else {
			rw.Header().Set("Cache-Control", cacheNever)
			http.Error(rw, "no active release", http.StatusServiceUnavailable)
		}
		s.done(rw, r, "static", id, start)
	})
}

// PreviewHandler serves any complete release, staged or not, so that a
// deploy can warm and check a release before activating it:
//
//	GET /-/preview/<id>/<path>           (relative links in HTML keep working)
//	GET /<path> with X-Scd-Release: <id>
//
// A request naming no release gets the active one. Holds do not apply.
// Serve it on a listener of its own (--preview-addr), or through the admin
// listener, which mounts it too; never on the public listener, where it
// would publish releases before their time.
func (s *Server) PreviewHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, p := r.Header.Get(ReleaseHeader), r.URL.Path
		if rest, ok := strings.CutPrefix(p, previewPrefix); ok {
			id, p, _ = strings.Cut(rest, "/")
			p = "/" + p
		} else if isAdminPath(p) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		rw := &recorder{ResponseWriter: w}
		var rel *release
		var err error
		if id == "" {
			rel, _ = s.pick(rw, r)
			if rel == nil {
				err = fs.ErrNotExist
			}
		} else {
			rel, err = s.openOther(id)
		}
		if err != nil {
			rw.Header().Set("Cache-Control", cacheNever)
			http.Error(rw, "unknown release", http.StatusNotFound)
			s.done(rw, r, "preview", id, start)
			return
		}
		s.serveFile(rw, r, rel, nil, p, false)
		rel.decref()
		s.done(rw, r, "preview", rel.id, start)
	})
}

// serveFile answers one request from rel. other, when set, is the release
// on the other side of a canary: a hashed name missing from rel is served
// from it, since a hashed name means the same bytes in every release (a
// client that got its page from one side before its cookie was set still
// gets that page's assets), and so is a /static/version<N>/ path whose N
// is other's content version, not rel's. private marks a response whose
// logical names depend on the canary cookie.
func (s *Server) serveFile(w *recorder, r *http.Request, rel, other *release, urlPath string, private bool) {
	h := w.Header()
	h.Set(ReleaseHeader, rel.id)
	// A response for any path may vary by encoding, errors included: a
	// cache must never reuse one client's answer for another's encodings.
	h.Set("Vary", "Accept-Encoding")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		h.Set("Cache-Control", cacheNever)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, version, ok := requestPath(urlPath)
	if !ok {
		notFound(w)
		return
	}
	if version != "" && version != rel.version && other != nil && version == other.version && other.acquire() {
		// The URL names the other side's content (a page rendered with
		// the canary's deployed_version.txt, say): serve that release,
		// whichever side the client's cookie is on.
		defer other.decref()
		rel, other = other, rel
		h.Set(ReleaseHeader, rel.id)
	}
	e, err := rel.lookup(p)
	if err != nil && other != nil && isHashed(p) && other.acquire() {
		defer other.decref()
		if e2, err2 := other.lookup(p); err2 == nil {
			rel, e, err = other, e2, nil
			h.Set(ReleaseHeader, rel.id)
		}
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNotFile) {
			// Escapes (a symlink out of the tree) land here too: answer
			// as for a missing file, log for the operator.
			s.log.Debug("refused path", "path", p, "release", rel.id, "err", err)
		}
		notFound(w)
		return
	}
	enc, ok := negotiate(r.Header.Values("Accept-Encoding"), e.avail)
	if !ok {
		h.Set("Cache-Control", cacheNever)
		http.Error(w, "no acceptable content coding", http.StatusNotAcceptable)
		return
	}
	v := e.variants[enc]
	var content io.ReadSeeker
	if v.data != nil {
		content = bytes.NewReader(v.data)
	} else {
		f, err := rel.root.Open(p + enc.Ext())
		if err != nil {
			s.log.Warn("open failed", "path", p+enc.Ext(), "release", rel.id, "err", err)
			notFound(w)
			return
		}
		defer f.Close()
		content = f // ServeContent's copy becomes sendfile(2)
	}
	w.enc = enc
	switch {
	case e.hashed:
		h.Set("Cache-Control", cacheImmutable)
	case version != "" && version == rel.version:
		// /static/version<N>/…: N changes with every release, so this
		// URL's bytes never change. A version that is not the serving
		// release's (an old page after a switch, a new page on a server
		// not yet switched) gets the bytes of a logical name, revalidated:
		// caching them as immutable would pin the wrong content to it.
		h.Set("Cache-Control", cacheImmutable)
	case private:
		h.Set("Cache-Control", cacheRevalidatePrivate)
	default:
		h.Set("Cache-Control", cacheRevalidate)
	}
	h.Set("Content-Type", e.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	if v.etag != "" {
		h.Set("Etag", v.etag)
	}
	// Content-Encoding is added by the recorder as the status is written:
	// ServeContent leaves out Content-Length when Content-Encoding is
	// already set (it assumes a wrapper compressing on the fly; see
	// net/http/fs.go), and error answers must not carry it.
	//
	// ServeContent answers If-None-Match (304), If-Match, If-Range, Range
	// and HEAD. A zero time: no Last-Modified, whose value would be the
	// shared object's mtime, not the release's; the ETag is the validator.
	http.ServeContent(w, r, "", time.Time{}, content)
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", cacheNever)
	http.Error(w, "not found", http.StatusNotFound)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", cacheNever)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.active.Load() == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "no active release\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// done records metrics and the access log of a finished request.
func (s *Server) done(w *recorder, r *http.Request, route, release string, start time.Time) {
	d := time.Since(start)
	code := w.code()
	s.metrics.observe(route, release, code, w.enc, d.Seconds())
	if s.opts.AccessLog != nil {
		s.opts.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", code),
			slog.Int64("bytes", w.bytes), slog.String("encoding", w.enc.Token()), slog.String("release", release),
			slog.String("route", route), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr))
	}
}

// recorder notes the status and size of a response. It keeps ReadFrom, so
// that ServeContent's copy from an *os.File still becomes sendfile(2).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	enc    Encoding
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.enc != Identity && (code == http.StatusOK || code == http.StatusPartialContent) {
			w.Header().Set("Content-Encoding", w.enc.Token())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
