// Package flush invalidates the caches in front of a release after the
// switch: Varnish (PURGE per URL, BAN by pattern), Magento-style tag bans,
// CDN purge APIs (one configured HTTP request), or any command.
//
// Targets are flushed one after the other, in configuration order, because
// caches are layered: a CDN flushed before the Varnish behind it refetches
// the stale page from Varnish. Every target is attempted even when an
// earlier one failed — a cache left stale is worse when nobody tries the
// others — and each yields a Result. A target that stays down after its
// retries fails the deploy or is reported and skipped, as its Policy says;
// it is never silent.
//
// What to flush comes from Diff: the logical names whose content changed
// between two releases. Hashed assets are never in it: their names change
// with their content, so a cached copy is never stale, and purging them
// would only cost the old release's clients (skew protection) a refetch.
package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scdtool/scd/hooks/internal/proc"
)

// Kind is how a target is flushed.
type Kind string

const (
	// Purge sends one request (method PURGE by default) per URL path to
	// Base + path: Varnish's `return (purge)`, nginx cache_purge.
	Purge Kind = "purge"
	// Ban sends one request (method BAN by default) to URL whose headers
	// carry the pattern, e.g. X-Ban-Url: {pattern} for scd.vcl, or
	// X-Magento-Tags-Pattern: .* (method PURGE) for Magento's VCL.
	Ban Kind = "ban"
	// HTTP sends one configured request (method POST by default) per batch
	// of URLs: a CDN's purge API (Cloudflare purge_cache, Fastly purge).
	HTTP Kind = "http"
	// Command runs an argv (no shell); an argument that is exactly {urls} or
	// {paths} becomes one argument per URL or path.
	Command Kind = "command"
)

// Policy says what a target that stays down after its retries does to the
// deploy.
type Policy string

const (
	// Fail (the default) fails the flush step, so the deploy rolls back
	// rather than leave users on stale pages.
	Fail Policy = "fail"
	// Continue reports the failure (Result.Err, a log line at Error) and
	// lets the deploy go on: for a cache whose staleness is tolerable.
	Continue Policy = "continue"
)

// Defaults for Target.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultRetries    = 3
	DefaultBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// DefaultConcurrency bounds the requests in flight for one purge target:
	// enough to purge a few hundred changed templates quickly, few enough
	// not to load the cache like an attack.
	DefaultConcurrency = 8
)

// Target is one cache to flush. Header values, URL, Body and Command
// arguments may contain placeholders, expanded per request:
//
//	{release}  the release id now live
//	{pattern}  a regular expression matching every path to flush
//	           (anchored, PCRE- and RE2-compatible), e.g. ^(?:/a\.html|/b\.json)(?:\?.*)?$
//	{urls}     the absolute URLs (Base + path): a JSON array in Body,
//	           space-separated elsewhere, one argument each in Command
//	{paths}    the URL paths, likewise
//	{host}     Host (or Base's host)
//
// In Body, {pattern} and {release} are escaped as the inside of a JSON
// string, because every purge API we know takes JSON.
type Target struct {
	Name string // for logs and results; "" uses Kind and URL
	Kind Kind
	// Base is the origin the paths are appended to for {urls} and for
	// Purge requests, e.g. http://127.0.0.1:6081 (Varnish) or
	// https://shop.example (for a CDN's list of URLs).
	Base string
	// Host overrides the Host header of requests, so a purge sent to the
	// cache's own address hits objects cached for the site's name.
	Host string
	// URL is where Ban and HTTP requests go.
	URL     string
	Method  string            // "" = PURGE, BAN, POST by Kind
	Headers map[string]string // values may contain placeholders
	Body    string            // HTTP only; may contain placeholders
	// Batch splits the URLs of an HTTP target into requests of at most
	// Batch URLs (CDN APIs cap a call: Cloudflare 30 files, Fastly 256
	// keys). 0 = one request.
	Batch   int
	Command []string
	// Expect lists the statuses that mean success; empty means any 2xx.
	Expect []int
	// Timeout bounds one attempt (0 = DefaultTimeout). Retries is the
	// number of further attempts after a failure (0 = DefaultRetries,
	// negative = none); waits start at Backoff and double up to MaxBackoff.
	Timeout    time.Duration
	Retries    int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Concurrency bounds Purge requests in flight (0 = DefaultConcurrency).
	Concurrency int
	Policy      Policy // "" = Fail
}

