package builder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tdewolff/minify/v2"
	mincss "github.com/tdewolff/minify/v2/css"
	minhtml "github.com/tdewolff/minify/v2/html"
	minjs "github.com/tdewolff/minify/v2/js"
	minjson "github.com/tdewolff/minify/v2/json"
	minsvg "github.com/tdewolff/minify/v2/svg"
	minxml "github.com/tdewolff/minify/v2/xml"
	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/css"

	"github.com/scdtool/scd/builder/i18n"
	"github.com/scdtool/scd/diag"
)

// srcData is a source file read once, with its derived forms computed on
// first use.
type srcData struct {
	once  sync.Once
	raw   []byte
	err   error
	sOnce sync.Once
	sum   string
	mOnce sync.Once
	mk    []byte
	hasMk bool
	pOnce sync.Once
	ph    []string
}

// leafOnce guards the processing of a leaf.
type leafOnce struct {
	once sync.Once
	leaf
	sum  string // hex sha256 of out
	blob *blob  // out in the store, unless marked or rewritten (then each job makes its own)
}

// minifiers is the registry of tdewolff minifiers; M is safe for
// concurrent use once filled.
var minifiers = func() *minify.M {
	m := minify.New()
	m.Add("application/javascript", &minjs.Minifier{})
	m.Add("text/css", &mincss.Minifier{})
	m.Add("image/svg+xml", &minsvg.Minifier{})
	m.Add("application/json", &minjson.Minifier{})
	m.Add("text/xml", &minxml.Minifier{})
	m.Add("text/html", &minhtml.Minifier{
		// Templates are run by Knockout or a server: keep what their
		// runtime reads, and leave {{…}} helpers as they are.
		KeepDocumentTags:    true,
		KeepEndTags:         true,
		KeepQuotes:          true,
		KeepDefaultAttrVals: true,
		KeepSpecialComments: true,
		TemplateDelims:      [2]string{"{{", "}}"},
	})
	// Knockout's containerless bindings live in comments.
	m.Add("text/html+comments", &minhtml.Minifier{
		KeepComments:        true,
		KeepDocumentTags:    true,
		KeepEndTags:         true,
		KeepQuotes:          true,
		KeepDefaultAttrVals: true,
		TemplateDelims:      [2]string{"{{", "}}"},
	})
	return m
}()

var koComment = regexp.MustCompile(`<!--\s*/?ko\b`)

// leaf is the locale-independent processing of one source file that is
// published on its own: read, translation markers, minify. Jobs that
// publish the same file share its leaf.
type leaf struct {
	src     source
	logical string // the logical path it was first planned under
	owner   string // the first job that publishes it, for messages
	kind    kind

	raw    []byte   // the source as read
	out    []byte   // minified (or copied) bytes, with markers when marked
	marked bool     // out holds i18n.Marker calls
	in     inputSum // out's digest, for the rewrite memo

	phrases []string   // phrases the file uses (JS and HTML)
	srcTags []i18n.Tag // HTML: {{t}}/{{asset}} in raw, for messages
	outTags []i18n.Tag // HTML: the same tags in out
	srcRefs []cssRef   // CSS: url() references in raw
	outRefs []cssRef   // CSS: the same references in out
	warning error      // the minifier rejected the file; out is raw
	err     error
}

