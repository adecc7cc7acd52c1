// Package warmup requests the pages of a release before and after it goes
// live, so that no user is the first to hit a cold cache, and checks what
// came back: status, time to first byte (TTFB) and size per page, p50 and
// p95 TTFB over the run, against expected statuses and a TTFB budget.
//
// It mirrors Adobe Commerce's post-deploy WARM_UP_PAGES,
// WARM_UP_CONCURRENCY and TTFB_TESTED_PAGES, with two differences that
// make it safe to gate a deploy on: failures fail the step (ece-tools only
// logs them) unless told otherwise, and pages are requested only on hosts
// the configuration names, so a typo or a sitemap entry can never turn a
// deploy into load on someone else's site.
//
// The same page list serves both warm-ups of a deploy: relative pages are
// appended to Options.Base, which is the preview address of the staged
// release first and the live address after the switch.
package warmup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	// DefaultConcurrency: ece-tools leaves WARM_UP_CONCURRENCY to Guzzle's
	// pool (25); a smaller default keeps a warm-up from looking like a load
	// test to a small origin, while still overlapping slow pages.
	DefaultConcurrency = 8
	DefaultTimeout     = 30 * time.Second
	// DefaultSitemapLimit caps pages taken from sitemaps, as ece-tools caps
	// product:*:* at 100 per store: a catalogue sitemap can list millions.
	DefaultSitemapLimit = 1000
	// DefaultEncoding is what current browsers send, so the variant most
	// clients will ask for is the one warmed.
	DefaultEncoding = "gzip, deflate, br, zstd"
	// Identity in Options.Encodings sends no Accept-Encoding header.
	Identity = "identity"
)

// Budget is the TTFB a warm-up must stay within. Zero fields are not
// checked.
type Budget struct {
	Page time.Duration // any measured page slower than this
	P95  time.Duration // the 95th percentile of measured pages
}

