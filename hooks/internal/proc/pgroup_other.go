//go:build !unix

package proc

import "os/exec"

// setProcessGroup: without process groups, cancellation kills the process
// itself (exec's default).
func setProcessGroup(cmd *exec.Cmd) {}
