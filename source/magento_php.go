package source

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// This file reads the two PHP files of a Magento tree that scd needs:
// registration.php (which component a directory is) and app/etc/config.php
// (which modules are enabled, in which order). Neither is run: a small
// lexer reads the literal forms Magento and its extension vendors write,
// and anything else is reported with its position.

type phpTokKind int

const (
	phpEOF    phpTokKind = iota
	phpIdent             // a name, possibly namespaced: \Magento\Framework\X, __DIR__, true
	phpString            // a quoted string; text holds its value
	phpNumber            // an integer or float literal
	phpVar               // $name
	phpPunct             // an operator or punctuation: ( ) [ ] , ; . :: => and any other byte
	phpClose             // ?>
)

type phpTok struct {
	kind phpTokKind
	text string
	off  int // byte offset of the token's first byte
}

type phpLexer struct {
	src []byte
	pos int
}

// phpSyntaxError is a lexical error at an offset of the file.
type phpSyntaxError struct {
	off int
	msg string
}

func (e *phpSyntaxError) Error() string { return e.msg }

// newPHPLexer starts after the first "<?php" (or "<?") open tag; text before
// it is inline HTML, which these files do not have. It fails when there is
// no open tag at all.
func newPHPLexer(src []byte) (*phpLexer, error) {
	s := string(src)
	i := strings.Index(s, "<?php")
	n := 5
	if i < 0 {
		i = strings.Index(s, "<?")
		n = 2
		if i < 0 {
			return nil, &phpSyntaxError{0, "not a PHP file: no <?php open tag"}
		}
	}
	return &phpLexer{src: src, pos: i + n}, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '\\' || c >= 0x80 || (c|0x20) >= 'a' && (c|0x20) <= 'z'
}

func isIdentByte(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// next returns the next token, skipping white space and comments.
func (l *phpLexer) next() (phpTok, error) {
	src := l.src
	for l.pos < len(src) {
		c := src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
			continue
		case c == '#' || c == '/' && l.pos+1 < len(src) && src[l.pos+1] == '/':
			// A line comment ends at the line's end or at ?>.
			for l.pos < len(src) && src[l.pos] != '\n' {
				if src[l.pos] == '?' && l.pos+1 < len(src) && src[l.pos+1] == '>' {
					break
				}
				l.pos++
			}
			continue
		case c == '/' && l.pos+1 < len(src) && src[l.pos+1] == '*':
			end := bytes.Index(src[l.pos+2:], []byte("*/"))
			if end < 0 {
				return phpTok{}, &phpSyntaxError{l.pos, "unterminated comment"}
			}
			l.pos += 2 + end + 2
			continue
		}
		break
	}
	start := l.pos
	if l.pos >= len(src) {
		return phpTok{kind: phpEOF, off: start}, nil
	}
	c := src[l.pos]
	switch {
	case c == '\'' || c == '"':
		return l.quoted(c)
	case c == '<' && bytes.HasPrefix(src[l.pos:], []byte("<<<")):
		return phpTok{}, &phpSyntaxError{start, "heredoc strings are not supported here"}
	case c == '$' && l.pos+1 < len(src) && isIdentStart(src[l.pos+1]) && src[l.pos+1] != '\\':
		l.pos++
		for l.pos < len(src) && isIdentByte(src[l.pos]) && src[l.pos] != '\\' {
			l.pos++
		}
		return phpTok{kind: phpVar, text: string(src[start:l.pos]), off: start}, nil
	case isIdentStart(c):
		for l.pos < len(src) && isIdentByte(src[l.pos]) {
			l.pos++
		}
		return phpTok{kind: phpIdent, text: string(src[start:l.pos]), off: start}, nil
	case c >= '0' && c <= '9' || c == '.' && l.pos+1 < len(src) && src[l.pos+1] >= '0' && src[l.pos+1] <= '9':
		for l.pos < len(src) {
			b := src[l.pos]
			if b >= '0' && b <= '9' || (b|0x20) >= 'a' && (b|0x20) <= 'z' || b == '_' || b == '.' {
				l.pos++
				continue
			}
			if (b == '+' || b == '-') && (src[l.pos-1]|0x20) == 'e' && !strings.HasPrefix(strings.ToLower(string(src[start:l.pos])), "0x") {
				l.pos++
				continue
			}
			break
		}
		return phpTok{kind: phpNumber, text: string(src[start:l.pos]), off: start}, nil
	}
	for _, op := range []string{"?>", "::", "=>", "==="} {
		if bytes.HasPrefix(src[l.pos:], []byte(op)) {
			l.pos += len(op)
			if op == "?>" {
				return phpTok{kind: phpClose, text: op, off: start}, nil
			}
			return phpTok{kind: phpPunct, text: op, off: start}, nil
		}
	}
	l.pos++
	return phpTok{kind: phpPunct, text: string(c), off: start}, nil
}

