package builder

import (
	"bytes"
	"regexp"
	"strings"
)

// The HTML minifier writes every start tag with ">", but Knockout templates
// rely on self-closing custom elements (<text args="name"/>, <each …/>).
// Before minifying, such a tag becomes <x … data-scd-sc></x>, which the
// minifier keeps; afterwards it is turned back into <x …/>.

const selfCloseMark = "data-scd-sc"

var selfCloseRestore = regexp.MustCompile(`\s?` + selfCloseMark + `(?:="")?></[^>\s]+>`)

// voidElements close themselves in HTML: "/>" on them means nothing.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "param": true, "source": true, "track": true, "wbr": true,
}

// rawTextElements hold text that is not markup; foreign elements (svg,
// math) are minified as XML, where "/>" is kept.
var skipElements = map[string]string{
	"script": "</script", "style": "</style", "textarea": "</textarea", "svg": "</svg", "math": "</math",
}

// markSelfClosing rewrites self-closing non-void start tags for the
// minifier. It reports whether it changed anything.
func markSelfClosing(src []byte) ([]byte, bool) {
	if !bytes.Contains(src, []byte("/>")) {
		return src, false
	}
	var out bytes.Buffer
	changed := false
	last := 0
	for i := 0; i < len(src); i++ {
		if src[i] != '<' {
			continue
		}
		if bytes.HasPrefix(src[i:], []byte("<!--")) {
			end := bytes.Index(src[i+4:], []byte("-->"))
			if end < 0 {
				break
			}
			i += 4 + end + 2
			continue
		}
		j := i + 1
		for j < len(src) && (isNameByte(src[j])) {
			j++
		}
		if j == i+1 || !isLetter(src[i+1]) {
			continue
		}
		name := strings.ToLower(string(src[i+1 : j]))
		end := tagEnd(src, j)
		if end < 0 {
			break
		}
		if close, ok := skipElements[name]; ok && src[end-1] != '/' {
			k := bytes.Index(bytes.ToLower(src[end:]), []byte(close))
			if k < 0 {
				break
			}
			i = end + k
			continue
		}
		if src[end-1] == '/' && !voidElements[name] {
			out.Write(src[last : end-1])
			out.WriteString(" " + selfCloseMark + "></" + string(src[i+1:j]) + ">")
			last = end + 1
			changed = true
		}
		i = end
	}
	if !changed {
		return src, false
	}
	out.Write(src[last:])
	return out.Bytes(), true
}

// restoreSelfClosing undoes markSelfClosing on the minified output.
func restoreSelfClosing(min []byte) []byte {
	return selfCloseRestore.ReplaceAll(min, []byte("/>"))
}

// tagEnd returns the index of the ">" that ends the start tag whose
// attributes begin at i, skipping quoted values and {{…}} helpers.
func tagEnd(src []byte, i int) int {
	var quote byte
	for ; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{' && i+1 < len(src) && src[i+1] == '{':
			k := bytes.Index(src[i:], []byte("}}"))
			if k < 0 {
				return -1
			}
			i += k + 1
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isNameByte(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' || c == '.'
}