// Label names t in logs and results.
func (t Target) Label() string {
	if t.Name != "" {
		return t.Name
	}
	switch t.Kind {
	case Purge:
		return "purge " + t.Base
	case Command:
		if len(t.Command) > 0 {
			return "command " + t.Command[0]
		}
	}
	return string(t.Kind) + " " + t.URL
}

func (t Target) withDefaults() Target {
	if t.Method == "" {
		switch t.Kind {
		case Purge:
			t.Method = "PURGE"
		case Ban:
			t.Method = "BAN"
		case HTTP:
			t.Method = http.MethodPost
		}
	}
	if t.Timeout <= 0 {
		t.Timeout = DefaultTimeout
	}
	switch {
	case t.Retries == 0:
		t.Retries = DefaultRetries
	case t.Retries < 0:
		t.Retries = 0
	}
	if t.Backoff <= 0 {
		t.Backoff = DefaultBackoff
	}
	if t.MaxBackoff <= 0 {
		t.MaxBackoff = DefaultMaxBackoff
	}
	if t.Concurrency <= 0 {
		t.Concurrency = DefaultConcurrency
	}
	if t.Policy == "" {
		t.Policy = Fail
	}
	return t
}

// Check reports what is wrong with t as a list of messages (empty when
// fine), for configuration validation.
func (t Target) Check() []string {
	var p []string
	switch t.Kind {
	case Purge:
		if t.Base == "" {
			p = append(p, "purge target needs base (the cache's address)")
		}
	case Ban, HTTP:
		if t.URL == "" {
			p = append(p, fmt.Sprintf("%s target needs url", t.Kind))
		}
	case Command:
		if len(t.Command) == 0 || t.Command[0] == "" {
			p = append(p, "command target needs command (an argv list)")
		}
	case "":
		p = append(p, "target needs type: purge, ban, http or command")
	default:
		p = append(p, fmt.Sprintf("unknown target type %q: expected purge, ban, http or command", t.Kind))
	}
	if t.Policy != "" && t.Policy != Fail && t.Policy != Continue {
		p = append(p, fmt.Sprintf("unknown on_failure %q: expected fail or continue", t.Policy))
	}
	if t.Body != "" && t.Kind != HTTP {
		p = append(p, "body is only used by http targets")
	}
	if t.Batch < 0 {
		p = append(p, "batch must not be negative")
	}
	for _, s := range t.Expect {
		if s < 100 || s > 599 {
			p = append(p, fmt.Sprintf("expected status %d is not an HTTP status", s))
		}
	}
	return p
}

// Request is what to flush.
type Request struct {
	Release string
	// Paths are URL paths ("/static/frontend/…/template/cart.html"), see
	// Changes.URLPaths. An empty list flushes nothing: targets are not
	// contacted, since "flush everything" should be a deliberate pattern.
	Paths []string
}

// Result is what flushing one target did.
type Result struct {
	Target   string
	Kind     Kind
	Policy   Policy
	Requests int // requests (or command runs) needed, each retried on its own
	Attempts int // attempts in total, retries included
	// Status is the HTTP status of the last attempt that got a response
	// (for Purge, the first failing request's, else the last one's); 0 for
	// commands and when no response came.
	Status   int
	Duration time.Duration
	Err      error // nil when every request succeeded
}

// OK reports whether the target was flushed.
func (r Result) OK() bool { return r.Err == nil }

// Report is the outcome of Run.
type Report struct {
	Results []Result
}

// Failed returns the results whose target was not flushed.
func (r Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Err != nil {
			out = append(out, x)
		}
	}
	return out
}

// Options configure Run.
type Options struct {
	// Client sends the requests; nil uses a client without its own
	// timeout (Target.Timeout bounds each attempt).
	Client *http.Client
	Logger *slog.Logger
}

