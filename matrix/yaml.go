package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/scdtool/scd/diag"
)

// reader walks a yaml.v3 node tree and collects located errors. The node
// API is used instead of decoding into structs because it keeps a position
// for every key and value, so each problem can be reported where it is, and
// because it lets every problem be reported rather than the first.
type reader struct {
	file  string // the file as named in messages
	src   []byte
	lines []string // src split into lines, on first use
	errs  []*diag.Error
}

// errorf records a configuration error at a 1-based line and a yaml.v3
// column (which counts characters, not bytes); line 0 means unknown.
func (r *reader) errorf(line, col int, format string, args ...any) {
	e := diag.Configf(r.file, line, r.byteCol(line, col), format, args...)
	if line > 0 {
		e.Source = r.line(line)
	}
	r.errs = append(r.errs, e)
}

// at records an error at n's position.
func (r *reader) at(n *yaml.Node, format string, args ...any) {
	if n == nil {
		r.errorf(0, 0, format, args...)
		return
	}
	r.errorf(n.Line, n.Column, format, args...)
}

// err returns the collected errors ordered by position, duplicates (the
// same anchor merged into several places) removed.
func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.SliceStable(r.errs, func(i, j int) bool {
		a, b := r.errs[i], r.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	seen := map[string]bool{}
	var out []error
	for _, e := range r.errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

func (r *reader) line(n int) string {
	if r.lines == nil {
		r.lines = strings.Split(string(r.src), "\n")
	}
	if n < 1 || n > len(r.lines) {
		return ""
	}
	return strings.TrimRight(r.lines[n-1], "\r")
}

// byteCol converts yaml's character column into the byte column diag uses.
func (r *reader) byteCol(line, col int) int {
	if line < 1 || col < 1 {
		return col
	}
	text := r.line(line)
	off := 0
	if line == 1 {
		// yaml.v3 skips a byte order mark without counting it.
		if t := strings.TrimPrefix(text, "\uFEFF"); len(t) != len(text) {
			off = len(text) - len(t)
			text = t
		}
	}
	for i := 1; i < col; i++ {
		if text == "" {
			off += col - i
			break
		}
		_, w := utf8.DecodeRuneInString(text)
		text = text[w:]
		off += w
	}
	return off + 1
}

// pos returns n's position in diag's terms (byte columns).
func (r *reader) pos(n *yaml.Node) (line, col int) {
	return n.Line, r.byteCol(n.Line, n.Column)
}

var yamlLineRe = regexp.MustCompile(`(?s)^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the messages of yaml.v3's parser stage (parserc.go),
// as opposed to its scanner's. For these yaml.v3 prints the 0-based line of
// the mark (the scanner's it corrects to 1-based), and prints no line at all
// when that index is 0.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntax records a yaml.v3 error. Its line, when it has one, is only in
// the text ("yaml: line N: ..."), so it is parsed out of it and corrected
// for parser errors (see parserProblems).
func (r *reader) syntax(err error) {
	msg := err.Error()
	m := yamlLineRe.FindStringSubmatch(msg)
	if m == nil {
		r.errorf(0, 0, "invalid YAML: %s", msg)
		return
	}
	line, _ := strconv.Atoi(m[1]) // 0 when absent
	if parserProblems[m[2]] {
		line++
		// A mark at the end of the input can be one past the last line.
		if n := strings.Count(strings.TrimRight(string(r.src), "\n"), "\n") + 1; line > n {
			line = n
		}
	}
	r.errorf(line, 0, "invalid YAML: %s", m[2])
}

// document decodes src and returns the root node (aliases resolved), or nil
// when the input is empty (empty is true) or unreadable (an error is
// recorded). Only one YAML document is accepted: a second one would
// otherwise be silently ignored.
func (r *reader) document() (root *yaml.Node, empty bool) {
	defer func() {
		// yaml.v3 reports errors by panicking internally and recovering;
		// should some input escape that, it is still bad input, not a
		// reason to crash the command.
		if v := recover(); v != nil {
			r.errorf(0, 0, "invalid YAML: %v", v)
			root, empty = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(r.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		r.syntax(err)
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		r.syntax(err)
		return nil, false
	default:
		r.at(&extra, "only one YAML document is allowed")
		return nil, false
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, true
		}
		n = n.Content[0]
	}
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	return n, false
}

// resolve follows an alias to its anchored node. The tree may be cyclic
// (an anchor can be referenced inside itself), which is safe here because
// the walk only ever descends into the fixed, shallow shape of the schema.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what a value is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return quote(n.Value)
	}
	return "an unsupported value"
}

// quote quotes user text for a message, shortened so that a stray blob
// does not flood the terminal.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// pair is one key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

// mapping returns the pairs of a mapping node, or records an error and
// returns false when n is something else.
func (r *reader) mapping(what string, n *yaml.Node) ([]pair, bool) {
	v := resolve(n)
	if v == nil || v.Kind != yaml.MappingNode {
		r.at(n, "%s: expected a mapping, got %s", what, describe(v))
		return nil, false
	}
	return r.pairs(v), true
}

// pairs lists the keys of mapping m in order, reporting duplicate and
// non-string keys. Merge keys (<<: *anchor) are honoured, as YAML users
// share settings between themes that way: merged keys fill in what the
// mapping does not set itself, earlier merges winning.
func (r *reader) pairs(m *yaml.Node) []pair {
	seen := map[string]bool{}
	out, merges := r.ownPairs(m, seen, true)
	visited := map[*yaml.Node]bool{m: true}
	for len(merges) > 0 {
		orig := merges[0]
		mv := resolve(orig)
		merges = merges[1:]
		var maps []*yaml.Node
		switch {
		case mv != nil && mv.Kind == yaml.MappingNode:
			maps = []*yaml.Node{mv}
		case mv != nil && mv.Kind == yaml.SequenceNode:
			for _, e := range mv.Content {
				if e = resolve(e); e != nil && e.Kind == yaml.MappingNode {
					maps = append(maps, e)
				} else {
					r.at(e, "merge: expected a mapping, got %s", describe(e))
				}
			}
		default:
			r.at(orig, "merge: expected a mapping or a list of mappings, got %s", describe(mv))
		}
		for _, mm := range maps {
			if visited[mm] {
				continue
			}
			visited[mm] = true
			more, nested := r.ownPairs(mm, seen, false)
			out = append(out, more...)
			merges = append(merges, nested...)
		}
	}
	return out
}

// ownPairs returns the pairs written in m itself, skipping keys already in
// seen, and the values of its merge keys. Duplicates are reported only for
// the mapping being read (report), not for merged ones, where YAML says the
// first occurrence wins.
func (r *reader) ownPairs(m *yaml.Node, seen map[string]bool, report bool) (out []pair, merges []*yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		rk := resolve(k)
		if rk != nil && rk.Kind == yaml.ScalarNode && rk.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if rk == nil || rk.Kind != yaml.ScalarNode {
			r.at(k, "expected a string key, got %s", describe(rk))
			continue
		}
		if seen[rk.Value] {
			if report {
				r.at(k, "duplicate key %q", rk.Value)
			}
			continue
		}
		seen[rk.Value] = true
		// Keep the key node as written so positions point at the use,
		// but give it the resolved text.
		if rk != k {
			k = &yaml.Node{Kind: yaml.ScalarNode, Value: rk.Value, Line: k.Line, Column: k.Column}
		}
		out = append(out, pair{k, v})
	}
	return out, merges
}

// str reads a string scalar. Numbers and booleans are accepted as their
// text (a theme called 2024/sale is a string to us); null and collections
// are errors.
func (r *reader) str(what string, n *yaml.Node) (string, bool) {
	v := resolve(n)
	if v == nil || v.Kind != yaml.ScalarNode || isNull(v) {
		r.at(n, "%s: expected a string, got %s", what, describe(v))
		return "", false
	}
	return v.Value, true
}

// nonEmpty reads a string that must not be empty.
func (r *reader) nonEmpty(what string, n *yaml.Node) (string, bool) {
	s, ok := r.str(what, n)
	if ok && s == "" {
		r.at(n, "%s: must not be empty", what)
		return "", false
	}
	return s, ok
}

// integer reads an integer scalar; a quoted number is a string and so an
// error, like any other type mismatch.
func (r *reader) integer(what string, n *yaml.Node) (int, bool) {
	v := resolve(n)
	if v == nil || v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		r.at(n, "%s: expected an integer, got %s", what, describe(v))
		return 0, false
	}
	var i int
	if err := v.Decode(&i); err != nil {
		r.at(n, "%s: %s is out of range", what, v.Value)
		return 0, false
	}
	return i, true
}

// list reads a sequence. A null value (a key whose items were all commented
// out) is an empty list, never nil, so callers can tell "set to nothing"
// from "not set".
func (r *reader) list(what string, n *yaml.Node) ([]*yaml.Node, bool) {
	v := resolve(n)
	if isNull(v) {
		return []*yaml.Node{}, true
	}
	if v.Kind != yaml.SequenceNode {
		r.at(n, "%s: expected a list, got %s", what, describe(v))
		return nil, false
	}
	out := make([]*yaml.Node, len(v.Content))
	copy(out, v.Content)
	return out, true
}

// strList reads a list of strings, returning each value with its node for
// later messages. The result is non-nil when ok.
func (r *reader) strList(what string, n *yaml.Node) ([]string, []*yaml.Node, bool) {
	items, ok := r.list(what, n)
	if !ok {
		return nil, nil, false
	}
	vals := make([]string, 0, len(items))
	nodes := make([]*yaml.Node, 0, len(items))
	for _, it := range items {
		s, sok := r.str(what, it)
		if !sok {
			ok = false
			continue
		}
		vals = append(vals, s)
		nodes = append(nodes, it)
	}
	return vals, nodes, ok
}

// locales reads a non-empty list of distinct, valid locale codes.
func (r *reader) locales(what string, n *yaml.Node) ([]string, bool) {
	vals, nodes, ok := r.strList(what, n)
	if !ok {
		return nil, false
	}
	if len(vals) == 0 {
		r.at(n, "%s: must not be empty", what)
		return nil, false
	}
	seen := map[string]bool{}
	for i, s := range vals {
		switch {
		case !localeRe.MatchString(s):
			r.at(nodes[i], "invalid locale %s: expected ll_CC or ll_Scrp_CC (en_US, zh_Hans_CN)", quote(s))
			ok = false
		case seen[s]:
			r.at(nodes[i], "duplicate locale %q", s)
			ok = false
		}
		seen[s] = true
	}
	return vals, ok
}

// oneOf formats a list of choices for messages: "a, b or c".
func oneOf(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return fmt.Sprintf("%s or %s", strings.Join(choices[:len(choices)-1], ", "), choices[len(choices)-1])
}