// process fills the leaf. It never runs twice for the same leaf.
func (l *leaf) process(b *build) {
	sd, err := b.read(l.src.Abs)
	if err != nil {
		l.err = err
		return
	}
	raw := sd.raw
	l.raw = raw
	l.out = raw
	k := l.kind
	if k == kindJS {
		l.phrases = sd.jsPhrases()
		if b.embedded {
			l.out, l.marked = sd.marked()
		}
	}
	if k == kindHTML {
		tags, err := i18n.ScanTemplate(b.display(l.src.Abs), raw)
		if err != nil {
			l.err = err
			return
		}
		l.srcTags = tags
		l.phrases = i18n.HTMLPhrases(raw)
	}
	if k == kindCSS {
		l.srcRefs = cssURLs(raw)
	}
	mt := k.mediaType()
	if mt == "" || (k == kindHTML && b.opts.Skip.NoHTMLMinify) {
		l.outTags = l.srcTags
		return
	}
	if k == kindHTML && koComment.Match(raw) {
		mt = "text/html+comments"
	}
	// The minifier may write past the end of its input: give it a copy.
	in := append(make([]byte, 0, len(l.out)+1), l.out...)
	selfClosing := false
	if k == kindHTML {
		in, selfClosing = markSelfClosing(in)
	}
	min, err := minifiers.Bytes(mt, in)
	if selfClosing && err == nil {
		min = restoreSelfClosing(min)
	}
	if err != nil {
		l.warning = l.minifyError(b.display(l.src.Abs), err)
		l.outTags, l.outRefs = l.srcTags, l.srcRefs
		return
	}
	l.out = min
	switch k {
	case kindJS:
		l.marked = l.marked && bytes.Contains(min, []byte(markerCall))
	case kindHTML:
		tags, err := i18n.ScanTemplate(b.display(l.src.Abs), min)
		if err != nil || len(tags) != len(l.srcTags) {
			// The minifier must not change helpers; if it did, publish
			// the template as written rather than guess.
			l.out, tags = raw, l.srcTags
		}
		l.outTags = tags
	case kindCSS:
		l.outRefs = cssURLs(min)
		if len(l.outRefs) != len(l.srcRefs) {
			l.out, l.outRefs = raw, l.srcRefs
		}
	}
}

// source returns the bytes of the source file, for messages: a leaf from
// the cache has not read it.
func (l *leaf) source(b *build) []byte {
	if l.raw == nil {
		if sd, err := b.read(l.src.Abs); err == nil {
			return sd.raw
		}
	}
	return l.raw
}

// minifyError turns a minifier error into a located warning.
func (l *leaf) minifyError(file string, err error) error {
	var pe *parse.Error
	if errors.As(err, &pe) {
		return &diag.Error{Kind: diag.Build, File: file, Line: pe.Line, Col: pe.Column,
			Msg: "minifier rejected the file, published unminified: " + pe.Message, Source: diag.LineText(l.raw, pe.Line)}
	}
	return &diag.Error{Kind: diag.Build, File: file, Msg: fmt.Sprintf("minifier rejected the file, published unminified: %v", err)}
}

// cssRef is one url(…) in a stylesheet.
type cssRef struct {
	Off, End int // byte range of the whole url(…) token
	URL      string
}

// cssURLs lists the url() tokens of a stylesheet, in order.
func cssURLs(src []byte) []cssRef {
	var refs []cssRef
	l := css.NewLexer(parse.NewInputBytes(src))
	off := 0
	for {
		tt, data := l.Next()
		if tt == css.ErrorToken {
			return refs
		}
		if tt == css.URLToken {
			refs = append(refs, cssRef{Off: off, End: off + len(data), URL: urlTokenValue(data)})
		}
		off += len(data)
	}
}

// urlTokenValue extracts the URL from `url( "x" )`. CSS escapes in URLs
// are rare in themes and are kept as written.
func urlTokenValue(tok []byte) string {
	s := string(tok[4 : len(tok)-1])
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	return s
}

// isExternalURL reports whether a reference points outside the build.
func isExternalURL(u string) bool {
	if u == "" || strings.HasPrefix(u, "#") || strings.HasPrefix(u, "//") || strings.HasPrefix(u, "/") {
		return true
	}
	if i := strings.IndexByte(u, ':'); i > 0 && !strings.ContainsAny(u[:i], "/?#") {
		return true // a scheme: data:, https:, about:…
	}
	return false
}

// splitURLSuffix separates "font.woff2?v=1#iefix" into the path and the
// query/fragment that is kept after rewriting.
func splitURLSuffix(u string) (string, string) {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i], u[i:]
	}
	return u, ""
}

