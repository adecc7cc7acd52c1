package warmup

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/scdtool/scd/manifest"
)

// Placeholders a page pattern may contain; a page with any of them is
// expanded once per job (and {template} once per HTML file of the job).
var placeholders = []string{"{area}", "{theme}", "{locale}", "{dir}", "{template}"}

// IsPattern reports whether page contains a job placeholder.
func IsPattern(page string) bool {
	for _, p := range placeholders {
		if strings.Contains(page, p) {
			return true
		}
	}
	return false
}

// Expand turns pages into the concrete list to warm: a page without a
// placeholder is kept; a pattern is expanded for every job of jobs,
// {area}, {theme} (Vendor/name), {locale} and {dir} (the job directory)
// replaced, and a pattern with {template} yields one page per HTML logical
// name in the job's manifest (manifests by job directory). Duplicates are
// dropped; the order is stable.
func Expand(pages []string, jobs []manifest.Job, manifests map[string]manifest.Manifest) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range pages {
		if !IsPattern(p) {
			add(p)
			continue
		}
		if len(jobs) == 0 {
			return nil, fmt.Errorf("page pattern %q: the build has no jobs to expand it over", p)
		}
		for _, j := range jobs {
			s := strings.NewReplacer("{area}", j.Area, "{theme}", j.Theme, "{locale}", j.Locale, "{dir}", j.Dir).Replace(p)
			if !strings.Contains(s, "{template}") {
				add(s)
				continue
			}
			m, ok := manifests[j.Dir]
			if !ok {
				return nil, fmt.Errorf("page pattern %q: no manifest for job %s", p, j.Dir)
			}
			var templates []string
			for logical, a := range m {
				if isHTML(logical) && (a.File == "" || a.File == logical) {
					templates = append(templates, logical)
				}
			}
			slices.Sort(templates)
			for _, tpl := range templates {
				add(strings.ReplaceAll(s, "{template}", tpl))
			}
		}
	}
	return out, nil
}

func isHTML(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".html" || ext == ".htm"
}

// resolver turns configured pages into request URLs.
type resolver struct {
	base    *url.URL
	allowed map[string]bool // lowercase host[:port]
	rebase  bool
}

func newResolver(base string, hosts []string, rebase bool) (*resolver, error) {
	b, err := url.Parse(base)
	if err != nil || (b.Scheme != "http" && b.Scheme != "https") || b.Host == "" {
		return nil, fmt.Errorf("base URL %q: must be an absolute http(s) URL", base)
	}
	r := &resolver{base: b, allowed: map[string]bool{strings.ToLower(b.Host): true}, rebase: rebase}
	for _, h := range hosts {
		r.allowed[strings.ToLower(h)] = true
	}
	return r, nil
}

// ErrHostNotAllowed is wrapped by errors about absolute URLs whose host is
// not the base URL's nor one of Options.Hosts: warming them up would load
// someone else's site.
var ErrHostNotAllowed = errors.New("host not allowed")

func (r *resolver) hostAllowed(u *url.URL) bool {
	h := strings.ToLower(u.Host)
	if r.allowed[h] {
		return true
	}
	// A configured host without a port allows it on the scheme's default
	// port, which is how it appears in sitemaps.
	return u.Port() == "" && r.allowed[strings.ToLower(u.Hostname())]
}

