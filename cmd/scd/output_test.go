package main

import (
	"fmt"
	"testing"

	"github.com/scdtool/scd/builder"
)

// TestChanged: the summary's "changed" line names at most three files of
// each kind, counts the rest, and leaves out the names it does not have
// (Changes lists the first builder.MaxChangedFiles only).
func TestChanged(t *testing.T) {
	many := make([]string, builder.MaxChangedFiles)
	for i := range many {
		many[i] = fmt.Sprintf("s%02d.js", i)
	}
	cases := []struct {
		name string
		res  builder.Result
		want string
	}{
		{"no record", builder.Result{}, ""},
		{"read back, nothing else", builder.Result{PreviousOutput: builder.PreviousReadBack}, "the output, since it was written"},
		{"one of each", builder.Result{Changes: &builder.Changes{Sources: 1, Dictionaries: 1, Files: []string{"a.js", "fr_FR.csv"}, Config: true}},
			"1 source file (a.js), 1 dictionary (fr_FR.csv), the configuration"},
		{"four sources", builder.Result{Changes: &builder.Changes{Sources: 4, Files: []string{"a.js", "b.js", "c.js", "d.js"}}},
			"4 source files (a.js, b.js, c.js and 1 more)"},
		{"more than are named", builder.Result{Changes: &builder.Changes{Sources: 25, Dictionaries: 2, Files: many}},
			"25 source files (s00.js, s01.js, s02.js and 22 more), 2 dictionaries"},
		{"working directory", builder.Result{Changes: &builder.Changes{WorkDir: true}},
			"the working directory (every job is built again: its records name files relative to it)"},
		{"other", builder.Result{Changes: &builder.Changes{Other: true}}, "the options or how the layout resolves the jobs' files"},
	}
	for _, tc := range cases {
		if got := changed(&tc.res); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