// cssURL renders a URL for a url() token, quoting it when needed.
func cssURL(u string) string {
	if strings.ContainsAny(u, " \t\n\"'()\\") {
		return `url("` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\a `).Replace(u) + `")`
	}
	return "url(" + u + ")"
}

// replaceRanges returns src with each [Off,End) range replaced by the
// corresponding string; ranges are sorted and disjoint.
func replaceRanges(src []byte, offs, ends []int, repl []string) []byte {
	var out bytes.Buffer
	out.Grow(len(src))
	last := 0
	for i := range offs {
		out.Write(src[last:offs[i]])
		out.WriteString(repl[i])
		last = ends[i]
	}
	out.Write(src[last:])
	return out.Bytes()
}

// digest returns the hex sha256 of the source.
func (s *srcData) digest() string {
	s.sOnce.Do(func() {
		h := sha256.Sum256(s.raw)
		s.sum = hex.EncodeToString(h[:])
	})
	return s.sum
}

// marked returns the source with $t calls turned into marker calls, and
// whether there were any.
func (s *srcData) marked() ([]byte, bool) {
	s.mOnce.Do(func() { s.mk, s.hasMk = i18n.MarkJS(s.raw) })
	return s.mk, s.hasMk
}

func (s *srcData) jsPhrases() []string {
	s.pOnce.Do(func() { s.ph = i18n.JSPhrases(s.raw) })
	return s.ph
}

func (b *build) read(abs string) (*srcData, error) {
	b.srcMu.Lock()
	s, ok := b.srcs[abs]
	if !ok {
		s = &srcData{}
		b.srcs[abs] = s
	}
	b.srcMu.Unlock()
	s.once.Do(func() {
		s.raw, s.err = os.ReadFile(abs)
		if s.err == nil {
			b.stats.addIn(int64(len(s.raw)))
		}
	})
	return s, s.err
}

// rewritten reports whether every job rewrites the leaf's output before
// publishing it: a stylesheet with references, a template with helpers.
func (l *leafOnce) rewritten() bool {
	switch l.kind {
	case kindCSS:
		return len(l.srcRefs) > 0
	case kindHTML:
		return len(l.srcTags) > 0
	}
	return false
}

// ensure processes the leaf if nobody has yet, and returns its error.
func (l *leafOnce) ensure(b *build) error {
	l.once.Do(func() {
		defer b.clock.since(stMinify, time.Now())
		hit := b.recallLeaf(l)
		if !hit {
			l.process(b)
		}
		if l.err != nil {
			l.err = diag.Scoped(l.owner, l.err)
			return
		}
		if l.warning != nil {
			b.warn(diag.Scoped(l.owner, l.warning))
		} else if !hit {
			b.keepLeaf(l)
		}
		// The digest of out, once: a leaf from the pack has it already,
		// and it is the store's key as well as the rewrite memo's.
		t0 := time.Now()
		sum := l.in.get(l.out).sum
		b.clock.since(stHash, t0)
		if l.marked || l.rewritten() {
			// Not published as it is: each job makes its own bytes.
			l.sum = hex.EncodeToString(sum[:])
			return
		}
		l.blob = b.store.putSum(l.out, sum, l.logical) // starts compressing now
		l.sum = l.blob.sum
	})
	return l.err
}

// assetName returns the published name of logical in fs: used for
// references from CSS, where the referenced file is never translated.
func (b *build) assetName(fs *fileset, logical string) (string, error) {
	src, ok := fs.lookup(logical)
	if !ok {
		return "", fmt.Errorf("cannot find %s", logical)
	}
	if b.logicalNames {
		return logical, nil
	}
	l := b.leafFor(src, logical, "")
	if err := l.ensure(b); err != nil {
		return "", err
	}
	if keepsName(l.kind) {
		return logical, nil
	}
	return hashedName(logical, l.sum[:8]), nil
}
