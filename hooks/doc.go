// Package hooks runs what a deploy does around the switch: warming pages up
// and checking their status and time to first byte, flushing the caches in
// front of the release, and the user's own commands at each step.
package hooks
