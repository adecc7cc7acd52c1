package builder

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestCacheGetMapped: a mapped entry reads as get reads it, also once
// its pages are released and the entry replaced, and one that does not
// verify (a byte changed, cut short, empty) is refused and removed, as
// get does.
func TestCacheGetMapped(t *testing.T) {
	c, err := openCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("ab", 32)
	payload := bytes.Repeat([]byte("a leaf's minified bytes; "), 4000)
	for what, damage := range map[string]func([]byte) []byte{
		"intact":    func(b []byte) []byte { return b },
		"a byte":    func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
		"header":    func(b []byte) []byte { return b[:frameHeader] },
		"empty":     func([]byte) []byte { return nil },
	} {
		c.put("pack", key, payload)
		data, err := os.ReadFile(c.path("pack", key))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path("pack", key), damage(data), 0o644); err != nil {
			t.Fatal(err)
		}
		got, mapping, ok := c.getMapped("pack", key)
		_, statErr := os.Stat(c.path("pack", key))
		if what == "intact" {
			if !ok || !bytes.Equal(got, payload) || statErr != nil || mapping == nil {
				t.Errorf("intact: ok %v, same bytes %v, file %v, mapped %v", ok, bytes.Equal(got, payload), statErr, mapping != nil)
			}
			// Its pages given back, and the entry replaced by a new file
			// (as a build's put does), it still reads the same.
			release([][]byte{mapping})
			c.put("pack", key, []byte("another payload"))
			if !bytes.Equal(got, payload) {
				t.Error("intact: released, the mapping no longer reads the payload")
			}
			continue
		}
		if ok || !os.IsNotExist(statErr) {
			t.Errorf("%s: ok %v, the entry was not removed (%v)", what, ok, statErr)
		}
	}
	if _, _, ok := c.getMapped("pack", strings.Repeat("cd", 32)); ok {
		t.Error("a missing entry was found")
	}
}
