package s3

import (
	"testing"

	"github.com/scdtool/scd/publish"
	"github.com/scdtool/scd/publish/publishtest"
)

// TestSuite runs the behavioural suite shared with the local target
// against a real S3 server.
func TestSuite(t *testing.T) {
	needServer(t)
	publishtest.Run(t, func(t *testing.T) publish.Target {
		tg, _ := openTarget(t, nil)
		return tg
	})
}
