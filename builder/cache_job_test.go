package builder_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
)

// jobRecords lists the job records in a cache directory.
func jobRecords(t *testing.T, cache string) []string {
	t.Helper()
	recs, err := filepath.Glob(filepath.Join(cache, "v1", "job", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// jobsOf counts the jobs of a result whose id has locale.
func jobsOf(res *builder.Result, locale string) int {
	n := 0
	for _, j := range res.Jobs {
		if strings.Contains(j.ID, "/"+locale) {
			n++
		}
	}
	return n
}

// TestMagentoJobRecords: a rebuild takes the files of every job a change
// does not reach from its record, and the output is a cold build's; a
// damaged record, a record the output no longer matches and a record of
// a build whose state was never saved (a build killed after writing its
// records) each make their job build, never a wrong output.
func TestMagentoJobRecords(t *testing.T) {
	skip := builder.Skip{CSS: !haveLess(t)}
	root, tmp := t.TempDir(), t.TempDir()
	if err := fixtures.CopyDir(fixtures.Dir("magento"), root); err != nil {
		t.Fatal(err)
	}
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	o := builder.Options{CacheDir: cache, Skip: skip}
	build := func() *builder.Result {
		t.Helper()
		return magentoBuild(t, root, out, "", matrix.Filter{}, o)
	}
	n := 0
	equalsCold := func(what string) {
		t.Helper()
		n++
		cold := filepath.Join(tmp, "cold", what)
		magentoBuild(t, root, cold, "", matrix.Filter{}, builder.Options{Skip: skip})
		sameTree(t, what, treeSums(t, out), treeSums(t, cold))
	}

	first := build()
	jobs := len(first.Jobs)
	de := jobsOf(first, "de_DE")
	if first.Stats.JobsReused != 0 || de == 0 || de == jobs {
		t.Fatalf("cold build: %d jobs reused of %d, %d of de_DE; want none reused, some de_DE jobs and others", first.Stats.JobsReused, jobs, de)
	}
	if got := len(jobRecords(t, cache)); got != jobs {
		t.Fatalf("cold build left %d job records, want one per job (%d)", got, jobs)
	}
	ageSources(t, root)

	// A row of the German pack reaches the de_DE jobs only.
	appendSrc(t, root, "app/i18n/acme/de_de/b.csv", "\"Next\",\"Nächste\"\n")
	if res := build(); res.Stats.JobsReused != int64(jobs-de) {
		t.Errorf("a row of the de_DE pack: %d jobs reused, want %d (all but de_DE's)", res.Stats.JobsReused, jobs-de)
	}
	equalsCold("pack row")

	// Damaged records: each is cut short, emptied or has a byte changed;
	// every job is built, and the output is right.
	for i, rec := range jobRecords(t, cache) {
		data, err := os.ReadFile(rec)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			data = data[:len(data)/2]
		case 1:
			data = nil
		default:
			data[len(data)-3] ^= 0x55
		}
		if err := os.WriteFile(rec, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appendSrc(t, root, "app/i18n/acme/de_de/b.csv", "\"Back\",\"Zurück\"\n")
	if res := build(); res.Stats.JobsReused != 0 {
		t.Errorf("every record damaged: %d jobs reused, want none", res.Stats.JobsReused)
	}
	equalsCold("damaged records")

	// Every copy of a content of a clean job removed from the output by
	// hand (its js-translation.json, which is its own): that job builds.
	res := build() // up to date
	var victim string
	for _, j := range res.Jobs {
		if strings.HasSuffix(j.ID, "/fr_FR") {
			victim = j.ID
			break
		}
	}
	sums := treeSums(t, out)
	gone := sums[victim+"/js-translation.json"]
	if gone == "" {
		t.Fatalf("%s has no js-translation.json", victim)
	}
	for rel, sum := range sums {
		if sum == gone {
			if err := os.Remove(filepath.Join(out, filepath.FromSlash(rel))); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendSrc(t, root, "app/i18n/acme/de_de/b.csv", "\"Close\",\"Schließen\"\n")
	if res := build(); res.Stats.JobsReused >= int64(jobs-de) {
		t.Errorf("the translations of %s removed from the output: %d jobs reused, want fewer than %d", victim, res.Stats.JobsReused, jobs-de)
	}
	equalsCold("output changed by hand")

	// Records of jobs no build lists any more go: never more than the
	// last two builds' worth.
	for i := range 4 {
		appendSrc(t, root, "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", "\n// "+string(rune('a'+i))+"\n")
		build()
	}
	if got := len(jobRecords(t, cache)); got > 2*jobs {
		t.Errorf("%d job records after four builds, want at most %d", got, 2*jobs)
	}
	equalsCold("after pruning")

	// The state of the build before put back (a build killed after its
	// swap and records, a cache restored from elsewhere): the records are
	// of sources that state never saw.
	states := filepath.Join(cache, "v1", "state")
	saved := filepath.Join(tmp, "state-before")
	if err := fixtures.CopyDir(states, saved); err != nil {
		t.Fatal(err)
	}
	appendSrc(t, root, "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", "\n// changed\n")
	build()
	if err := os.RemoveAll(states); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CopyDir(saved, states); err != nil {
		t.Fatal(err)
	}
	appendSrc(t, root, "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", "\n// and again\n")
	build()
	equalsCold("state of the build before")
}
