package publish_test

import (
	"errors"
	"testing"
	"time"

	"github.com/scdtool/scd/publish"
)

func TestNextReleaseID(t *testing.T) {
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	const build = "9d35a5d4c0ffee"
	for _, c := range []struct{ newest, want string }{
		{"", "20261208T100000Z-9d35a5d4"},
		{"20261208T095959Z-ffffffff", "20261208T100000Z-9d35a5d4"},
		// Within the same second: by the build digest, or when that
		// does not sort after, one second after the newest; the same
		// behind another target's newer id.
		{"20261208T100000Z-00000000", "20261208T100000Z-9d35a5d4"},
		{"20261208T100000Z-ffffffff", "20261208T100001Z-9d35a5d4"},
		{"20261208T110000Z-00000000", "20261208T110001Z-9d35a5d4"},
		// Not an id of ours: a suffix that sorts after it.
		{"zz", "zz-20261208T100000Z-9d35a5d4"},
	} {
		got := publish.NextReleaseID(now, build, c.newest)
		if got != c.want {
			t.Errorf("NextReleaseID after %q = %q, want %q", c.newest, got, c.want)
		}
		if err := publish.CheckReleaseID(got, build, c.newest); err != nil {
			t.Errorf("the id it made is refused: %v", err)
		}
	}
	for _, c := range []struct{ id, newest string }{
		{"20261208T100000Z-9d35a5d4", "20261208T100000Z-9d35a5d4"}, // taken
		{"20261208T095959Z-9d35a5d4", "20261208T100000Z-00000000"}, // older
		{"20261208T100000Z-00000000", ""},                          // another build
		{".20261208T100000Z-9d35a5d4", ""},                         // hidden
		{"a/20261208T100000Z-9d35a5d4", ""},                        // a path
	} {
		if err := publish.CheckReleaseID(c.id, build, c.newest); !errors.Is(err, publish.ErrReleaseID) {
			t.Errorf("CheckReleaseID(%q after %q) = %v, want ErrReleaseID", c.id, c.newest, err)
		}
	}
}