// resolve returns the URL to request for page. A relative page is appended
// to the base URL's path (not resolved as a link would be), so a base
// such as http://127.0.0.1:8080/-/preview/<id>/ keeps its prefix for
// "/static/…" too. An absolute URL must be on an allowed host; with
// rebase, it is requested at the base URL with its path and query (so a
// sitemap of the live site warms a preview address).
func (r *resolver) resolve(page string) (*url.URL, error) {
	u, err := url.Parse(page)
	if err != nil {
		return nil, fmt.Errorf("page %q: %w", page, err)
	}
	if u.IsAbs() || u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "" {
			return nil, fmt.Errorf("page %q: scheme %q: only http and https pages can be warmed", page, u.Scheme)
		}
		if !r.hostAllowed(u) {
			return nil, fmt.Errorf("page %q: %w (allowed: the base URL's host and hosts:)", page, ErrHostNotAllowed)
		}
		if !r.rebase {
			if u.Scheme == "" {
				u.Scheme = r.base.Scheme
			}
			return u, nil
		}
		u = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	}
	out := *r.base
	out.Path = strings.TrimRight(r.base.Path, "/") + "/" + strings.TrimLeft(u.Path, "/")
	out.RawPath = ""
	if u.RawPath != "" {
		out.RawPath = strings.TrimRight(r.base.EscapedPath(), "/") + "/" + strings.TrimLeft(u.RawPath, "/")
	}
	out.RawQuery = u.RawQuery
	out.Fragment = ""
	return &out, nil
}

// Sitemap limits.
const (
	// maxSitemapDepth: an index of indexes of sitemaps is as deep as the
	// protocol's users go; more is a loop.
	maxSitemapDepth = 3
	maxSitemapBytes = 50 << 20 // the protocol's own cap on one file
)

type sitemapDoc struct {
	XMLName xml.Name
	URLs    []struct {
		Loc string `xml:"loc"`
	} `xml:"url"`
	Sitemaps []struct {
		Loc string `xml:"loc"`
	} `xml:"sitemap"`
}

// ParseSitemap reads a sitemap (<urlset>) or a sitemap index
// (<sitemapindex>), gzipped or not, and returns its page URLs and its child
// sitemap URLs.
func ParseSitemap(r io.Reader) (pages, sitemaps []string, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSitemapBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxSitemapBytes {
		return nil, nil, fmt.Errorf("sitemap larger than %d bytes", maxSitemapBytes)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, nil, err
		}
		data, err = io.ReadAll(io.LimitReader(zr, maxSitemapBytes+1))
		if err != nil {
			return nil, nil, err
		}
	}
	var doc sitemapDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("sitemap: %w", err)
	}
	switch doc.XMLName.Local {
	case "urlset", "sitemapindex":
	default:
		return nil, nil, fmt.Errorf("sitemap: root element <%s>, expected <urlset> or <sitemapindex>", doc.XMLName.Local)
	}
	for _, u := range doc.URLs {
		if s := strings.TrimSpace(u.Loc); s != "" {
			pages = append(pages, s)
		}
	}
	for _, s := range doc.Sitemaps {
		if l := strings.TrimSpace(s.Loc); l != "" {
			sitemaps = append(sitemaps, l)
		}
	}
	return pages, sitemaps, nil
}

// fetchSitemaps collects the pages of the sitemaps at urls (already
// resolved), following indexes. Child sitemaps go through the same host
// check as pages.
func (w *warmer) fetchSitemaps(ctx context.Context, urls []string) ([]string, error) {
	var pages []string
	seen := map[string]bool{}
	var walk func(u string, depth int) error
	walk = func(raw string, depth int) error {
		if seen[raw] {
			return nil
		}
		seen[raw] = true
		if depth > maxSitemapDepth {
			return fmt.Errorf("sitemap %s: nested more than %d deep", raw, maxSitemapDepth)
		}
		u, err := w.res.resolve(raw)
		if err != nil {
			return fmt.Errorf("sitemap: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		w.decorate(req, "gzip")
		resp, err := w.client.Do(req)
		if err != nil {
			return fmt.Errorf("sitemap %s: %w", u, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("sitemap %s: %s", u, resp.Status)
		}
		body := io.Reader(resp.Body)
		if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				return fmt.Errorf("sitemap %s: %w", u, err)
			}
			body = zr
		}
		p, children, err := ParseSitemap(body)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		pages = append(pages, p...)
		for _, c := range children {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, u := range urls {
		if err := walk(u, 1); err != nil {
			return nil, err
		}
	}
	return pages, nil
}
