package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FileEntry is one file of build.json's list, with its path.
type FileEntry struct {
	Path string
	File File
}

// ReadBuildList reads build.json from an output directory with its files
// as a list, in the order the file has them (sorted, as written), not a
// map: a build of millions of files is read without a map of its paths.
// build.json as BuildHead, AppendFile and BuildTail make it is scanned
// directly, far faster than encoding/json; any other layout of valid JSON
// is decoded by encoding/json, its files in sorted order.
func ReadBuildList(dir string) (*Build, []FileEntry, error) {
	name := filepath.Join(dir, BuildFile)
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	if b, files, ok := scanBuild(data); ok {
		return b, files, nil
	}
	var b Build
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	files := make([]FileEntry, 0, len(b.Files))
	for p, f := range b.Files {
		files = append(files, FileEntry{p, f})
	}
	slices.SortFunc(files, func(x, y FileEntry) int { return strings.Compare(x.Path, y.Path) })
	b.Files = nil
	return &b, files, nil
}

// The layout BuildHead, AppendFile and BuildTail give the list.
var (
	filesStart = []byte(",\n  \"files\": {")
	entryStart = []byte("\n    ")
	entryHead  = []byte(": {\n      \"sha256\": ")
	entrySize  = []byte(",\n      \"size\": ")
	entryEnd   = []byte("\n    }")
	noFiles    = []byte("}\n}\n")
	listEnd    = []byte("\n  }\n}\n")
)

// scanBuild reads build.json in that layout; ok is false for
// anything else.
func scanBuild(data []byte) (_ *Build, _ []FileEntry, ok bool) {
	at := bytes.LastIndex(data, filesStart)
	if at < 0 {
		return nil, nil, false
	}
	// The fields before the list, closed: an object with at least one of
	// them (else the comma before "files" would be the JSON's fault).
	head := data[:at]
	if h := bytes.TrimRight(head, " \t\r\n"); len(h) == 0 || h[len(h)-1] == '{' {
		return nil, nil, false
	}
	var b Build
	if err := json.Unmarshal(append(bytes.Clone(head), '}'), &b); err != nil || b.Files != nil {
		return nil, nil, false
	}
	rest := data[at+len(filesStart):]
	if bytes.Equal(rest, noFiles) {
		return &b, nil, true
	}
	files := make([]FileEntry, 0, len(rest)/128+1) // (an entry takes about that)
	for {
		if !bytes.HasPrefix(rest, entryStart) {
			return nil, nil, false
		}
		var e FileEntry
		if e.Path, rest, ok = scanString(rest[len(entryStart):]); !ok || !bytes.HasPrefix(rest, entryHead) {
			return nil, nil, false
		}
		if e.File.SHA256, rest, ok = scanString(rest[len(entryHead):]); !ok || !bytes.HasPrefix(rest, entrySize) {
			return nil, nil, false
		}
		rest = rest[len(entrySize):]
		n := 0
		if len(rest) > 0 && rest[0] == '-' {
			n++
		}
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		digits := bytes.TrimPrefix(rest[:n], []byte("-"))
		if len(digits) > 1 && digits[0] == '0' {
			return nil, nil, false // not a JSON number
		}
		size, err := strconv.ParseInt(string(rest[:n]), 10, 64)
		if err != nil || !bytes.HasPrefix(rest[n:], entryEnd) {
			return nil, nil, false
		}
		e.File.Size = size
		files = append(files, e)
		rest = rest[n+len(entryEnd):]
		if bytes.Equal(rest, listEnd) {
			return &b, files, true
		}
		if len(rest) == 0 || rest[0] != ',' {
			return nil, nil, false
		}
		rest = rest[1:]
	}
}

// scanString reads the JSON string data starts with: copied when it is
// plain ASCII without escapes, decoded by encoding/json otherwise (so
// that it reads the same as encoding/json would, invalid UTF-8 included).
func scanString(data []byte) (string, []byte, bool) {
	if len(data) == 0 || data[0] != '"' {
		return "", nil, false
	}
	plain := true
	for i := 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			if plain {
				return string(data[1:i]), data[i+1:], true
			}
			var s string
			if json.Unmarshal(data[:i+1], &s) != nil {
				return "", nil, false
			}
			return s, data[i+1:], true
		case c == '\\':
			plain = false
			i++ // the escaped byte
		case c < 0x20:
			return "", nil, false
		case c >= 0x80:
			plain = false
		}
	}
	return "", nil, false
}