// quoted reads a single- or double-quoted string. Double-quoted strings
// get PHP's simple escapes; interpolation is not expanded (these files
// never use it, and a literal '$' is kept as written).
func (l *phpLexer) quoted(q byte) (phpTok, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == q {
			l.pos++
			return phpTok{kind: phpString, text: b.String(), off: start}, nil
		}
		if c == '\\' && l.pos+1 < len(l.src) {
			e := l.src[l.pos+1]
			if q == '\'' {
				if e == '\\' || e == '\'' {
					b.WriteByte(e)
					l.pos += 2
					continue
				}
			} else {
				if r, ok := map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', 'v': '\v', 'f': '\f', 'e': 0x1b, '\\': '\\', '"': '"', '$': '$'}[e]; ok {
					b.WriteByte(r)
					l.pos += 2
					continue
				}
			}
		}
		b.WriteByte(c)
		l.pos++
	}
	return phpTok{}, &phpSyntaxError{start, "unterminated string"}
}

// describe names a token in messages.
func (t phpTok) describe() string {
	switch t.kind {
	case phpEOF:
		return "end of file"
	case phpString:
		return strconv.Quote(t.text)
	default:
		return "'" + t.text + "'"
	}
}

// Component types of ComponentRegistrar, as their constant names.
const (
	compModule   = "MODULE"
	compTheme    = "THEME"
	compLanguage = "LANGUAGE"
	compLibrary  = "LIBRARY"
	compSetup    = "SETUP"
)

// registration is one ComponentRegistrar::register call of a
// registration.php.
type registration struct {
	Type string // compModule, compTheme, ...
	Name string // 'Vendor_Module', 'frontend/Vendor/theme', 'vendor_package'
	Dir  string // the component's directory: the path argument evaluated
	Off  int    // offset of the call, for messages
	// NameOff is the offset of the name argument.
	NameOff int
}

// parseRegistration reads the register calls of a registration.php whose
// directory is dir (the value of __DIR__). The path argument may be
// __DIR__, dirname(__DIR__), string literals and DIRECTORY_SEPARATOR,
// joined with '.'. A file with no register call, or with a call whose
// arguments are not of those forms, is an error located at the offending
// offset (a *phpSyntaxError).
func parseRegistration(src []byte, dir string) ([]registration, error) {
	l, err := newPHPLexer(src)
	if err != nil {
		return nil, err
	}
	var regs []registration
	var prev [2]phpTok // the two tokens before the current one
	for {
		t, err := l.next()
		if err != nil {
			return regs, err
		}
		if t.kind == phpEOF {
			break
		}
		if t.kind == phpIdent && strings.EqualFold(t.text, "register") &&
			prev[1].kind == phpPunct && prev[1].text == "::" &&
			prev[0].kind == phpIdent && isRegistrarClass(prev[0].text) {
			r, err := parseRegisterArgs(l, dir)
			if err != nil {
				return regs, err
			}
			r.Off = prev[0].off
			regs = append(regs, r)
			prev = [2]phpTok{}
			continue
		}
		prev[0], prev[1] = prev[1], t
	}
	if len(regs) == 0 {
		return nil, &phpSyntaxError{0, "registers nothing: no ComponentRegistrar::register(...) call"}
	}
	return regs, nil
}

