package i18n

import (
	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/js"
)

// tok is a significant JS token: its type and byte range in the source.
type tok struct {
	tt       js.TokenType
	off, end int
}

// jsScanner yields the significant tokens of JS source (whitespace, line
// terminators and comments are skipped) with their byte offsets, deciding
// whether a slash starts a regular expression literal or is a division.
//
// The decision follows the previous significant token, as JS tools without a
// full parser traditionally do: after an operand (identifier, literal, this,
// `)` `]`, postfix ++/--) a slash divides; after an operator, a punctuator or a
// keyword such as return or typeof it starts a regular expression. Two cases
// need more context: a `)` closing the head of if/while/for/with is followed
// by a statement (so a slash starts a regex), which a stack of open
// parentheses remembers; a `}` is taken to close a block, because an object
// literal or function expression directly divided by something is not code
// anyone writes. When the regex reading fails (no closing slash on the line),
// the scanner falls back to a division, so a wrong guess of "regex" swallows
// at most the code up to the next slash on that line, and a wrong guess of
// "division" can only expose a regex body as tokens — both need code that
// the heuristics above do not expect.
type jsScanner struct {
	in      *parse.Input
	lx      *js.Lexer
	pos     int    // end of the last token read from the lexer
	regexOK bool   // a slash here starts a regular expression
	control bool   // the previous significant token is if/while/for/with
	parens  []bool // per open parenthesis: it opened the head of a control statement
	done    bool
}

func newJSScanner(src []byte) *jsScanner {
	// The lexer wants a NUL after the input and writes it into spare capacity
	// when there is some (restoring it later). src may share its backing array
	// with other goroutines, so cap it: NewInputBytes then appends to a copy.
	in := parse.NewInputBytes(src[:len(src):len(src)])
	return &jsScanner{in: in, lx: js.NewLexer(in), regexOK: true}
}

// next returns the next significant token; ok is false at the end of input.
// Lexing errors (an unterminated string, a stray character) come back as
// ErrorToken ranges so that patterns around them simply fail to match.
func (s *jsScanner) next() (t tok, ok bool) {
	for !s.done {
		start := s.pos
		if start >= s.in.Len() {
			// The end. Checked here rather than left to the lexer, which
			// steps past the terminating NUL after a final `#` and would
			// then read out of bounds (found by fuzzing).
			s.done = true
			return tok{}, false
		}
		tt, _ := s.lx.Next()
		end := s.in.Offset()
		s.pos = end
		switch tt {
		case js.WhitespaceToken, js.LineTerminatorToken, js.CommentToken, js.CommentLineTerminatorToken:
			continue
		case js.ErrorToken:
			if end == start { // the end of input, or an error that cannot advance
				s.done = true
				return tok{}, false
			}
		case js.DivToken, js.DivEqToken:
			if s.regexOK {
				if rt, _ := s.lx.RegExp(); rt == js.RegExpToken {
					tt = js.RegExpToken
					s.pos = s.in.Offset()
					end = s.pos
				} else {
					// Not a regular expression after all: go back to just
					// after the slash and read it as a division.
					s.in.Rewind(end - start)
					s.in.Skip()
				}
			}
		}
		s.update(tt)
		return tok{tt: tt, off: start, end: end}, true
	}
	return tok{}, false
}

// update records what the token tt means for a slash that follows it.
func (s *jsScanner) update(tt js.TokenType) {
	control := false
	switch {
	case tt == js.OpenParenToken:
		s.parens = append(s.parens, s.control)
		s.regexOK = true
	case tt == js.CloseParenToken:
		s.regexOK = false
		if n := len(s.parens); n > 0 {
			s.regexOK = s.parens[n-1]
			s.parens = s.parens[:n-1]
		}
	case tt == js.CloseBracketToken, tt == js.IncrToken, tt == js.DecrToken:
		s.regexOK = false
	case tt == js.CloseBraceToken:
		s.regexOK = true
	case js.IsNumeric(tt), tt == js.StringToken, tt == js.TemplateToken, tt == js.TemplateEndToken,
		tt == js.RegExpToken, tt == js.PrivateIdentifierToken:
		s.regexOK = false
	case js.IsIdentifier(tt):
		s.regexOK = false
	case js.IsReservedWord(tt):
		switch tt {
		case js.ThisToken, js.SuperToken, js.NullToken, js.TrueToken, js.FalseToken:
			s.regexOK = false
		case js.IfToken, js.WhileToken, js.ForToken, js.WithToken:
			control = true
			s.regexOK = true
		default:
			s.regexOK = true
		}
	default:
		// Operators, punctuators, `${` and `}…${` of template literals,
		// and lexing errors: an expression may start here.
		s.regexOK = true
	}
	s.control = control
}

// window holds the last few significant tokens, so that call patterns such as
// `$t ( 'x' )` can be recognised when their `)` arrives without buffering the
// whole token stream. It is a ring: pushing costs one store.
type window struct {
	toks [16]tok // a power of two
	n    int     // tokens pushed so far
}

func (w *window) push(t tok) {
	w.toks[w.n&(len(w.toks)-1)] = t
	w.n++
}

// at returns the token k places before the newest (0 is the newest); ok is
// false when the stream has fewer tokens.
func (w *window) at(k int) (tok, bool) {
	if k >= w.n || k >= len(w.toks) {
		return tok{}, false
	}
	return w.toks[(w.n-1-k)&(len(w.toks)-1)], true
}

// isLiteral reports whether tt is a string literal or a template literal
// without substitutions: both are constants that a translation can replace.
func isLiteral(tt js.TokenType) bool {
	return tt == js.StringToken || tt == js.TemplateToken
}

// call matches `name ( literal [,] )` ending at the newest token (a `)`) and
// returns the name and literal tokens, and the window index of the name so
// that the caller can look at what precedes it. The name may be any
// identifier; the caller checks its text.
func (w *window) call() (name, lit tok, nameAt int, ok bool) {
	if t, _ := w.at(0); t.tt != js.CloseParenToken {
		return
	}
	k := 1
	if t, found := w.at(k); found && t.tt == js.CommaToken {
		k++
	}
	lit, found := w.at(k)
	if !found || !isLiteral(lit.tt) {
		return
	}
	if t, found := w.at(k + 1); !found || t.tt != js.OpenParenToken {
		return
	}
	name, found = w.at(k + 2)
	if !found || !js.IsIdentifier(name.tt) {
		return
	}
	return name, lit, k + 2, true
}

// isMemberAccess reports whether the token k places back makes the identifier after it a
// property (`obj.$t`, `obj?.$t`) rather than a variable.
func (w *window) isMemberAccess(k int) bool {
	t, has := w.at(k)
	return has && (t.tt == js.DotToken || t.tt == js.OptChainToken)
}
