// Package publish turns a finished build into a release on a target — a
// local directory (Local) or an S3-compatible bucket (package publish/s3,
// registered for "s3://") — and activates, rolls back, lists and prunes
// releases. It reads builds only through package manifest. Every target
// passes the behavioural suite in publish/publishtest.
//
// # Local target layout
//
//	<root>/
//	  .lock                       flock(2)ed by the one publisher at work; holds its pid
//	  releases.json               the history: {"releases": [Release…]}, oldest first
//	  current -> releases/<id>    the active release (a relative symlink)
//	  releases/<id>/              complete, verified release trees
//	    build.json                the build's own build.json
//	    .complete                 the completion marker, written last (the release
//	                              and its list of hashed assets)
//	    <area>/<Vendor>/<theme>/<locale>/…
//	  releases/.<id>.tmp/         a release being written (removed by the next run)
//	  releases/.<id>.del/         a release being pruned (removed by the next run)
//	  objects/<sha[:2]>/<sha>     the content store: every file once, read-only
//
// Invariants:
//
//   - Every file of a release tree is a hard link to an object, so a file
//     identical to one of any earlier release is stored once and
//     re-publishing an almost unchanged build writes only the changed
//     files (plus build.json, the marker and the history). Objects are
//     created 0444 by rename of a temporary file whose content was hashed
//     while written; an object's name is its sha256. Trees are never
//     modified in place, only added to (below).
//   - A build is verified completely (every file's size and sha256 against
//     build.json) before anything is written; a corrupt build is
//     ErrCorruptBuild and the target is not touched, not even created.
//   - A tree named releases/<id> is complete: it is written as
//     releases/.<id>.tmp, every file and directory fsynced, the marker
//     written and fsynced last, then renamed. Activate refuses a tree
//     without its marker.
//   - current is only ever replaced by rename(2) of a temporary symlink
//     (never unlink + symlink), followed by an fsync of the root: at every
//     instant it names the old release or the new one.
//   - Staging never touches current.
//   - The disk is the truth and releases.json follows it: a run killed
//     between two steps is repaired by the next (see recover): temporary
//     trees are removed, complete trees missing from the history are
//     added from their marker, and the release current names is the
//     active one.
//   - A failed operation changes nothing a reader sees: a failed stage
//     removes its temporary tree and the objects it created; a failed
//     history write after a switch switches back.
//
// # Skew protection
//
// A page rendered by a release references its hashed assets
// (name.[8 hex].ext: manifest entries whose file differs from the logical
// name, and their .gz/.br/.zst sidecars). So that such a page keeps
// working while browsers still hold it, activating a release (Activate or
// Rollback) first hard-links into its tree — before the switch, while no
// reader can see that tree — the hashed assets of the last K activated
// releases (Options.KeepAssets, default 2) that it lacks. They are real
// files reachable through current, so nginx serving the directory gets the
// same guarantee. Names the release has are never replaced: logical names
// (manifest.json, js-translation.json, templates) always come from the
// active release.
//
// # Consistent reads
//
// A reader that resolves current for every file may see two releases in
// one logical read (a manifest from one, an asset from the next). To read
// a consistent set, resolve current once: open it as a directory and read
// relative to that descriptor — Local.OpenActive returns an os.Root opened
// on current, which pins the release it named at that moment. nginx does
// the same per request with
//
//	root /srv/static/current;            # or: alias
//	# with FastCGI/PHP: fastcgi_param DOCUMENT_ROOT $realpath_root;
//
// since it resolves the path of each request once. A pinned release stays
// readable until it is pruned; Prune never removes the active release, its
// rollback target, nor the release active before it.
//
// # Concurrency
//
// One publisher at a time: Stage, Activate, Rollback and Prune take the
// target's flock, waiting at most Options.LockTimeout (then ErrLocked,
// naming the holder's pid). The kernel drops the lock of a dead process.
// Releases and Read take no lock.
//
// # Command line and exit codes
//
//	scd publish --from <build> --to <target> [--activate] [--keep-assets K] [--json]
//	scd activate <id> --to <target>
//	scd rollback [<id>] --to <target>
//	scd releases --to <target> [--json]
//	scd prune --keep N --to <target>
//
// Every command also takes --lock-timeout and -v/--verbose. Exit codes:
// 0 done; 1 the operation failed (a corrupt or missing build, an I/O error
// on the target such as an unwritable root or a full disk, an unreachable
// endpoint); 2 usage (bad flags or arguments, an unknown scheme), an
// unknown release id or nothing to roll back to (ErrUnknownRelease), or
// the target locked past --lock-timeout (ErrLocked). Whatever the code, a
// failed command leaves the target as it was.
package publish
