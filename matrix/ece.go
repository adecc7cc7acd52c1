package matrix

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// ECEFile names SCD_MATRIX in messages: it comes from the environment, not
// a file, but users know it by that name.
const ECEFile = "SCD_MATRIX"

// ECE is SCD_MATRIX in the shape Magento Cloud's ece-tools reads, so that
// existing .magento.env.yaml settings carry over:
//
//	{"Acme/shop": {"language": ["en_US", "fr_FR"]}, "Acme/base": []}
//
// Keys are theme names as written; they match themes case-insensitively,
// as in ece-tools.
type ECE map[string]ECETheme

// ECETheme is the SCD_MATRIX setting of one theme. Skip means "do not
// deploy": ece-tools' `[]`, null, `{}` or `{"language": []}`. Otherwise
// Languages narrows the theme's locales.
type ECETheme struct {
	Skip      bool
	Languages []string

	// line and col locate the key in SCD_MATRIX, for Jobs to point at an
	// unknown theme name.
	line, col int
}

// Lookup returns the setting for the theme called name, matched
// case-insensitively.
func (e ECE) Lookup(name string) (ECETheme, bool) {
	if t, ok := e[name]; ok {
		return t, true
	}
	for k, t := range e {
		if strings.EqualFold(k, name) {
			return t, true
		}
	}
	return ECETheme{}, false
}

// ParseECE reads SCD_MATRIX, YAML or JSON (which YAML reads too). Empty
// input is an empty matrix: an unset variable narrows nothing. Unlike
// ece-tools, which warns and goes on, anything it does not understand is
// an error, since a typo would otherwise deploy what the user meant to
// skip.
func ParseECE(data []byte) (ECE, error) {
	r := &reader{file: ECEFile, src: data}
	root, empty := r.document()
	if empty {
		return ECE{}, nil
	}
	if root == nil {
		return nil, r.err()
	}
	if root.Kind != yaml.MappingNode {
		r.at(root, "expected a mapping of theme names, got %s", describe(root))
		return nil, r.err()
	}
	pairs := r.pairs(root)
	out := ECE{}
	seen := map[string]string{}
	for _, kv := range pairs {
		name := kv.key.Value
		if !themeNameRe.MatchString(name) {
			r.at(kv.key, "invalid theme name %s: expected Vendor/name", quote(name))
			continue
		}
		if first, dup := seen[strings.ToLower(name)]; dup {
			r.at(kv.key, "duplicate theme %q (also given as %q)", name, first)
			continue
		}
		seen[strings.ToLower(name)] = name
		t, ok := r.eceTheme(name, kv.val)
		if !ok {
			continue
		}
		t.line, t.col = r.pos(kv.key)
		out[name] = t
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// eceTheme reads the value of one theme: null or [] (skip), or a mapping
// with an optional `language` list.
func (r *reader) eceTheme(name string, n *yaml.Node) (ECETheme, bool) {
	v := resolve(n)
	switch {
	case isNull(v):
		return ECETheme{Skip: true}, true
	case v.Kind == yaml.SequenceNode:
		if len(v.Content) == 0 {
			return ECETheme{Skip: true}, true
		}
	case v.Kind == yaml.MappingNode:
		t := ECETheme{}
		ok := true
		for _, kv := range r.pairs(v) {
			if kv.key.Value != "language" {
				r.at(kv.key, "%s: unknown key %q: expected language", name, kv.key.Value)
				ok = false
				continue
			}
			items, iok := r.list(name+".language", kv.val)
			if !iok {
				ok = false
				continue
			}
			if len(items) == 0 {
				continue
			}
			langs, lok := r.locales(name+".language", kv.val)
			ok = ok && lok
			t.Languages = langs
		}
		t.Skip = len(t.Languages) == 0
		return t, ok
	}
	r.at(n, "%s: expected {language: [...]} or [] (do not deploy), got %s", name, describe(v))
	return ECETheme{}, false
}
