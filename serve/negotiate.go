package serve

import (
	"strconv"
	"strings"
)

// Encoding is a content coding the server can send: a precompressed
// sidecar, or the file itself (Identity).
type Encoding uint8

// Encodings, in the order the server prefers them when a client accepts
// several with the same q-value: the smallest sidecar first, the file itself
// last (brotli is usually the smallest, then zstd, then gzip).
const (
	Identity Encoding = iota
	Brotli
	Zstd
	Gzip
)

// preference is the server's tie-break order.
var preference = [...]Encoding{Brotli, Zstd, Gzip, Identity}

// Token is the coding's name in Accept-Encoding and Content-Encoding.
func (e Encoding) Token() string {
	switch e {
	case Brotli:
		return "br"
	case Zstd:
		return "zstd"
	case Gzip:
		return "gzip"
	}
	return "identity"
}

// Ext is the sidecar suffix (".br", ".zst", ".gz"; "" for Identity), as the
// builder writes them (manifest.Asset.Encodings).
func (e Encoding) Ext() string {
	switch e {
	case Brotli:
		return ".br"
	case Zstd:
		return ".zst"
	case Gzip:
		return ".gz"
	}
	return ""
}

// encodingSet is a bit set of Encodings: what exists on disk for a file.
type encodingSet uint8

func (s encodingSet) has(e Encoding) bool { return s&(1<<e) != 0 }

// acceptance is a parsed Accept-Encoding: the q-value (in thousandths,
// 0..1000) of each coding the server knows, where -1 means "not listed".
type acceptance struct {
	q    [4]int16 // indexed by Encoding
	star int16    // the "*" entry, -1 when absent
}

// parseAcceptEncoding parses an Accept-Encoding field value (RFC 9110
// §12.5.3): a comma-separated list of codings, each with an optional
// ";q=" weight. Codings are case-insensitive; "x-gzip" is gzip (§8.4.1.3).
// A malformed entry is ignored rather than failing the request, so a
// client with a broken header still gets the file.
func parseAcceptEncoding(values []string) acceptance {
	a := acceptance{q: [4]int16{-1, -1, -1, -1}, star: -1}
	for _, v := range values {
		for entry := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(entry, ";")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			q, ok := parseQ(params)
			if !ok {
				continue
			}
			var e Encoding
			switch strings.ToLower(name) {
			case "br":
				e = Brotli
			case "zstd":
				e = Zstd
			case "gzip", "x-gzip":
				e = Gzip
			case "identity":
				e = Identity
			case "*":
				a.star = max(a.star, q)
				continue
			default:
				continue
			}
			// A coding listed twice keeps its highest weight: lenient,
			// and never refuses what the client also said it accepts.
			a.q[e] = max(a.q[e], q)
		}
	}
	return a
}

// parseQ reads the parameters after a coding (";q=0.5"; other parameters
// are ignored) and returns the weight in thousandths. RFC 9110 §12.4.2:
// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseQ(params string) (int16, bool) {
	q := int16(1000)
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
			return 0, false
		}
		ip, frac, dot := strings.Cut(v, ".")
		if len(ip) != 1 || (dot && len(frac) > 3) {
			return 0, false
		}
		n := 0
		for i := range 3 {
			n *= 10
			if i < len(frac) {
				c := frac[i]
				if c < '0' || c > '9' {
					return 0, false
				}
				n += int(c - '0')
			}
		}
		if ip == "1" {
			if n != 0 {
				return 0, false
			}
			n = 1000
		}
		q = int16(n)
	}
	return q, true
}

// weight is the q-value the client gives e: its own entry, else "*", else
// the default — identity is acceptable unless excluded, any other coding
// is not (RFC 9110 §12.5.3).
func (a acceptance) weight(e Encoding) int16 {
	if a.q[e] >= 0 {
		return a.q[e]
	}
	if a.star >= 0 {
		return a.star
	}
	if e == Identity {
		return 1 // acceptable, but below any coding the client named
	}
	return 0
}

// negotiate picks the representation to send among those available
// (Identity is always available): the highest q-value, ties broken by the
// server's preference. ok is false when the client refuses all of them —
// identity excluded by "identity;q=0" or "*;q=0" and no acceptable sidecar
// — which the caller answers with 406. A request without Accept-Encoding
// gets Identity: RFC 9110 allows any coding then, but a client that sent
// nothing most likely cannot decode anything.
func negotiate(header []string, available encodingSet) (Encoding, bool) {
	if len(header) == 0 {
		return Identity, true
	}
	a := parseAcceptEncoding(header)
	best, bestQ := Identity, int16(0)
	for _, e := range preference {
		if e != Identity && !available.has(e) {
			continue
		}
		if w := a.weight(e); w > bestQ {
			best, bestQ = e, w
		}
	}
	return best, bestQ > 0
}

// String is for tests and logs.
func (a acceptance) String() string {
	var b strings.Builder
	for e := range a.q {
		b.WriteString(Encoding(e).Token() + "=" + strconv.Itoa(int(a.q[e])) + " ")
	}
	b.WriteString("*=" + strconv.Itoa(int(a.star)))
	return b.String()
}
