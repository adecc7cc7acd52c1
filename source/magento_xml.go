package source

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// This file reads theme.xml and language.xml, checking what Magento's
// schemas (Config/etc/theme.xsd, App/Language/package.xsd) require of the
// parts scd uses. Errors carry the byte offset of the offending element or
// value (an *xmlError).

// xmlError is an error at a byte offset of an XML file.
type xmlError struct {
	off int
	msg string
}

func (e *xmlError) Error() string { return e.msg }

// xmlElem is an element read by readXML: its name, attributes, text and
// children, with offsets of its start tag and of its text.
type xmlElem struct {
	name     string
	attrs    []xml.Attr
	text     string // the concatenated character data, trimmed
	off      int    // offset of '<'
	textOff  int    // offset of the first non-space byte of the text
	children []*xmlElem
}

func (e *xmlElem) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// readXML parses a whole small XML document into a tree.
func readXML(src []byte) (*xmlElem, error) {
	bom := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		bom = 3
	}
	d := xml.NewDecoder(bytes.NewReader(src[bom:]))
	// Any declared charset is read as is: these files are ASCII in practice.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var root *xmlElem
	var stack []*xmlElem
	for {
		off := int(d.InputOffset()) + bom
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			msg := err.Error()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				msg = se.Msg
			}
			// A misnested end tag is shown at its start; anything else at
			// the byte the decoder stopped on.
			at := off
			if !strings.HasPrefix(msg, "element <") && !strings.HasPrefix(msg, "unexpected end element") {
				at = max(off, int(d.InputOffset())+bom-1)
			}
			return nil, &xmlError{at, "invalid XML: " + msg}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > 64 {
				return nil, &xmlError{off, "elements nested too deeply"}
			}
			e := &xmlElem{name: t.Name.Local, attrs: t.Attr, off: off}
			if len(stack) == 0 {
				if root != nil {
					return nil, &xmlError{off, "invalid XML: more than one root element"}
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			e := stack[len(stack)-1]
			trimmed := strings.TrimLeft(e.text, " \t\r\n")
			e.textOff += len(e.text) - len(trimmed)
			e.text = strings.TrimSpace(e.text)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				e := stack[len(stack)-1]
				if e.text == "" {
					e.textOff = off
				}
				e.text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, &xmlError{off, "invalid XML: text outside the root element"}
			}
		}
	}
	if root == nil {
		return nil, &xmlError{0, "invalid XML: no root element"}
	}
	return root, nil
}

// themeXML is what scd needs of a theme.xml.
type themeXML struct {
	Title     string
	Parent    string // as written: "Vendor/theme" or "theme"; "" for none
	ParentOff int
}

var themeParentRe = regexp.MustCompile(`^([^/]+/)?[^/]+$`)

// parseThemeXML reads a theme.xml: a <theme> root with a non-blank
// <title> and an optional <parent>.
func parseThemeXML(src []byte) (themeXML, error) {
	var tx themeXML
	root, err := readXML(src)
	if err != nil {
		return tx, err
	}
	if root.name != "theme" {
		return tx, &xmlError{root.off, fmt.Sprintf("the root element is <%s>, expected <theme>", root.name)}
	}
	var title, parent *xmlElem
	for _, c := range root.children {
		switch c.name {
		case "title":
			if title != nil {
				return tx, &xmlError{c.off, "<title> is given twice"}
			}
			title = c
		case "parent":
			if parent != nil {
				return tx, &xmlError{c.off, "<parent> is given twice"}
			}
			parent = c
		case "media":
		default:
			return tx, &xmlError{c.off, fmt.Sprintf("unexpected element <%s> in <theme> (expected <title>, <parent>, <media>)", c.name)}
		}
	}
	if title == nil || title.text == "" {
		off := root.off
		if title != nil {
			off = title.off
		}
		return tx, &xmlError{off, "a theme needs a non-empty <title>"}
	}
	tx.Title = title.text
	if parent != nil {
		if !themeParentRe.MatchString(parent.text) {
			off := parent.textOff
			if parent.text == "" {
				off = parent.off
			}
			return tx, &xmlError{off, fmt.Sprintf("<parent>%s</parent> is not a theme name (Vendor/theme)", parent.text)}
		}
		tx.Parent, tx.ParentOff = parent.text, parent.textOff
	}
	return tx, nil
}