// Options configure Run. Base is required; every other zero value is a
// sensible default.
type Options struct {
	// Base is the absolute http(s) URL relative pages are appended to (its
	// path is kept as a prefix: http://host/-/preview/<id>/ works).
	Base string
	// Hosts are further hosts (host or host:port) that absolute pages and
	// sitemap entries may name; Base's host is always allowed. Any other
	// host is an error (ErrHostNotAllowed) before a request is sent.
	Hosts []string
	// Rebase requests absolute pages of allowed hosts at Base instead (path
	// and query kept): the live site's sitemap then warms a preview.
	Rebase bool
	// Host, when set, is sent as the Host header, so a cache reached by its
	// own address (127.0.0.1:6081) stores the objects under the site's name.
	Host string
	// Header is added to every request, e.g. X-Scd-Release: <id> to reach a
	// staged release through a cache keyed on it.
	Header http.Header

	// Pages are relative paths or absolute URLs (WARM_UP_PAGES), already
	// expanded (see Expand).
	Pages []string
	// Sitemaps are sitemap or sitemap index URLs (relative or absolute)
	// whose pages are warmed too, at most SitemapLimit of them (0 =
	// DefaultSitemapLimit).
	Sitemaps     []string
	SitemapLimit int
	// TTFBPages (TTFB_TESTED_PAGES) are requested again after every page is
	// warm, one at a time so they do not compete with each other: their
	// TTFB is what a user gets from a warm cache, and is what Budget and
	// the report's percentiles measure. Without them, the warm pass itself
	// is measured.
	TTFBPages []string

	Concurrency int           // WARM_UP_CONCURRENCY; 0 = DefaultConcurrency
	Timeout     time.Duration // per request, headers and body; 0 = DefaultTimeout
	// Expect lists the statuses that count as success; empty means 200.
	// Redirects are not followed: a 301 is checked like any status.
	Expect []int
	// Encodings lists Accept-Encoding values to request every page with,
	// one request each, since caches store one variant per encoding; empty
	// means DefaultEncoding. Identity sends no Accept-Encoding.
	Encodings []string
	Budget    Budget
	// AllowFailures reports failed pages without failing the step;
	// AllowOverBudget does the same for the budget.
	AllowFailures   bool
	AllowOverBudget bool

	// Client sends the requests; nil builds one. A caller's client should
	// not follow redirects nor decompress (Run reports sizes as received).
	Client *http.Client
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if len(o.Expect) == 0 {
		o.Expect = []int{http.StatusOK}
	}
	if len(o.Encodings) == 0 {
		o.Encodings = []string{DefaultEncoding}
	}
	if o.SitemapLimit <= 0 {
		o.SitemapLimit = DefaultSitemapLimit
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DisableCompression:  true,
				MaxIdleConnsPerHost: o.Concurrency,
				ForceAttemptHTTP2:   true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return o
}

// Page is the outcome of one request.
type Page struct {
	URL      string
	Encoding string // the Accept-Encoding sent ("" for identity)
	Status   int
	TTFB     time.Duration // request start to the first response byte
	Duration time.Duration // request start to the end of the body
	Size     int64         // body bytes as received (compressed)
	// Cache is the cache's verdict when it gives one (X-Cache, else
	// CF-Cache-Status), e.g. "HIT" or "MISS"; Age is the Age header.
	Cache string
	Age   string
	Err   error // transport error, unexpected status, or over the page budget
}

// Failed reports whether the page did not come back as expected.
func (p Page) Failed() bool { return p.Err != nil && !errors.Is(p.Err, ErrOverBudget) }

// Report is the outcome of Run.
type Report struct {
	Base   string
	Pages  []Page // the warm pass, in request order (pages × encodings)
	Tested []Page // the TTFB pass, when Options.TTFBPages is set
	// P50 and P95 are nearest-rank percentiles of the TTFB of the measured
	// pages (Tested if any, else Pages) that got a response.
	P50, P95 time.Duration
	Failures []Page // pages that failed, from both passes
	// OverBudget lists measured pages slower than Budget.Page; P95Over is
	// set when P95 exceeds Budget.P95.
	OverBudget []Page
	P95Over    bool
	Duration   time.Duration
}

// Hits counts pages of pass whose Cache says HIT.
func Hits(pass []Page) int {
	n := 0
	for _, p := range pass {
		if strings.Contains(strings.ToUpper(p.Cache), "HIT") {
			n++
		}
	}
	return n
}

// Errors wrapped by Run's error and by Page.Err.
var (
	ErrPageFailed = errors.New("warm-up failed")
	ErrOverBudget = errors.New("over TTFB budget")
)

type warmer struct {
	o      Options
	res    *resolver
	client *http.Client
}

// Run warms the pages of o and returns the report. The error is non-nil
// when the configuration is unusable (a bad base URL, a page on a host not
// allowed, an unreadable sitemap: nothing, or only sitemaps, was
// requested), when a page failed (ErrPageFailed) unless AllowFailures, or
// when the budget was exceeded (ErrOverBudget) unless AllowOverBudget.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	res, err := newResolver(o.Base, o.Hosts, o.Rebase)
	if err != nil {
		return nil, err
	}
	w := &warmer{o: o, res: res, client: o.Client}
	start := time.Now()
	rep := &Report{Base: o.Base}

	// Resolve everything first: a bad entry stops the step before any
	// request is made.
	pages := slices.Clone(o.Pages)
	if len(o.Sitemaps) > 0 {
		sm, err := w.fetchSitemaps(ctx, o.Sitemaps)
		if err != nil {
			return nil, err
		}
		if len(sm) > o.SitemapLimit {
			o.Logger.Warn("warm-up: sitemap pages capped", "pages", len(sm), "limit", o.SitemapLimit)
			sm = sm[:o.SitemapLimit]
		}
		pages = append(pages, sm...)
	}
	warm, err := w.resolveAll(pages)
	if err != nil {
		return nil, err
	}
	tested, err := w.resolveAll(o.TTFBPages)
	if err != nil {
		return nil, err
	}

	o.Logger.Info("warm-up", "base", o.Base, "pages", len(warm), "encodings", len(o.Encodings), "concurrency", o.Concurrency)
	rep.Pages = w.pass(ctx, warm, o.Concurrency)
	measured := rep.Pages
	if len(tested) > 0 {
		rep.Tested = w.pass(ctx, tested, 1)
		measured = rep.Tested
	}
	rep.Duration = time.Since(start)
	for _, p := range append(slices.Clone(rep.Pages), rep.Tested...) {
		if p.Failed() {
			rep.Failures = append(rep.Failures, p)
		}
	}
	var ttfbs []time.Duration
	for i := range measured {
		p := &measured[i]
		if p.Status == 0 {
			continue
		}
		ttfbs = append(ttfbs, p.TTFB)
		if o.Budget.Page > 0 && p.TTFB > o.Budget.Page {
			if p.Err == nil {
				p.Err = fmt.Errorf("%w: TTFB %s > %s", ErrOverBudget, p.TTFB.Round(time.Millisecond), o.Budget.Page)
			}
			rep.OverBudget = append(rep.OverBudget, *p)
		}
	}
	rep.P50, rep.P95 = Percentile(ttfbs, 50), Percentile(ttfbs, 95)
	rep.P95Over = o.Budget.P95 > 0 && rep.P95 > o.Budget.P95
	o.Logger.Info("warm-up done", "base", o.Base, "requests", len(rep.Pages)+len(rep.Tested),
		"failures", len(rep.Failures), "p50", rep.P50, "p95", rep.P95, "duration", rep.Duration)
	return rep, rep.err(o)
}

