package builder

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/scdtool/scd/manifest"
)

// Subresource Integrity for Magento (Magento_Csp, 2.4.7 and later).
//
// Magento's static content deploy hashes every JavaScript file it publishes
// and the storefront hands the hashes to the browser (window.sriHashes,
// keyed by URL), which refuses a script whose bytes do not match. Where
// the hashes are kept depends on the version:
//
//   - 2.4.7 keeps them in Magento's cache (key INTEGRITY_<area>), which a
//     build outside Magento cannot write; a cache flush loses them.
//   - 2.4.8 keeps them in pub/static: one file per area,
//     <area>/sri-hashes.json (Magento\Csp\Model\SubresourceIntegrity\
//     Storage\File, context = the area, the first segment of the path),
//     read back for the area being rendered and for "base".
//   - the 2.4-develop branch (for 2.4.9) moves them to one file per
//     package, <area>/<Vendor>/<theme>/<locale>/sri-hashes.json, and no
//     longer reads the area's; scd does not write those yet.
//
// scd writes 2.4.8's files, the only ones a static build can write. Each
// is a JSON object whose keys are the files' paths relative to pub/static
// (<area>/<Vendor>/<theme>/<locale>/<file>, without the version<N>/ of the
// URL, which Magento prefixes with the static base URL) and whose values
// are "sha256-" and the base64 of the raw SHA-256 of the published bytes
// (Magento\Csp\Model\SubresourceIntegrity\HashGenerator). Magento encodes
// it with its Json serializer, PHP's json_encode without flags: no spaces,
// "/" written "\/", non-ASCII as \uXXXX; sriJSON writes the same bytes.
// Magento's keys are in deploy order and scd's are sorted, so that the
// same tree gives the same file. An area without JavaScript has no file,
// as Magento writes none for it.
//
// Every file of the tree ending in ".js" is hashed (Magento's post-
// processor takes the files whose extension is "js"), with the bytes the
// build publishes for it: each locale's own translated bytes, bundles and
// requirejs-config.js included. (Some 2.4.7/2.4.8 releases hashed a
// file's source instead of its deployed bytes, and blocked minified or
// translated scripts; the browser checks the published bytes.)

// sriEntry is one hashed file: its path in the tree and hex sha256.
type sriEntry struct {
	path, sum string
}

// sriFiles makes the integrity file of each area from the tree's files
// (paths relative to the tree, hex sha256), in area order.
func sriFiles(files iter.Seq2[[]byte, manifest.File]) ([]topFile, error) {
	byArea := map[string][]sriEntry{}
	for p, f := range files {
		area, rest, ok := bytes.Cut(p, []byte("/"))
		if !ok || len(area) == 0 || len(rest) == 0 || !bytes.HasSuffix(p, []byte(".js")) {
			continue
		}
		path := string(p)
		byArea[path[:len(area)]] = append(byArea[path[:len(area)]], sriEntry{path, f.SHA256})
	}
	areas := make([]string, 0, len(byArea))
	for a := range byArea {
		areas = append(areas, a)
	}
	slices.Sort(areas)
	out := make([]topFile, 0, len(areas)+1)
	for _, a := range areas {
		data, err := sriJSON(byArea[a])
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", a, manifest.SRIFile, err)
		}
		out = append(out, topFile{rel: a + "/" + manifest.SRIFile, data: data})
	}
	return out, nil
}

// sriJSON encodes entries as Magento stores them: {"path":"sha256-…",…},
// sorted by path.
func sriJSON(entries []sriEntry) ([]byte, error) {
	cmpPath := func(x, y sriEntry) int { return strings.Compare(x.path, y.path) }
	if !slices.IsSortedFunc(entries, cmpPath) {
		entries = slices.Clone(entries)
		slices.SortFunc(entries, cmpPath)
	}
	size := 2
	for _, e := range entries {
		size += len(e.path) + len(e.path)/8 + 64
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	var raw [32]byte
	for i, e := range entries {
		if i > 0 && entries[i-1].path == e.path {
			return nil, fmt.Errorf("%s listed twice", e.path)
		}
		if len(e.sum) != 2*len(raw) {
			return nil, fmt.Errorf("%s: bad sha256 %q", e.path, e.sum)
		}
		if _, err := hex.AppendDecode(raw[:0], []byte(e.sum)); err != nil {
			return nil, fmt.Errorf("%s: bad sha256 %q", e.path, e.sum)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = appendPHPJSONString(out, e.path)
		out = append(out, ':')
		out = appendSRIValue(out, raw)
	}
	return append(out, '}'), nil
}

// appendSRIValue appends the integrity value of a content of sha256 sum
// ("sha256-" and its base64) as appendPHPJSONString would, without making
// a string of it: of base64's characters, only '/' is escaped.
func appendSRIValue(dst []byte, sum [32]byte) []byte {
	var b64 [44]byte
	base64.StdEncoding.Encode(b64[:], sum[:])
	dst = append(dst, `"sha256-`...)
	for _, c := range b64 {
		if c == '/' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// appendPHPJSONString appends s as PHP's json_encode writes a string with
// no flags: '"', '\\' and '/' escaped, control characters as \b, \f, \n,
// \r, \t or \u00xx, everything past ASCII as \uxxxx (UTF-16, lowercase
// hex). PHP refuses invalid UTF-8; it is written as \ufffd here (paths of
// a tree are not expected to hold any).
func appendPHPJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	u := func(dst []byte, r rune) []byte {
		return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\', '/':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				if c < 0x20 {
					dst = u(dst, rune(c))
				} else {
					dst = append(dst, c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r > 0xffff {
			r -= 0x10000
			dst = u(dst, 0xd800+(r>>10))
			dst = u(dst, 0xdc00+(r&0x3ff))
			continue
		}
		dst = u(dst, r) // utf8.RuneError for invalid bytes: \ufffd
	}
	return append(dst, '"')
}