// isRegistrarClass accepts ComponentRegistrar under any namespace
// spelling (imported, fully qualified).
func isRegistrarClass(name string) bool {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	return strings.EqualFold(name, "ComponentRegistrar")
}

var componentTypeValues = map[string]string{
	"module": compModule, "theme": compTheme, "language": compLanguage,
	"library": compLibrary, "setup": compSetup,
}

func parseRegisterArgs(l *phpLexer, dir string) (registration, error) {
	var r registration
	expect := func(text string) (phpTok, error) {
		t, err := l.next()
		if err != nil {
			return t, err
		}
		if t.kind != phpPunct || t.text != text {
			return t, &phpSyntaxError{t.off, fmt.Sprintf("expected '%s' in ComponentRegistrar::register(...), found %s", text, t.describe())}
		}
		return t, nil
	}
	if _, err := expect("("); err != nil {
		return r, err
	}
	// Type: ComponentRegistrar::MODULE (any spelling of the class) or the
	// constant's value as a string.
	t, err := l.next()
	if err != nil {
		return r, err
	}
	switch {
	case t.kind == phpIdent && isRegistrarClass(t.text):
		if _, err := expect("::"); err != nil {
			return r, err
		}
		c, err := l.next()
		if err != nil {
			return r, err
		}
		typ := strings.ToUpper(c.text)
		if c.kind != phpIdent || componentTypeValues[strings.ToLower(typ)] == "" {
			return r, &phpSyntaxError{c.off, fmt.Sprintf("unknown component type %s: expected MODULE, THEME, LANGUAGE, LIBRARY or SETUP", c.describe())}
		}
		r.Type = typ
	case t.kind == phpString && componentTypeValues[t.text] != "":
		r.Type = componentTypeValues[t.text]
	default:
		return r, &phpSyntaxError{t.off, fmt.Sprintf("expected a component type (ComponentRegistrar::MODULE, ...), found %s", t.describe())}
	}
	if _, err := expect(","); err != nil {
		return r, err
	}
	n, err := l.next()
	if err != nil {
		return r, err
	}
	if n.kind != phpString {
		return r, &phpSyntaxError{n.off, fmt.Sprintf("expected the component name as a string literal, found %s", n.describe())}
	}
	r.Name, r.NameOff = n.text, n.off
	if _, err := expect(","); err != nil {
		return r, err
	}
	d, end, err := parsePathExpr(l, dir)
	if err != nil {
		return r, err
	}
	if end.kind == phpPunct && end.text == "," { // PHP 7.3+ trailing comma
		end, err = l.next()
		if err != nil {
			return r, err
		}
	}
	if end.kind != phpPunct || end.text != ")" {
		return r, &phpSyntaxError{end.off, fmt.Sprintf("expected ')' after the component path, found %s", end.describe())}
	}
	r.Dir = d
	return r, nil
}

// parsePathExpr evaluates the path argument of a register call and
// returns the token after it. It understands what registration.php files
// write: concatenations (with '.') of __DIR__, __FILE__, $file (the
// variable Composer's and Magento's includers hold the file's path in),
// DIRECTORY_SEPARATOR, string literals, dirname(…) and realpath(…) (taken
// lexically), and `isset($file) ? A : B`, which is A: both includers set
// $file.
func parsePathExpr(l *phpLexer, dir string) (string, phpTok, error) {
	e := &pathEval{l: l, dir: dir}
	t, err := e.nextTok()
	if err != nil {
		return "", t, err
	}
	if t.kind == phpIdent && strings.EqualFold(t.text, "isset") {
		for _, want := range []string{"(", "$file", ")", "?"} {
			u, err := e.nextTok()
			if err != nil {
				return "", u, err
			}
			if u.text != want {
				return "", u, &phpSyntaxError{u.off, fmt.Sprintf("expected %s in `isset($file) ? … : …`, found %s", want, u.describe())}
			}
		}
		u, err := e.nextTok()
		if err != nil {
			return "", u, err
		}
		v, colon, err := e.concat(u)
		if err != nil {
			return "", colon, err
		}
		if colon.kind != phpPunct || colon.text != ":" {
			return "", colon, &phpSyntaxError{colon.off, fmt.Sprintf("expected ':' in `isset($file) ? … : …`, found %s", colon.describe())}
		}
		u, err = e.nextTok()
		if err != nil {
			return "", u, err
		}
		_, after, err := e.concat(u)
		return v, after, err
	}
	return e.concat(t)
}

