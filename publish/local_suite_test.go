//go:build unix

package publish_test

import (
	"path/filepath"
	"testing"

	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/publish/publishtest"
)

func TestLocalSuite(t *testing.T) {
	publishtest.Run(t, func(t *testing.T) publish.Target {
		tg, err := publish.Open(filepath.Join(t.TempDir(), "target"), publish.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	})
}
