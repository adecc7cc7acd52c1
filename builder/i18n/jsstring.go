package i18n

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// unquoteJS decodes a JS string literal ('…' or "…") or a template literal
// without substitutions (`…`), quotes included, into its value.
//
// exact is false when the value cannot be represented as a Go (UTF-8)
// string or the literal is malformed: a lone surrogate (\uD800), invalid
// UTF-8 in the source, a bad escape. The returned value then has U+FFFD in
// place of what could not be decoded, and callers must not re-encode it in
// place of the original literal, which would change the program.
func unquoteJS(raw []byte) (value string, exact bool) {
	if len(raw) < 2 {
		return "", false
	}
	q := raw[0]
	if (q != '\'' && q != '"' && q != '`') || raw[len(raw)-1] != q {
		return "", false
	}
	template := q == '`'
	body := raw[1 : len(raw)-1]
	if strings.IndexByte(string(body), '\\') < 0 && !template && utf8.Valid(body) {
		return string(body), true // the common case: nothing to decode
	}
	var b strings.Builder
	b.Grow(len(body))
	exact = true
	for i := 0; i < len(body); {
		c := body[i]
		if c == '\r' && template {
			// Template literals normalise CR and CRLF to LF.
			b.WriteByte('\n')
			i++
			if i < len(body) && body[i] == '\n' {
				i++
			}
			continue
		}
		if c != '\\' {
			if c < utf8.RuneSelf {
				b.WriteByte(c)
				i++
				continue
			}
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				exact = false
			}
			b.WriteRune(r)
			i += n
			continue
		}
		// An escape sequence.
		i++
		if i >= len(body) {
			return b.String(), false
		}
		c = body[i]
		switch c {
		case '\n':
			i++ // line continuation
		case '\r':
			i++
			if i < len(body) && body[i] == '\n' {
				i++
			}
		case 'b':
			b.WriteByte('\b')
			i++
		case 'f':
			b.WriteByte('\f')
			i++
		case 'n':
			b.WriteByte('\n')
			i++
		case 'r':
			b.WriteByte('\r')
			i++
		case 't':
			b.WriteByte('\t')
			i++
		case 'v':
			b.WriteByte('\v')
			i++
		case '0', '1', '2', '3', '4', '5', '6', '7':
			// \0 not followed by a digit is NUL everywhere; other octal
			// escapes are legacy (sloppy-mode strings only).
			v, n := int(c-'0'), 1
			maxDigits := 2
			if c <= '3' {
				maxDigits = 3
			}
			for n < maxDigits && i+n < len(body) && body[i+n] >= '0' && body[i+n] <= '7' {
				v = v*8 + int(body[i+n]-'0')
				n++
			}
			nul := c == '0' && n == 1 && (i+1 >= len(body) || body[i+1] < '0' || body[i+1] > '9')
			if template && !nul {
				exact = false // template literals have no octal escapes
			}
			b.WriteRune(rune(v))
			i += n
		case '8', '9':
			if template {
				exact = false
			}
			b.WriteByte(c)
			i++
		case 'x':
			if i+2 < len(body) && isHex(body[i+1]) && isHex(body[i+2]) {
				b.WriteRune(rune(hexVal(body[i+1])<<4 | hexVal(body[i+2])))
				i += 3
			} else {
				exact = false
				b.WriteRune(utf8.RuneError)
				i++
			}
		case 'u':
			r, n, ok := decodeUnicodeEscape(body[i-1:])
			if !ok {
				exact = false
				b.WriteRune(utf8.RuneError)
				i++
				continue
			}
			i += n - 1
			if utf16.IsSurrogate(r) {
				if r < 0xDC00 { // a high surrogate: look for its low half
					if r2, n2, ok2 := decodeUnicodeEscape(body[i:]); ok2 && r2 >= 0xDC00 && r2 <= 0xDFFF {
						b.WriteRune(utf16.DecodeRune(r, r2))
						i += n2
						continue
					}
				}
				exact = false
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			// An identity escape (\' \" \\ \` \$ …), or \u2028/\u2029 as a
			// line continuation.
			r, n := utf8.DecodeRune(body[i:])
			i += n
			if r == '\u2028' || r == '\u2029' {
				continue
			}
			if r == utf8.RuneError && n <= 1 {
				exact = false
			}
			b.WriteRune(r)
		}
	}
	return b.String(), exact
}

// decodeUnicodeEscape decodes \uHHHH or \u{H…} at the start of s and returns
// the code point (possibly a surrogate half) and the length of the escape.
func decodeUnicodeEscape(s []byte) (rune, int, bool) {
	if len(s) < 3 || s[0] != '\\' || s[1] != 'u' {
		return 0, 0, false
	}
	if s[2] == '{' {
		var v rune
		i := 3
		for ; i < len(s) && isHex(s[i]); i++ {
			v = v<<4 | rune(hexVal(s[i]))
			if v > utf8.MaxRune {
				return 0, 0, false
			}
		}
		if i == 3 || i >= len(s) || s[i] != '}' {
			return 0, 0, false
		}
		return v, i + 1, true
	}
	if len(s) < 6 {
		return 0, 0, false
	}
	var v rune
	for _, c := range s[2:6] {
		if !isHex(c) {
			return 0, 0, false
		}
		v = v<<4 | rune(hexVal(c))
	}
	return v, 6, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

const hexDigits = "0123456789abcdef"

// appendQuotedJS appends s as a double-quoted JS string literal that is valid
// anywhere JS can appear: in a file, in an inline <script> and in JSON-like
// contexts. Besides the quote and the backslash it escapes control
// characters, U+2028/U+2029 (line terminators in JS before ES2019), "</script"
// (which would end an inline script) and "<!--" (which switches an inline
// script's parsing mode). Invalid UTF-8 becomes U+FFFD.
func appendQuotedJS(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != 0x7f {
			i++
			continue
		}
		var esc string
		n := 1
		switch c {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		case '\b':
			esc = `\b`
		case '\f':
			esc = `\f`
		case '\v':
			esc = `\v`
		case '<':
			switch {
			case i+8 <= len(s) && s[i+1] == '/' && strings.EqualFold(s[i+2:i+8], "script"):
				esc = `<\/`
				n = 2
			case strings.HasPrefix(s[i:], "<!--"):
				esc = `\x3C!--`
				n = 4
			default:
				i++
				continue
			}
		default:
			if c < 0x20 || c == 0x7f {
				esc = `\x` + string([]byte{hexDigits[c>>4], hexDigits[c&0xf]})
				break
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size <= 1:
				esc = "\uFFFD"
			case r == '\u2028':
				esc, n = `\u2028`, size
			case r == '\u2029':
				esc, n = `\u2029`, size
			default:
				i += size
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		i += n
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