type pathEval struct {
	l     *phpLexer
	dir   string
	depth int
}

func (e *pathEval) nextTok() (phpTok, error) { return e.l.next() }

// concat evaluates term ('.' term)* starting at t.
func (e *pathEval) concat(t phpTok) (string, phpTok, error) {
	var b strings.Builder
	for {
		v, err := e.term(t)
		if err != nil {
			return "", t, err
		}
		b.WriteString(v)
		op, err := e.nextTok()
		if err != nil {
			return "", op, err
		}
		if op.kind != phpPunct || op.text != "." {
			return b.String(), op, nil
		}
		if t, err = e.nextTok(); err != nil {
			return "", t, err
		}
	}
}

func (e *pathEval) term(t phpTok) (string, error) {
	name := strings.ToLower(strings.TrimPrefix(t.text, "\\"))
	switch {
	case t.kind == phpString:
		return t.text, nil
	case t.kind == phpIdent && t.text == "__DIR__":
		return e.dir, nil
	case t.kind == phpIdent && t.text == "__FILE__", t.kind == phpVar && t.text == "$file":
		return path.Join(e.dir, "registration.php"), nil
	case t.kind == phpIdent && name == "directory_separator":
		return "/", nil
	case t.kind == phpIdent && (name == "dirname" || name == "realpath"):
		e.depth++
		defer func() { e.depth-- }()
		if e.depth > 16 {
			return "", &phpSyntaxError{t.off, "component path nested too deeply"}
		}
		open, err := e.nextTok()
		if err != nil {
			return "", err
		}
		if open.kind != phpPunct || open.text != "(" {
			return "", &phpSyntaxError{open.off, fmt.Sprintf("expected '(' after %s, found %s", t.text, open.describe())}
		}
		u, err := e.nextTok()
		if err != nil {
			return "", err
		}
		v, closer, err := e.concat(u)
		if err != nil {
			return "", err
		}
		if closer.kind != phpPunct || closer.text != ")" {
			return "", &phpSyntaxError{closer.off, fmt.Sprintf("expected ')' after the argument of %s, found %s", t.text, closer.describe())}
		}
		if name == "dirname" {
			return path.Dir(v), nil
		}
		return v, nil
	}
	return "", &phpSyntaxError{t.off, fmt.Sprintf("expected the component path (__DIR__, optionally followed by . '/sub'), found %s", t.describe())}
}

// configModule is one entry of config.php's 'modules' array.
type configModule struct {
	Name    string
	Enabled bool
	Off     int // offset of the name
}