// Run flushes every target in order and returns a Result for each. The
// error joins the failures of targets whose Policy is Fail; failures of
// Continue targets are only in the Report (and logged at Error).
func Run(ctx context.Context, targets []Target, req Request, o Options) (Report, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := o.Client
	if client == nil {
		client = &http.Client{}
	}
	var (
		rep  Report
		errs []error
	)
	if len(req.Paths) == 0 {
		log.Info("flush: nothing changed, no target contacted")
		return rep, nil
	}
	for _, t := range targets {
		t = t.withDefaults()
		r := flushOne(ctx, client, log, t, req)
		rep.Results = append(rep.Results, r)
		attrs := []any{"target", r.Target, "kind", r.Kind, "requests", r.Requests, "attempts", r.Attempts, "status", r.Status, "duration", r.Duration}
		switch {
		case r.Err == nil:
			log.Info("flushed", attrs...)
		case t.Policy == Continue:
			log.Error("flush failed; continuing as configured (on_failure: continue)", append(attrs, "err", r.Err)...)
		default:
			log.Error("flush failed", append(attrs, "err", r.Err)...)
			errs = append(errs, fmt.Errorf("flush %s: %w", r.Target, r.Err))
		}
	}
	return rep, errors.Join(errs...)
}

func flushOne(ctx context.Context, client *http.Client, log *slog.Logger, t Target, req Request) Result {
	start := time.Now()
	r := Result{Target: t.Label(), Kind: t.Kind, Policy: t.Policy}
	if p := t.Check(); len(p) > 0 {
		r.Err = errors.New(strings.Join(p, "; "))
		r.Duration = time.Since(start)
		return r
	}
	v := newValues(t, req)
	var jobs []func(context.Context) (int, error)
	switch t.Kind {
	case Purge:
		for _, p := range req.Paths {
			u := joinURL(t.Base, p)
			jobs = append(jobs, func(ctx context.Context) (int, error) {
				return doHTTP(ctx, client, t, t.Method, u, v.headers(t.Headers), "")
			})
		}
	case Ban:
		u := v.text(t.URL)
		jobs = append(jobs, func(ctx context.Context) (int, error) {
			return doHTTP(ctx, client, t, t.Method, u, v.headers(t.Headers), "")
		})
	case HTTP:
		for _, b := range v.batches(t.Batch) {
			jobs = append(jobs, func(ctx context.Context) (int, error) {
				return doHTTP(ctx, client, t, t.Method, b.text(t.URL), b.headers(t.Headers), b.body(t.Body))
			})
		}
	case Command:
		argv := v.argv(t.Command)
		jobs = append(jobs, func(ctx context.Context) (int, error) {
			_, err := proc.Run(ctx, proc.Cmd{Argv: argv, Timeout: t.Timeout, Logger: log, Attrs: []any{"target", r.Target}})
			return 0, err
		})
	}
	r.Requests = len(jobs)

	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, t.Concurrency)
	)
	for _, job := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			attempts, status, err := retry(ctx, t, log, r.Target, job)
			mu.Lock()
			defer mu.Unlock()
			r.Attempts += attempts
			if firstErr == nil && status != 0 {
				r.Status = status
			}
			if err != nil && firstErr == nil {
				firstErr = err
				r.Status = status
			}
		}()
	}
	wg.Wait()
	r.Err = firstErr
	r.Duration = time.Since(start)
	return r
}

// retry runs job until it succeeds, fails permanently, or the attempts are
// used up, waiting Backoff, 2×Backoff, … (capped at MaxBackoff) between
// attempts.
func retry(ctx context.Context, t Target, log *slog.Logger, name string, job func(context.Context) (int, error)) (attempts, status int, err error) {
	wait := t.Backoff
	for {
		attempts++
		actx, cancel := context.WithTimeout(ctx, t.Timeout)
		status, err = job(actx)
		cancel()
		if err == nil {
			return attempts, status, nil
		}
		var pe *permanentError
		if errors.As(err, &pe) || attempts > t.Retries || ctx.Err() != nil {
			return attempts, status, err
		}
		log.Warn("flush attempt failed; retrying", "target", name, "attempt", attempts, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return attempts, status, err
		case <-time.After(wait):
		}
		wait = min(2*wait, t.MaxBackoff)
	}
}

