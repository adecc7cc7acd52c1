package serve

import (
	"regexp"
	"strings"
)

// cleanPath turns a request path (already percent-decoded by net/http) into
// a slash-separated path relative to a release root, or reports that the
// path must not be served. It refuses rather than normalises: ".." and "."
// segments, empty segments ("a//b"), a trailing slash (directories are
// never listed), backslashes and NUL bytes, and segments starting with "."
// (the release's own .complete marker, editors' and VCS files, and the
// publisher's temporary trees). A path that would escape the release after
// percent-decoding — "/%2e%2e/etc/passwd" arrives here as "/../etc/passwd" —
// is therefore refused before the filesystem is asked; os.Root then refuses
// symlinks that lead out of the release.
func cleanPath(p string) (string, bool) {
	rel, ok := strings.CutPrefix(p, "/")
	if !ok || rel == "" || len(rel) > 4096 {
		return "", false
	}
	if strings.ContainsAny(rel, "\\\x00") {
		return "", false
	}
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "" || seg[0] == '.' {
			return "", false
		}
	}
	return rel, true
}

// Magento's static signing: storefront pages ask for
// /static/version<N>/<area>/<Vendor>/<theme>/<locale>/<path>, N being the
// content version in deployed_version.txt at the top of the static output
// (the release root). The version only busts caches; the file is <path>.
const (
	staticPrefix  = "/static"
	versionPrefix = "/version"
	// versionFile names the release's content version.
	versionFile = "deployed_version.txt"
	// maxVersionLen bounds a version: Magento's is a Unix time.
	maxVersionLen = 32
)

// splitVersion takes Magento's version prefix off a request path:
// "/static/version<digits>/rest" and "/version<digits>/rest" (the form a
// proxy or CDN that maps Magento's static base URL onto the release root
// sends) give ("<digits>", "/rest", true). The release root is served at
// "/", so "/rest" is exactly the unversioned path. Anything else —
// "version" followed by no digits or by anything but digits and a slash,
// "/static/" without a version — is not a version: the path is returned as
// it is, to be looked up literally (and found only if the release has such
// a file). Only one prefix is taken off; rest still goes through cleanPath.
func splitVersion(p string) (version, rest string, ok bool) {
	q := strings.TrimPrefix(p, staticPrefix)
	q, found := strings.CutPrefix(q, versionPrefix)
	if !found {
		return "", p, false
	}
	n := 0
	for n < len(q) && n <= maxVersionLen && q[n] >= '0' && q[n] <= '9' {
		n++
	}
	if n == 0 || n > maxVersionLen || n == len(q) || q[n] != '/' {
		return "", p, false
	}
	return q[:n], q[n:], true
}

// requestPath maps a request path to the file it names, relative to the
// release root, and the content version it carries ("" when unversioned);
// ok is false when the path must not be served (see cleanPath).
func requestPath(p string) (rel, version string, ok bool) {
	version, p, _ = splitVersion(p)
	rel, ok = cleanPath(p)
	if !ok {
		return "", "", false
	}
	return rel, version, true
}

// parseVersion reads the content of deployed_version.txt: digits, possibly
// with surrounding white space; anything else is no version.
func parseVersion(b []byte) string {
	v := strings.TrimSpace(string(b))
	if v == "" || len(v) > maxVersionLen {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return ""
		}
	}
	return v
}

// hashedName matches the names the builder gives content-hashed assets,
// name.[8 hex].ext (a sidecar suffix, if any, is stripped before matching).
// Such a name changes exactly when its bytes change, which is what makes
// "immutable" safe to send (RFC 8246).
var hashedName = regexp.MustCompile(`\.[0-9a-f]{8}\.[A-Za-z0-9]+$`)

// isHashed reports whether the file at rel carries a content hash in its
// name. Only the last segment counts.
func isHashed(rel string) bool {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	return hashedName.MatchString(base)
}

// validReleaseID reports whether id can name a release directory: the ids
// publish makes (20060102T150405Z-1a2b3c4d) and anything similarly tame,
// never a path.
func validReleaseID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