func (r *Report) err(o Options) error {
	var errs []error
	if len(r.Failures) > 0 {
		msg := fmt.Sprintf("%d of %d requests failed", len(r.Failures), len(r.Pages)+len(r.Tested))
		for i, p := range r.Failures {
			if i == 3 {
				msg += fmt.Sprintf("; and %d more", len(r.Failures)-3)
				break
			}
			msg += "; " + p.Err.Error()
		}
		if o.AllowFailures {
			o.Logger.Warn("warm-up: failures allowed by configuration", "failures", len(r.Failures), "first", msg)
		} else {
			errs = append(errs, fmt.Errorf("%w: %s", ErrPageFailed, msg))
		}
	}
	var over []string
	if len(r.OverBudget) > 0 {
		over = append(over, fmt.Sprintf("%d pages over %s (slowest %s: %s)", len(r.OverBudget), o.Budget.Page, slowest(r.OverBudget).URL, slowest(r.OverBudget).TTFB.Round(time.Millisecond)))
	}
	if r.P95Over {
		over = append(over, fmt.Sprintf("p95 %s > %s", r.P95.Round(time.Millisecond), o.Budget.P95))
	}
	if len(over) > 0 {
		if o.AllowOverBudget {
			o.Logger.Warn("warm-up: over TTFB budget, allowed by configuration", "detail", strings.Join(over, "; "))
		} else {
			errs = append(errs, fmt.Errorf("%w: %s", ErrOverBudget, strings.Join(over, "; ")))
		}
	}
	return errors.Join(errs...)
}

func slowest(ps []Page) Page {
	s := ps[0]
	for _, p := range ps[1:] {
		if p.TTFB > s.TTFB {
			s = p
		}
	}
	return s
}

func (w *warmer) resolveAll(pages []string) ([]string, error) {
	out := make([]string, 0, len(pages))
	var errs []error
	for _, p := range pages {
		if IsPattern(p) {
			errs = append(errs, fmt.Errorf("page %q: unexpanded pattern (see Expand)", p))
			continue
		}
		u, err := w.res.resolve(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, u.String())
	}
	return out, errors.Join(errs...)
}

// pass requests every URL with every encoding, at most concurrency at a
// time, and returns the pages in request order.
func (w *warmer) pass(ctx context.Context, urls []string, concurrency int) []Page {
	type item struct{ url, enc string }
	var items []item
	for _, u := range urls {
		for _, e := range w.o.Encodings {
			items = append(items, item{u, e})
		}
	}
	out := make([]Page, len(items))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = w.fetch(ctx, it.url, it.enc)
			p := out[i]
			w.o.Logger.Debug("warm-up page", "url", p.URL, "encoding", p.Encoding, "status", p.Status, "ttfb", p.TTFB, "size", p.Size, "cache", p.Cache, "err", p.Err)
		}()
	}
	wg.Wait()
	return out
}

// decorate sets the headers every warm-up request carries.
func (w *warmer) decorate(req *http.Request, enc string) {
	for k, vs := range w.o.Header {
		req.Header[k] = slices.Clone(vs)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "scd-warmup/1")
	}
	if enc != "" && enc != Identity {
		req.Header.Set("Accept-Encoding", enc)
	}
	if w.o.Host != "" {
		req.Host = w.o.Host
	}
}

func (w *warmer) fetch(ctx context.Context, u, enc string) Page {
	p := Page{URL: u, Encoding: enc}
	if enc == Identity {
		p.Encoding = ""
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	var first atomic.Int64 // written by the transport's goroutine
	start := time.Now()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotFirstResponseByte: func() { first.Store(int64(time.Since(start))) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		p.Err = err
		return p
	}
	w.decorate(req, enc)
	resp, err := w.client.Do(req)
	if err != nil {
		p.Duration = time.Since(start)
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s", w.o.Timeout)
		}
		p.Err = fmt.Errorf("%s: %w", u, err)
		return p
	}
	p.Status = resp.StatusCode
	p.TTFB = time.Duration(first.Load())
	p.Cache = resp.Header.Get("X-Cache")
	if p.Cache == "" {
		p.Cache = resp.Header.Get("CF-Cache-Status")
	}
	p.Age = resp.Header.Get("Age")
	p.Size, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.Duration = time.Since(start)
	switch {
	case err != nil:
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s", w.o.Timeout)
		}
		p.Err = fmt.Errorf("%s: reading body: %w", u, err)
	case !slices.Contains(w.o.Expect, p.Status):
		p.Err = fmt.Errorf("%s: status %d, expected %s", u, p.Status, statuses(w.o.Expect))
	}
	return p
}

func statuses(s []int) string {
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " or ")
}

// Percentile returns the nearest-rank q-th percentile of ds (0 for none):
// the smallest value with at least q% of the values at or below it. It is
// always one of the measured values, never an interpolation.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(q / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}