// permanentError is a response that retrying will not change: a 4xx other
// than 408 and 429 means the request itself is wrong (a typo in the URL,
// a refused ACL, bad credentials).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func doHTTP(ctx context.Context, client *http.Client, t Target, method, u string, h http.Header, body string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, &permanentError{err}
	}
	for k, vs := range h {
		if strings.EqualFold(k, "Host") {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	if t.Host != "" {
		req.Host = t.Host
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, fmt.Errorf("%s %s: timed out after %s", method, u, t.Timeout)
		}
		return 0, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if ok(t.Expect, resp.StatusCode) {
		return resp.StatusCode, nil
	}
	err = fmt.Errorf("%s %s: %s%s", method, u, resp.Status, snippet(msg))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return resp.StatusCode, &permanentError{err}
	}
	return resp.StatusCode, err
}

func ok(expect []int, status int) bool {
	if len(expect) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(expect, status)
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return ""
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return ": " + s
}

// joinURL appends path to base, keeping base's own path prefix.
func joinURL(base, path string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// Pattern returns an anchored regular expression that matches exactly the
// given URL paths, with or without a query string. It is valid in PCRE
// (Varnish ban expressions) and RE2.
func Pattern(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = regexp.QuoteMeta(p)
	}
	return `^(?:` + strings.Join(q, "|") + `)(?:\?.*)?$`
}

// values holds the placeholder values of one request.
type values struct {
	release, pattern, host string
	urls, paths            []string
}

func newValues(t Target, req Request) values {
	v := values{release: req.Release, paths: req.Paths, pattern: Pattern(req.Paths), host: t.Host}
	for _, p := range req.Paths {
		v.urls = append(v.urls, joinURL(t.Base, p))
	}
	if v.host == "" && t.Base != "" {
		if i := strings.Index(t.Base, "://"); i >= 0 {
			h := t.Base[i+3:]
			if j := strings.IndexByte(h, '/'); j >= 0 {
				h = h[:j]
			}
			v.host = h
		}
	}
	return v
}

func (v values) batches(n int) []values {
	if n <= 0 || len(v.paths) <= n {
		return []values{v}
	}
	var out []values
	for i := 0; i < len(v.paths); i += n {
		j := min(i+n, len(v.paths))
		b := v
		b.paths, b.urls = v.paths[i:j], v.urls[i:j]
		b.pattern = Pattern(b.paths)
		out = append(out, b)
	}
	return out
}

func (v values) text(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return strings.NewReplacer(
		"{release}", v.release,
		"{pattern}", v.pattern,
		"{host}", v.host,
		"{urls}", strings.Join(v.urls, " "),
		"{paths}", strings.Join(v.paths, " "),
	).Replace(s)
}

func (v values) headers(h map[string]string) http.Header {
	out := http.Header{}
	for k, val := range h {
		out.Set(k, v.text(val))
	}
	return out
}

func (v values) body(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	return strings.NewReplacer(
		"{release}", jsonInner(v.release),
		"{pattern}", jsonInner(v.pattern),
		"{host}", jsonInner(v.host),
		"{urls}", jsonArray(v.urls),
		"{paths}", jsonArray(v.paths),
	).Replace(s)
}

func (v values) argv(args []string) []string {
	var out []string
	for _, a := range args {
		switch a {
		case "{urls}":
			out = append(out, v.urls...)
		case "{paths}":
			out = append(out, v.paths...)
		default:
			out = append(out, v.text(a))
		}
	}
	return out
}

func jsonArray(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonInner is s as JSON string contents, without the quotes.
func jsonInner(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// StatusText is a short human form of r for reports:
// "ok 200 (4 requests, 5 attempts)".
func (r Result) StatusText() string {
	var b strings.Builder
	if r.Err == nil {
		b.WriteString("ok")
	} else {
		b.WriteString("failed")
	}
	if r.Status != 0 {
		b.WriteString(" " + strconv.Itoa(r.Status))
	}
	fmt.Fprintf(&b, " (%d requests, %d attempts)", r.Requests, r.Attempts)
	return b.String()
}
