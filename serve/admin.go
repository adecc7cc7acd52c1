package serve

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scdtool/scd/publish"
)

// AdminHandler is the control API, for the deploy and for operators. It
// belongs on a listener of its own that only they can reach (loopback or a
// Unix socket by default); with a non-empty token every request must carry
// "Authorization: Bearer <token>".
//
//	GET    /-/healthz                  200 "ok" once a release is active
//	GET    /-/release                  Status as JSON
//	POST   /-/reload                   re-read current now; {"active": id}
//	POST   /-/hold   {"timeout":"30s"} hold new public requests (409 if held)
//	DELETE /-/hold                     release them
//	POST   /-/canary {"release":id,"percent":10}   start or change a canary
//	POST   /-/canary/promote           activate the canary release for everyone
//	POST   /-/canary/abort             everyone back on the active release
//	GET    /-/preview/<id>/<path>      any complete release (see PreviewHandler)
//	GET    /metrics                    Prometheus
//
// Answers are JSON; errors are {"error": "..."}.
func (s *Server) AdminHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /-/release", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status(r.Context())
		if err != nil {
			// The history is unreadable; what is served is still known.
			s.log.Warn("reading the release history", "err", err)
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Reload()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"active": id})
	})
	mux.HandleFunc("POST /-/hold", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Timeout string `json:"timeout"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		var d time.Duration
		if req.Timeout != "" {
			var err error
			if d, err = time.ParseDuration(req.Timeout); err != nil || d <= 0 {
				writeError(w, http.StatusBadRequest, errors.New("timeout must be a positive duration such as 30s"))
				return
			}
		}
		st, err := s.Hold(d)
		if errors.Is(err, ErrHeld) {
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "hold": st})
			return
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("DELETE /-/hold", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"released": s.ReleaseHold()})
	})
	mux.HandleFunc("POST /-/canary", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Release string `json:"release"`
			Percent int    `json:"percent"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		st, err := s.StartCanary(req.Release, req.Percent)
		switch {
		case errors.Is(err, publish.ErrUnknownRelease):
			writeError(w, http.StatusNotFound, err)
		case err != nil:
			writeError(w, http.StatusBadRequest, err)
		default:
			writeJSON(w, http.StatusOK, st)
		}
	})
	mux.HandleFunc("POST /-/canary/promote", func(w http.ResponseWriter, r *http.Request) {
		id, err := s.PromoteCanary(r.Context())
		switch {
		case errors.Is(err, ErrNoCanary):
			writeError(w, http.StatusConflict, err)
		case err != nil:
			writeError(w, http.StatusInternalServerError, err)
		default:
			writeJSON(w, http.StatusOK, map[string]string{"active": id})
		}
	})
	mux.HandleFunc("POST /-/canary/abort", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"aborted": s.AbortCanary()})
	})
	preview := s.PreviewHandler()
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scd"`)
			writeError(w, http.StatusUnauthorized, errors.New("a bearer token is required"))
			return
		}
		// Preview paths are refused, not cleaned and redirected as
		// ServeMux would: the same rules as on the public listener.
		if strings.HasPrefix(r.URL.Path, previewPrefix) {
			preview.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// readJSON decodes an optional JSON body into v (an empty body leaves v
// as it is). Unknown fields are errors, so a typo is never ignored.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return false
	}
	if strings.TrimSpace(string(body)) == "" {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, errors.New("bad request body: "+err.Error()))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheNever)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
