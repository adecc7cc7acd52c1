// Package manifest describes a finished build: build.json at the root of the
// output and manifest.json in every job directory. The builder writes these
// files; publish, hooks and serve read them and never see the builder itself.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BuildFile is the name of the build description at the root of an output.
const BuildFile = "build.json"

// ManifestFile is the name of the per-job manifest.
const ManifestFile = "manifest.json"

// VersionFile is, at the root of an output with logical names, the
// static content version as Magento writes it: the N of its
// /static/version<N>/ URLs.
const VersionFile = "deployed_version.txt"

// SRIFile is, in each area directory of an output with logical names
// (<area>/sri-hashes.json), the Subresource Integrity hashes of the area's
// JavaScript files as Magento_Csp 2.4.8 reads them: one JSON object from
// the file's path relative to the output root to "sha256-<base64>".
const SRIFile = "sri-hashes.json"

// TranslationFile is the Magento-compatible per-job phrase dictionary.
const TranslationFile = "js-translation.json"

// Build is build.json.
type Build struct {
	// ID identifies the build by its content: the same inputs and
	// configuration give the same ID.
	ID string `json:"id"`
	// ConfigDigest is the digest of the effective configuration.
	ConfigDigest string `json:"config_digest"`
	// Version of scd that wrote the build.
	Version string `json:"scd_version"`
	// ContentVersion is the static content version (Magento's
	// deployed_version.txt), derived from ID unless set by --content-version.
	ContentVersion string `json:"content_version"`
	Jobs           []Job  `json:"jobs"`
	// Files maps every file of the output except build.json, by its
	// slash-separated path relative to the output root, to its digest.
	Files map[string]File `json:"files"`
}

// Job is one (theme, locale) job of a build.
type Job struct {
	Area   string `json:"area"`
	Theme  string `json:"theme"`
	Locale string `json:"locale"`
	// Dir is the job directory relative to the output root:
	// <area>/<Vendor>/<name>/<locale>.
	Dir   string `json:"dir"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	// Missing counts phrases used by the job that have no translation.
	Missing int `json:"missing_translations"`
}

// File is the digest and size of one output file.
type File struct {
	SHA256 string `json:"sha256"` // lowercase hex
	Size   int64  `json:"size"`
}

// Manifest is a job's manifest.json: logical path → published asset.
type Manifest map[string]Asset

// Asset is one logical file of a job.
type Asset struct {
	// File is the published name relative to the job directory
	// (content-hashed for assets, the logical name for HTML).
	File string `json:"file"`
	// Integrity is a Subresource Integrity value (sha256-…).
	Integrity string `json:"integrity"`
	Size      int64  `json:"size"`
	// Encodings lists the precompressed sidecars that exist next to File
	// (File + ".gz", ".br", ".zst"), in that order.
	Encodings []string `json:"encodings,omitempty"`
}

// ReadBuild reads build.json from an output directory.
func ReadBuild(dir string) (*Build, error) {
	data, err := os.ReadFile(filepath.Join(dir, BuildFile))
	if err != nil {
		return nil, err
	}
	var b Build
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, BuildFile), err)
	}
	return &b, nil
}

// ReadManifest reads the manifest of a job directory.
func ReadManifest(jobDir string) (Manifest, error) {
	data, err := os.ReadFile(filepath.Join(jobDir, ManifestFile))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(jobDir, ManifestFile), err)
	}
	return m, nil
}

// Marshal encodes v as indented JSON with a trailing newline. Map keys are
// sorted by encoding/json, so the bytes are deterministic. Characters such
// as & and < are kept as they are: these files are data, never inlined in
// HTML.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MarshalManifest encodes m as Marshal does (the tests hold them to the
// same bytes), several times faster: a build writes one per job.
func MarshalManifest(m Manifest) []byte {
	es := make([]Entry, 0, len(m))
	for k, a := range m {
		es = append(es, Entry{Logical: k, Asset: a})
	}
	slices.SortFunc(es, func(x, y Entry) int { return strings.Compare(x.Logical, y.Logical) })
	return MarshalEntries(es)
}

// Entry is an asset of a manifest under its logical path.
type Entry struct {
	Logical string
	Asset
}

// MarshalEntries encodes the manifest of es, which must be sorted by
// logical path with no path twice (a builder holds its outputs so), as
// MarshalManifest encodes the map of them, without the map and the sort.
func MarshalEntries(es []Entry) []byte {
	if len(es) == 0 {
		return []byte("{}\n")
	}
	// An entry's fixed parts take at most 90 bytes and its size 20, an
	// encoding 10 more than its name; escapes, if any, grow the buffer.
	size := 4
	for _, e := range es {
		size += 110 + len(e.Logical) + len(e.File) + len(e.Integrity)
		for _, enc := range e.Encodings {
			size += 10 + len(enc)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, e := range es {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, "\n  "...)
		out = appendJSONString(out, e.Logical)
		out = append(out, ": {\n    \"file\": "...)
		out = appendJSONString(out, e.File)
		out = append(out, ",\n    \"integrity\": "...)
		out = appendJSONString(out, e.Integrity)
		out = append(out, ",\n    \"size\": "...)
		out = strconv.AppendInt(out, e.Size, 10)
		if len(e.Encodings) > 0 {
			out = append(out, ",\n    \"encodings\": ["...)
			for j, enc := range e.Encodings {
				if j > 0 {
					out = append(out, ',')
				}
				out = append(out, "\n      "...)
				out = appendJSONString(out, enc)
			}
			out = append(out, "\n    ]"...)
		}
		out = append(out, "\n  }"...)
	}
	return append(out, "\n}\n"...)
}

// BuildHead is build.json up to the opening of its "files" object: the
// fields of b but Files, as Marshal writes them. The file is the head,
// the entries of AppendFile separated by commas, and BuildTail.
func BuildHead(b *Build) ([]byte, error) {
	head := *b
	head.Files = nil
	data, err := Marshal(struct {
		Build
		Files *struct{} `json:"files,omitempty"`
	}{Build: head})
	if err != nil {
		return nil, err
	}
	// Reopen the object to append "files" after the other fields.
	data = bytes.TrimRight(data, "\n")
	data = bytes.TrimSuffix(data, []byte("}"))
	data = bytes.TrimRight(data, " \n")
	return append(data, ",\n  \"files\": {"...), nil
}

// AppendFile appends the entry of build.json's "files" object for the
// file at path, without the comma that separates it from the one before.
func AppendFile[S string | []byte](dst []byte, path S, f File) []byte {
	dst = append(dst, "\n    "...)
	dst = appendJSONString(dst, path)
	dst = append(dst, ": {\n      \"sha256\": "...)
	dst = appendJSONString(dst, f.SHA256)
	dst = append(dst, ",\n      \"size\": "...)
	dst = strconv.AppendInt(dst, f.Size, 10)
	return append(dst, "\n    }"...)
}

// BuildTail closes build.json after its entries, if it has any.
func BuildTail(entries bool) string {
	if entries {
		return "\n  }\n}\n"
	}
	return "}\n}\n"
}

// appendJSONString appends s as a JSON string as Marshal writes it (no
// escaping of <, > and &). Plain printable ASCII, what paths and digests
// are made of, is copied; anything else goes through encoding/json.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(string(s))
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
