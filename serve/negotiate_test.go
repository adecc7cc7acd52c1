package serve

import "testing"

func TestNegotiate(t *testing.T) {
	all := encodingSet(1<<Identity | 1<<Brotli | 1<<Zstd | 1<<Gzip)
	gzOnly := encodingSet(1<<Identity | 1<<Gzip)
	none := encodingSet(1 << Identity)
	tests := []struct {
		name   string
		header []string // nil: no Accept-Encoding at all
		avail  encodingSet
		want   Encoding
		ok     bool
	}{
		{"no header means identity", nil, all, Identity, true},
		{"empty header means identity", []string{""}, all, Identity, true},
		{"browser default prefers br", []string{"gzip, deflate, br, zstd"}, all, Brotli, true},
		{"gzip only", []string{"gzip"}, all, Gzip, true},
		{"x-gzip is gzip", []string{"x-gzip"}, all, Gzip, true},
		{"case-insensitive", []string{"GZip, BR"}, all, Brotli, true},
		{"q picks the highest", []string{"br;q=0.5, gzip;q=0.9"}, all, Gzip, true},
		{"q with spaces", []string{"br ; q=0.5 , zstd ; q = 0.8"}, all, Zstd, true},
		{"tie goes to the server's order", []string{"gzip;q=0.5, zstd;q=0.5"}, all, Zstd, true},
		{"q=0 refuses", []string{"br;q=0, gzip"}, all, Gzip, true},
		{"q=0.000 refuses", []string{"br;q=0.000, zstd"}, all, Zstd, true},
		{"sidecar missing falls back", []string{"br"}, gzOnly, Identity, true},
		{"best available sidecar", []string{"br, gzip;q=0.1"}, gzOnly, Gzip, true},
		{"nothing precompressed", []string{"br, gzip, zstd"}, none, Identity, true},
		{"star accepts all", []string{"*"}, all, Brotli, true},
		{"star with an explicit refusal", []string{"*, br;q=0"}, all, Zstd, true},
		{"star with a lower weight", []string{"gzip, *;q=0.1"}, all, Gzip, true},
		{"identity preferred over gzip", []string{"identity, gzip;q=0.5"}, all, Identity, true},
		{"identity refused, gzip there", []string{"gzip, identity;q=0"}, gzOnly, Gzip, true},
		{"identity refused, nothing else", []string{"identity;q=0"}, all, Identity, false},
		{"star refused, nothing else", []string{"*;q=0"}, all, Identity, false},
		{"star refused, identity explicit", []string{"*;q=0, identity"}, all, Identity, true},
		{"star refused, br explicit", []string{"*;q=0, br"}, all, Brotli, true},
		{"identity refused, only a missing sidecar", []string{"br, identity;q=0"}, gzOnly, Identity, false},
		{"malformed q ignored", []string{"br;q=2, gzip"}, all, Gzip, true},
		{"q=1.0 fine", []string{"br;q=1.0"}, all, Brotli, true},
		{"q=1.5 malformed", []string{"br;q=1.5, gzip;q=0.2"}, all, Gzip, true},
		{"q too many digits", []string{"br;q=0.0001, gzip;q=0.2"}, all, Gzip, true},
		{"q=0. is zero", []string{"br;q=0., gzip"}, all, Gzip, true},
		{"other params ignored", []string{"br;level=5;q=0.3, gzip;q=0.2"}, all, Brotli, true},
		{"unknown codings ignored", []string{"deflate, compress"}, all, Identity, true},
		{"several header lines", []string{"gzip;q=0.2", "zstd"}, all, Zstd, true},
		{"duplicate keeps the highest", []string{"gzip;q=0, gzip;q=0.5"}, gzOnly, Gzip, true},
		{"empty entries", []string{",,gzip,,"}, all, Gzip, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := negotiate(tt.header, tt.avail)
			if got != tt.want || ok != tt.ok {
				t.Errorf("negotiate(%q) = %s, %v; want %s, %v (parsed: %s)", tt.header, got.Token(), ok, tt.want.Token(), tt.ok, parseAcceptEncoding(tt.header))
			}
		})
	}
}

func TestParseQ(t *testing.T) {
	tests := []struct {
		in   string
		want int16
		ok   bool
	}{
		{"", 1000, true}, {"q=1", 1000, true}, {"q=1.000", 1000, true}, {"q=0", 0, true},
		{"q=0.5", 500, true}, {"q=0.25", 250, true}, {"q=0.125", 125, true}, {"Q=0.3", 300, true},
		{"q=1.001", 0, false}, {"q=2", 0, false}, {"q=-1", 0, false}, {"q=0.1234", 0, false},
		{"q=", 0, false}, {"q=.5", 0, false}, {"q=0.a", 0, false}, {"q=01", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseQ(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseQ(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip, br;q=0.5", "*;q=0", "identity;q=0, br", "br;q=1.000;x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		all := encodingSet(0xf)
		got, ok := negotiate([]string{h}, all)
		a := parseAcceptEncoding([]string{h})
		if ok && a.weight(got) <= 0 {
			t.Fatalf("%q: chose %s, which the client refuses", h, got.Token())
		}
		if !ok {
			for e := range Encoding(4) {
				if a.weight(e) > 0 {
					t.Fatalf("%q: refused although %s is acceptable", h, e.Token())
				}
			}
		}
	})
}
