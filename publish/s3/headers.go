package s3

import (
	"path"
	"strings"

	"github.com/scdtool/scd/manifest"
)

// sidecars maps a precompressed sidecar's extension to its Content-Encoding,
// and a manifest "encodings" value to the extension (see manifest.Asset).
var (
	sidecarEncoding = map[string]string{".gz": "gzip", ".br": "br", ".zst": "zstd"}
	encodingExt     = map[string]string{"gzip": ".gz", "br": ".br", "zstd": ".zst"}
)

// headersFor returns Content-Type and Content-Encoding for a published
// path. A sidecar (x.css.br) is the original's type, br-encoded, so a
// server that picks it by Accept-Encoding serves the right type.
func headersFor(p string) (contentType, encoding string) {
	ext := strings.ToLower(path.Ext(p))
	if enc, ok := sidecarEncoding[ext]; ok {
		base := strings.TrimSuffix(p, path.Ext(p))
		if path.Ext(base) != "" {
			ct, _ := headersFor(base)
			return ct, enc
		}
	}
	return manifest.ContentType(p), ""
}
