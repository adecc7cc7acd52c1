package builder

import (
	"path"
	"strings"
)

// kind is how a published file is processed.
type kind int

const (
	kindOther kind = iota // copied
	kindJS
	kindCSS
	kindHTML
	kindSVG
	kindJSON
	kindXML
	kindImage // copied
	kindFont  // copied
)

var kindByExt = map[string]kind{
	".js": kindJS, ".mjs": kindJS, ".cjs": kindJS,
	".css":  kindCSS,
	".html": kindHTML, ".htm": kindHTML,
	".svg":  kindSVG,
	".json": kindJSON, ".webmanifest": kindJSON,
	".xml": kindXML,
	".png": kindImage, ".jpg": kindImage, ".jpeg": kindImage, ".gif": kindImage,
	".webp": kindImage, ".avif": kindImage, ".ico": kindImage, ".bmp": kindImage,
	".woff": kindFont, ".woff2": kindFont, ".ttf": kindFont, ".otf": kindFont, ".eot": kindFont,
}

func kindOf(logical string) kind {
	return kindByExt[strings.ToLower(path.Ext(logical))]
}

// mediaType is the minifier's media type for a kind, or "" when the file is
// copied as is.
func (k kind) mediaType() string {
	switch k {
	case kindJS:
		return "application/javascript"
	case kindCSS:
		return "text/css"
	case kindHTML:
		return "text/html"
	case kindSVG:
		return "image/svg+xml"
	case kindJSON:
		return "application/json"
	case kindXML:
		return "text/xml"
	}
	return ""
}

// Skip turns off kinds of files, as Magento's --no-* options do.
type Skip struct {
	JS, CSS, HTML, Images, Fonts bool
	// HTMLMinify false keeps HTML as written (--no-html-minify).
	NoHTMLMinify bool
}

func (s Skip) skips(k kind) bool {
	switch k {
	case kindJS:
		return s.JS
	case kindCSS:
		return s.CSS
	case kindHTML:
		return s.HTML
	case kindImage, kindSVG:
		return s.Images
	case kindFont:
		return s.Fonts
	}
	return false
}

// hashedName inserts the content hash before the extension:
// js/app.js → js/app.3fa9c2d1.js. A name without extension gets the hash
// appended.
func hashedName(logical, hash string) string {
	dir, file := path.Split(logical)
	ext := path.Ext(file)
	if ext == "" || ext == file {
		return dir + file + "." + hash
	}
	return dir + strings.TrimSuffix(file, ext) + "." + hash + ext
}

// keepsName reports whether a published file keeps its logical name: HTML
// is looked up by name at run time, so only its references are hashed.
func keepsName(k kind) bool { return k == kindHTML }

// isBundleable reports whether esbuild can take the file as an entry.
func isBundleable(logical string) bool {
	switch strings.ToLower(path.Ext(logical)) {
	case ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".mts", ".css":
		return true
	}
	return false
}

// styleName is the stylesheet a LESS root compiles to.
func styleName(root string) string { return strings.TrimSuffix(root, ".less") + ".css" }