// parseConfigPHP reads app/etc/config.php: `return [ 'modules' => [
// 'Vendor_Module' => 1, ... ], ... ];` (short or array() syntax). Other
// keys may hold any literal. hasModules is false when there is no
// 'modules' key.
func parseConfigPHP(src []byte) (mods []configModule, hasModules bool, err error) {
	top, err := parsePHPReturn(src)
	if err != nil {
		return nil, false, err
	}
	for _, e := range top.elems {
		if e.key == nil || e.key.kind != phpStringValue || e.key.text != "modules" {
			continue
		}
		if hasModules {
			return nil, true, &phpSyntaxError{e.key.off, "'modules' is given twice"}
		}
		hasModules = true
		if e.val.kind != phpArrayValue {
			return nil, true, &phpSyntaxError{e.val.off, "'modules' must be an array of 'Vendor_Module' => 0 or 1"}
		}
		seen := map[string]bool{}
		for _, me := range e.val.elems {
			if me.key == nil || me.key.kind != phpStringValue {
				return nil, true, &phpSyntaxError{me.val.off, "an entry of 'modules' must be 'Vendor_Module' => 0 or 1"}
			}
			if !moduleNameRe.MatchString(me.key.text) {
				return nil, true, &phpSyntaxError{me.key.off, fmt.Sprintf("%q is not a module name (Vendor_Module)", me.key.text)}
			}
			if seen[me.key.text] {
				return nil, true, &phpSyntaxError{me.key.off, fmt.Sprintf("module %s is listed twice", me.key.text)}
			}
			seen[me.key.text] = true
			var on bool
			switch {
			case me.val.kind == phpScalarValue && me.val.text == "1",
				me.val.kind == phpScalarValue && strings.EqualFold(me.val.text, "true"):
				on = true
			case me.val.kind == phpScalarValue && me.val.text == "0",
				me.val.kind == phpScalarValue && strings.EqualFold(me.val.text, "false"):
			default:
				return nil, true, &phpSyntaxError{me.val.off, fmt.Sprintf("module %s: expected 0 or 1", me.key.text)}
			}
			mods = append(mods, configModule{Name: me.key.text, Enabled: on, Off: me.key.off})
		}
	}
	return mods, hasModules, nil
}