// languageXML is a language pack's language.xml.
type languageXML struct {
	Code, Vendor, Package string
	SortOrder             int
	Uses                  []packUse
}

// packUse is one <use vendor="…" package="…"/>.
type packUse struct {
	Vendor, Package string
	Off             int
}

var (
	langCodeRe   = regexp.MustCompile(`^[a-z]{2}_([a-zA-Z]{4}_)?[A-Z]{2}$`)
	langVendorRe = regexp.MustCompile(`^[a-zA-Z\-_]+$`)
)

// parseLanguageXML reads a language.xml: <language> with <code>,
// <vendor>, <package>, optional integer <sort_order> and any number of
// <use vendor package>, validated as package.xsd does.
func parseLanguageXML(src []byte) (languageXML, error) {
	var lx languageXML
	root, err := readXML(src)
	if err != nil {
		return lx, err
	}
	if root.name != "language" {
		return lx, &xmlError{root.off, fmt.Sprintf("the root element is <%s>, expected <language>", root.name)}
	}
	seen := map[string]bool{}
	for _, c := range root.children {
		if c.name != "use" {
			if seen[c.name] {
				return lx, &xmlError{c.off, fmt.Sprintf("<%s> is given twice", c.name)}
			}
			seen[c.name] = true
		}
		valOff := c.textOff
		if c.text == "" {
			valOff = c.off
		}
		switch c.name {
		case "code":
			if !langCodeRe.MatchString(c.text) {
				return lx, &xmlError{valOff, fmt.Sprintf("<code>%s</code> is not a language code (ll_CC or ll_Scrp_CC)", c.text)}
			}
			lx.Code = c.text
		case "vendor", "package":
			if !langVendorRe.MatchString(c.text) {
				return lx, &xmlError{valOff, fmt.Sprintf("<%s>%s</%s> must be letters, '-' and '_'", c.name, c.text, c.name)}
			}
			if c.name == "vendor" {
				lx.Vendor = c.text
			} else {
				lx.Package = c.text
			}
		case "sort_order":
			n, err := strconv.Atoi(strings.TrimPrefix(c.text, "+"))
			if err != nil {
				return lx, &xmlError{valOff, fmt.Sprintf("<sort_order>%s</sort_order> is not an integer", c.text)}
			}
			lx.SortOrder = n
		case "use":
			v, okv := c.attr("vendor")
			p, okp := c.attr("package")
			if !okv || !okp {
				return lx, &xmlError{c.off, `<use> needs both vendor="…" and package="…"`}
			}
			if !langVendorRe.MatchString(v) || !langVendorRe.MatchString(p) {
				return lx, &xmlError{c.off, fmt.Sprintf(`<use vendor=%q package=%q/>: vendor and package must be letters, '-' and '_'`, v, p)}
			}
			for _, u := range lx.Uses {
				if u.Vendor == v && u.Package == p {
					return lx, &xmlError{c.off, fmt.Sprintf("<use vendor=%q package=%q/> is given twice", v, p)}
				}
			}
			lx.Uses = append(lx.Uses, packUse{Vendor: v, Package: p, Off: c.off})
		default:
			return lx, &xmlError{c.off, fmt.Sprintf("unexpected element <%s> in <language> (expected <code>, <vendor>, <package>, <sort_order>, <use>)", c.name)}
		}
	}
	for _, n := range []string{"code", "vendor", "package"} {
		if !seen[n] {
			return lx, &xmlError{root.off, fmt.Sprintf("<language> needs a <%s>", n)}
		}
	}
	return lx, nil
}
