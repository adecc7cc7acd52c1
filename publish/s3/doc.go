// Package s3 publishes releases to an S3-compatible object store
// (`--to s3://bucket/prefix`). Importing it registers the "s3" scheme with
// package publish.
//
// # Bucket layout
//
// Under the prefix P (the URL path, may be empty):
//
//	P/assets/<job dir>/<hashed name>   content-hashed assets and their .gz/.br/.zst
//	                                    sidecars: immutable, shared by every release,
//	                                    uploaded once
//	P/assets.json                      inventory of P/assets: path → sha256, size
//	P/releases/<id>/<path>             the non-hashed files of a release (build.json,
//	                                    manifest.json, js-translation.json, templates
//	                                    and their sidecars), under their real paths
//	P/releases/<id>/release.json       the release record, written last: a release
//	                                    without it is incomplete and invisible
//	P/index/<id>.json                  the hashed asset paths of release id; outlives
//	                                    a pruned release while it is in the skew window
//	P/history.json                     statuses and activation times
//	P/current                          the pointer: {"id": …, "activated": …}
//	P/.lock                            the publisher lock
//
// # Re-publishing: server-side copies
//
// Every release directory is complete (all its non-hashed files under
// their real paths), so that a CDN or web server can serve
// P/releases/<id>/ as a plain origin path with no lookup table. Stage
// fills it without uploading what the bucket already holds: a non-hashed
// file whose sha256 equals the same path's in the newest complete release
// (or, after a rollback, the active one) is a server-side CopyObject from
// that release's directory — no bytes sent, headers set afresh — and only
// changed files are uploaded; so is P/index/<id>.json when it is
// identical. The digests of the source release come from its build.json
// minus its index (its hashed paths). Re-publishing the same build thus
// uploads 3 control objects (release.json, history, lock); a build in
// which 1% of the files changed uploads those files and ~5 control
// objects. (CopyObject is still one request per file, billed like a PUT.)
//
// The alternative, a content-addressed store for non-hashed files plus a
// per-release path → object map, would save those requests but break the
// property above: logical names would need a lookup per request, which a
// CDN in front of the bucket cannot do. Copies keep the layout, and keep
// each release directory self-contained, which is also why prune can
// delete a directory without reference counting.
//
// Hashed assets get real paths (not an object-id store) so that a CDN or a
// web server in front of the bucket can serve P/assets/ directly; logical
// names are served from P/releases/<current id>/. A path is "hashed" when a
// job's manifest.json publishes it under a name different from its logical
// name (the builder inserts the content hash), or is a sidecar of one.
//
// # Invariants
//
//   - P/current only ever names a release whose release.json exists: Stage
//     writes release.json after every other object of the release, and
//     Activate checks it before writing the pointer. A single PUT is atomic
//     in S3, so readers see the old pointer or the new one.
//   - Stage never touches P/current. Upload order: hashed assets, then
//     P/assets.json, P/index/<id>.json, the non-hashed files (uploaded or
//     copied), release.json and the history entry. A copy source cannot
//     be pruned meanwhile: Prune takes the same lock; a source object
//     missing anyway is uploaded instead. A Stage cancelled or killed at any point leaves
//     only unreferenced objects behind (Prune removes them later).
//   - The upload diff is by build.json digest against P/assets.json (or,
//     when it is missing, the indexes of earlier releases), never by ETag:
//     ETags of multipart uploads are not content digests. An asset already
//     recorded with the same sha256 is not uploaded again. The inventory is
//     trusted: objects deleted behind scd's back are not detected.
//   - Objects are deleted only by Prune, after the switch. Shared objects
//     (assets and indexes, which pages of other releases use) are never
//     deleted more than Config.MaxDeletes in one run: exceeding it is an
//     error that deletes nothing. The directories of the pruned releases
//     (thousands of templates each in a real build) and leftovers of failed
//     stages are not capped: keep already names exactly what goes. Prune drops entries from P/assets.json before deleting their
//     objects, so a crash leaves the inventory claiming less, never more.
//   - The build is verified against build.json (size and sha256 of every
//     file) before anything is uploaded; a mismatch is ErrCorruptBuild.
//
// # Skew protection
//
// Hashed assets of the active release and of the previous
// Options.KeepAssets activated releases stay in P/assets even when those
// releases are pruned (their P/index entries are kept until they leave the
// window). Read serves exactly that set, as the local target does.
//
// # Consistent reads
//
// The pointer is one object, so a reader that reads it once and builds
// every path of a logical read from the id it got (OpenActive returns such
// a View) reads one release: P/releases/<id>/ for logical names and
// P/assets/ for the hashed names its manifests give, whatever is activated
// or rolled back meanwhile. A View stays valid until its release is
// pruned. Target.Read resolves the pointer on every call.
//
// # Lock
//
// One publisher at a time: P/.lock is created with a conditional PUT
// (If-None-Match: *), which S3 (since 2024), MinIO and the Versity gateway
// honour; it holds pid, host, time and a random nonce, and is refreshed
// while the operation runs. A waiting publisher retries with backoff until
// Options.LockTimeout (then ErrLocked, naming the holder).
//
// A publisher killed with SIGKILL leaves its lock behind. It is removed
// when its holder is known dead: on Linux the lock also records the
// holder's pid namespace and process start time (from /proc), so a
// publisher on the same host and pid namespace sees at once that the pid
// is gone, a zombie, or reused by a younger process, and takes the lock
// without waiting. A lock from another host or namespace (a CI runner, a
// container) cannot be checked that way and is removed when not refreshed
// for Config.StaleLock (default 2m): a re-run after a crash elsewhere
// needs --lock-timeout above that. An operation cancelled while its lock's
// PUT was on its way removes the lock if it finds it, but the server may
// store it only after that look: such a lock names the very process that
// is waiting with a nonce none of its operations holds, and is removed at
// once. After creating the lock the publisher reads it back
// and checks its nonce, which catches a server that silently ignores the
// condition in the common, non-simultaneous case; on such servers two truly
// simultaneous publishers are not excluded.
//
// # Configuration
//
// Endpoint, region and credentials come from the environment
// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or
// AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) and may be overridden in the URL query:
//
//	s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true
//	    &max_deletes=256&workers=16&cache_control=public,max-age=60,must-revalidate
//
// `scd prune --max-deletes N` sets max_deletes (the flag wins over the
// query); the local target has no delete cap, and the flag is a usage
// error there rather than a silent no-op.
//
// Uploads run on Config.Workers goroutines (default 16); every request is
// retried with exponential backoff and jitter on network errors, 5xx, 429
// and SlowDown, up to Config.MaxRetries attempts. Errors that retrying
// cannot fix (access denied, bad signature, missing bucket) fail at once.
//
// Headers: Content-Type by extension; Cache-Control "public,
// max-age=31536000, immutable" for hashed assets and Config.CacheControl
// (default "public, max-age=60, must-revalidate") for the rest; a sidecar
// (x.js.br) is stored with Content-Encoding (br) and the Content-Type of
// the original (x.js).
package s3