// parsePHPReturn reads a PHP file that returns a literal array, as
// app/etc/config.php and env.php do: `return [ ... ];` (short or array()
// syntax), after an optional declare(...) or namespace statement.
func parsePHPReturn(src []byte) (*phpValue, error) {
	l, err := newPHPLexer(src)
	if err != nil {
		return nil, err
	}
	p := &phpParser{l: l}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for p.tok.kind == phpIdent && (strings.EqualFold(p.tok.text, "declare") || strings.EqualFold(p.tok.text, "namespace")) {
		// declare(strict_types=1); namespace X; — skip to the semicolon.
		for p.tok.kind != phpEOF && !(p.tok.kind == phpPunct && p.tok.text == ";") {
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if p.tok.kind != phpIdent || !strings.EqualFold(p.tok.text, "return") {
		return nil, &phpSyntaxError{p.tok.off, fmt.Sprintf("expected 'return [ ... ];', found %s", p.tok.describe())}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	top, err := p.value()
	if err != nil {
		return nil, err
	}
	if !(p.tok.kind == phpPunct && p.tok.text == ";" || p.tok.kind == phpEOF || p.tok.kind == phpClose) {
		return nil, &phpSyntaxError{p.tok.off, fmt.Sprintf("expected ';' after the returned array, found %s", p.tok.describe())}
	}
	if top.kind != phpArrayValue {
		return nil, &phpSyntaxError{top.off, "config.php must return an array"}
	}
	return top, nil
}

var moduleNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9]+$`)

type phpValueKind int

const (
	phpArrayValue  phpValueKind = iota
	phpStringValue              // text is the string
	phpScalarValue              // a number, true/false/null or a constant: text as written
)

type phpValue struct {
	kind  phpValueKind
	text  string
	off   int
	elems []phpElem
}

type phpElem struct {
	key *phpValue // nil for a list element
	val *phpValue
}

// entries returns the keys and values of the array v (nil when v is not
// an array) as PHP holds them: a key given twice keeps its first place
// and its last value; a list element's key is its implicit position, one
// more than the largest plain non-negative integer key before it.
func (v *phpValue) entries() (keys []string, vals []*phpValue) {
	if v == nil || v.kind != phpArrayValue {
		return nil, nil
	}
	at := map[string]int{}
	next := 0
	for _, e := range v.elems {
		k := ""
		if e.key == nil {
			k = strconv.Itoa(next)
			next++
		} else {
			k = e.key.text
			if n, err := strconv.Atoi(k); err == nil && n >= next && strconv.Itoa(n) == k {
				next = n + 1
			}
		}
		if i, ok := at[k]; ok {
			vals[i] = e.val
			continue
		}
		at[k] = len(keys)
		keys = append(keys, k)
		vals = append(vals, e.val)
	}
	return keys, vals
}

// get returns the value of key in the array v, the last one when the key
// is given twice (as PHP keeps it), or nil when v is not an array or has
// no such key.
func (v *phpValue) get(key string) *phpValue {
	keys, vals := v.entries()
	for i, k := range keys {
		if k == key {
			return vals[i]
		}
	}
	return nil
}

// path follows keys through nested arrays: v.path("design", "theme",
// "theme_id") is $v['design']['theme']['theme_id'] or nil.
func (v *phpValue) path(keys ...string) *phpValue {
	for _, k := range keys {
		v = v.get(k)
	}
	return v
}

// scalar returns the text of a string or number (and of true/false as
// PHP casts them to strings: "1" and ""), or false for arrays, null and
// a missing value.
func (v *phpValue) scalar() (string, bool) {
	switch {
	case v == nil || v.kind == phpArrayValue:
		return "", false
	case v.kind == phpStringValue:
		return v.text, true
	case strings.EqualFold(v.text, "null"):
		return "", false
	case strings.EqualFold(v.text, "true"):
		return "1", true
	case strings.EqualFold(v.text, "false"):
		return "", true
	}
	return v.text, true
}

type phpParser struct {
	l     *phpLexer
	tok   phpTok
	depth int
}

func (p *phpParser) advance() error {
	t, err := p.l.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *phpParser) isPunct(s string) bool { return p.tok.kind == phpPunct && p.tok.text == s }

// value parses a literal: an array ([...] or array(...)), a string, a
// number (optionally negative), or a name (true, false, null, constants,
// Class::CONST).
func (p *phpParser) value() (*phpValue, error) {
	t := p.tok
	switch {
	case p.isPunct("["):
		return p.array("]")
	case t.kind == phpIdent && strings.EqualFold(t.text, "array"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.isPunct("(") {
			return nil, &phpSyntaxError{p.tok.off, fmt.Sprintf("expected '(' after array, found %s", p.tok.describe())}
		}
		v, err := p.array(")")
		if v != nil {
			v.off = t.off
		}
		return v, err
	case t.kind == phpString:
		if err := p.advance(); err != nil {
			return nil, err
		}
		return &phpValue{kind: phpStringValue, text: t.text, off: t.off}, nil
	case t.kind == phpNumber:
		if err := p.advance(); err != nil {
			return nil, err
		}
		return &phpValue{kind: phpScalarValue, text: t.text, off: t.off}, nil
	case p.isPunct("-") || p.isPunct("+"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != phpNumber {
			return nil, &phpSyntaxError{p.tok.off, fmt.Sprintf("expected a number, found %s", p.tok.describe())}
		}
		n := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		return &phpValue{kind: phpScalarValue, text: t.text + n.text, off: t.off}, nil
	case t.kind == phpIdent:
		if err := p.advance(); err != nil {
			return nil, err
		}
		text := t.text
		if p.isPunct("::") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != phpIdent {
				return nil, &phpSyntaxError{p.tok.off, fmt.Sprintf("expected a constant name after '::', found %s", p.tok.describe())}
			}
			text += "::" + p.tok.text
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
		return &phpValue{kind: phpScalarValue, text: text, off: t.off}, nil
	}
	return nil, &phpSyntaxError{t.off, fmt.Sprintf("expected a value, found %s", t.describe())}
}

// array parses the elements after an opening bracket up to close.
func (p *phpParser) array(close string) (*phpValue, error) {
	v := &phpValue{kind: phpArrayValue, off: p.tok.off}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 64 {
		return nil, &phpSyntaxError{p.tok.off, "arrays nested too deeply"}
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for !p.isPunct(close) {
		first, err := p.value()
		if err != nil {
			return nil, err
		}
		e := phpElem{val: first}
		if p.isPunct("=>") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			second, err := p.value()
			if err != nil {
				return nil, err
			}
			e = phpElem{key: first, val: second}
		}
		v.elems = append(v.elems, e)
		if p.isPunct(",") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		}
		if !p.isPunct(close) {
			return nil, &phpSyntaxError{p.tok.off, fmt.Sprintf("expected ',' or '%s', found %s", close, p.tok.describe())}
		}
	}
	return v, p.advance()
}
