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
