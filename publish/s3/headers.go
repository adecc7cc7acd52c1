package s3

import (
	"mime"
	"path"
	"strings"
)

// sidecars maps a precompressed sidecar's extension to its Content-Encoding,
// and a manifest "encodings" value to the extension (see manifest.Asset).
var (
	sidecarEncoding = map[string]string{".gz": "gzip", ".br": "br", ".zst": "zstd"}
	encodingExt     = map[string]string{"gzip": ".gz", "br": ".br", "zstd": ".zst"}
)

// contentTypes is fixed rather than taken from the host's mime.types alone,
// so the same build gets the same headers from every machine.
var contentTypes = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".html":  "text/html; charset=utf-8",
	".htm":   "text/html; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".eot":   "application/vnd.ms-fontobject",
	".txt":   "text/plain; charset=utf-8",
	".xml":   "application/xml",
	".wasm":  "application/wasm",
}

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
	if ct, ok := contentTypes[ext]; ok {
		return ct, ""
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct, ""
	}
	return "application/octet-stream", ""
}
