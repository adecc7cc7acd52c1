package i18n

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// Digest returns a stable hex digest (SHA-256) of the dictionary's content,
// independent of row order and of map iteration: the tests compare
// dictionaries by it (two that translate alike have the same digest). The
// builder keys its rewrites by the dictionary files' digests instead.
func (d *Dictionary) Digest() string {
	h := sha256.New()
	var buf []byte
	writeRows := func(tag byte, rows map[string]string) {
		keys := make([]string, 0, len(rows))
		for k := range rows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			buf = append(buf[:0], tag)
			buf = binary.AppendUvarint(buf, uint64(len(k)))
			buf = append(buf, k...)
			v := rows[k]
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
			h.Write(buf)
		}
	}
	if d != nil {
		writeRows('g', d.global)
		mods := make([]string, 0, len(d.scoped))
		for m := range d.scoped {
			mods = append(mods, m)
		}
		slices.Sort(mods)
		for _, m := range mods {
			buf = append(buf[:0], 'm')
			buf = binary.AppendUvarint(buf, uint64(len(m)))
			buf = append(buf, m...)
			h.Write(buf)
			writeRows('s', d.scoped[m])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
