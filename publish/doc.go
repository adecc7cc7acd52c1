// Package publish turns a finished build into a release on a target — a
// local directory with a release tree per build and a `current` symlink
// switched atomically, or an S3-compatible bucket — and activates, rolls
// back, lists and prunes releases. It reads builds only through package
// manifest.
package publish
