// Package deploy runs `scd deploy`: the "Deploy sequence" of DESIGN.md as
// a pipeline of small steps, in the GoReleaser style — each step is a value
// with a String() and a Run(ctx, *Context), and the order lives in one
// list, Pipeline, so the sequence can be read (and reviewed) in one place:
//
//	pre_build hooks → build (or --from) → post_build hooks → verify the build
//	→ stage on every target → warm up the staged release through its preview
//	address → pre_activate hooks → hold new requests (servers with --admin)
//	→ activate, target by target, each checked before the next → flush
//	caches → release held requests → warm up the live pages → verify
//	→ post_deploy hooks → prune
//
// # Why the order
//
// Everything that can fail without users noticing happens before the
// first Activate: the build is verified file by file, staged on every
// target, and its pages are requested through the preview address, so a
// release that 404s or blows its TTFB budget is never switched to. From
// the first Activate on, the deploy has changed what users get, and any
// failure — a target that does not come up on the release, a flush that
// fails with on_failure: fail, a live warm-up or verification that fails,
// a post_deploy hook — rolls back every target already switched: the
// previous release is activated again (publish's atomic switch), servers
// reload it, and the caches are flushed again, since they may meanwhile
// hold pages of the bad release. Prune is the one step whose failure is
// only a warning: the release is live and fine, only disk space is at
// stake.
//
// Several targets (--to repeated) are staged first, all of them under one
// release id (it sorts after every target's releases, so {release} in a
// preview address names the same release on any server), then activated
// one at a time, each checked (reload through its admin API,
// /-/release names the release, /-/healthz answers) before the next, so a
// release that breaks on one machine is stopped there.
//
// A flush target that stays down after its retries is never silent: with
// on_failure: fail (the default) the deploy fails and rolls back; with
// on_failure: continue the step ends in status "warning" and the report
// names the target and its error.
//
// # Exit codes
//
//	0  deployed (or, with --dry-run, the plan was printed)
//	1  a step failed before any target was switched: users were not
//	   affected; staged releases are left for prune
//	2  usage or configuration error (flags, themes.yml): nothing was done
//	4  a step failed after a switch, and every switched target was rolled
//	   back to the release it had before: users are on the old release
//	   (a failure of the second flush is logged and in the report, but
//	   does not change the code: the targets are back)
//	5  a step failed after a switch and rolling a target back failed, or
//	   there was no earlier release to go back to (a first deploy): some
//	   target may still serve the new release; the report says which
//
// on_failure hooks run for codes 1, 4 and 5, with SCD_ERROR and
// SCD_ROLLED_BACK set.
package deploy
