package manifest

import (
	"mime"
	"path"
	"strings"
)

// webTypes are the media types of what a theme publishes. They are fixed
// here rather than taken from the host's /etc/mime.types, so that every
// machine — the server answering and the publisher setting object
// headers — gives the same type (Debian's file maps .js to
// application/javascript, others lack .woff2 or .mjs).
var webTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".htm":   "text/html; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".csv":   "text/csv; charset=utf-8",
	".xml":   "application/xml",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".ico":   "image/vnd.microsoft.icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".eot":   "application/vnd.ms-fontobject",
	".wasm":  "application/wasm",
	".pdf":   "application/pdf",
	".gz":    "application/gzip",
	".br":    "application/octet-stream",
	".zst":   "application/zstd",
}

// ContentType is the media type of a published file, by its extension.
// Unknown types are application/octet-stream, never sniffed: sniffing
// would read the file and could differ between its encoded variants.
func ContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := webTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
