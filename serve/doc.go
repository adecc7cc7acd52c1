// Package serve is scd's static server: it serves the releases of a local
// target (package publish: <root>/current -> releases/<id>) with zero
// downtime. `scd serve --root <dir>` runs it.
//
// # Serving
//
// Only files are served — GET and HEAD, no directory listing, no index
// files. A request path is refused (404) unless every segment is a plain
// name: no "..", ".", empty or dot-leading segments, backslashes or NULs,
// after percent-decoding, so "/%2e%2e/x" is refused as "/../x" is. Files
// are opened through an os.Root on the release directory, so a symlink
// that leads out of the release is refused as well.
//
// The release root is served at "/". Magento's static signing prefix is
// taken off first: /static/version<digits>/<path> and /version<digits>/<path>
// (for a proxy or CDN that maps Magento's static base URL onto the root)
// serve <path> exactly as /<path> would, and the rules above apply to
// <path>. "version" without digits, or followed by anything but digits and
// a slash, is no version: the path is looked up as it is. So is "/static/"
// alone: unversioned Magento URLs need a proxy that strips "/static".
//
// Responses carry:
//
//   - Content-Type from the extension (a fixed table of web types, then
//     the system's), with X-Content-Type-Options: nosniff.
//   - A strong ETag: the sha256 of the bytes sent (from build.json, or
//     computed once for skew-protection assets), so each encoded variant
//     has its own; If-None-Match answers 304. No Last-Modified: release
//     files are hard links to shared objects whose mtime means nothing.
//   - Range, If-Range and HEAD as net/http's ServeContent implements them;
//     a range of an encoded variant is a range of the encoded bytes.
//   - The precompressed sidecar (.br, .zst, .gz) the client prefers by
//     Accept-Encoding q-values (RFC 9110 §12.5.3; ties go to br, zstd,
//     gzip, then the file itself; no header means identity; q=0 refuses a
//     coding; "identity;q=0" or "*;q=0" with nothing acceptable is 406),
//     with Content-Encoding, and Vary: Accept-Encoding on every response.
//   - Cache-Control: "public, max-age=31536000, immutable" for hashed names
//     (name.[8 hex].ext: the name changes with the bytes) and for any name
//     under /static/version<N>/ when N is the serving release's content
//     version (deployed_version.txt at its root); "no-cache" for logical
//     names (HTML, manifest.json, js-translation.json), revalidated with the
//     ETag — also under a version prefix whose N is not the release's, or
//     when the release has no deployed_version.txt; "no-store" for errors.
//   - X-Scd-Release: the release that answered.
//
// What a request needs to know about a file (its variants, their sizes and
// ETags) is computed on its first request and kept with the release; small
// files (up to 128 KiB, at most Options.CacheBytes per release) are kept in
// memory too. Both are safe only because a release tree never changes, and
// they are what brings small-file throughput near nginx's (an open through
// os.Root walks each path component).
//
// # Switching releases
//
// The active release is an atomic pointer to a reference-counted os.Root
// opened on releases/<id> — the directory current names, resolved once.
// A request takes the pointer once and reads everything from that release,
// so a response never mixes two releases; a switch stores a new pointer,
// and requests in flight finish on the old root (the release itself is
// not pruned while it is active or previous). The server notices a switch
// by watching the root directory for a new current (fsnotify), by polling
// current every PollInterval in case an event is lost, on SIGHUP, and on
// POST /-/reload — which returns only once the new release is served, so
// a deploy knows when the switch is complete.
//
// # Holding requests
//
// POST /-/hold opens a hold: new requests on the public listener wait
// (they are not refused) until DELETE /-/hold, or until the hold's
// deadline — the timeout asked for, at most Options.HoldTimeout (default
// 5m) — whichever comes first: a hold never outlives its deadline, even if
// the deploy that opened it dies. A deploy holds, activates, reloads,
// flushes caches, then releases. Shutdown releases a hold first.
//
// # Preview
//
// A complete release (staged or not) is reachable before activation
// through the preview handler, mounted on --preview-addr and on the admin
// listener:
//
//	GET /-/preview/<id>/<path>             relative links in its HTML keep working
//	GET /<path>  with  X-Scd-Release: <id>  (preview listener only)
//
// # Canary
//
// POST /-/canary {"release": id, "percent": 10} sends that share of clients
// to release id. Clients are sticky: each gets a bucket 0–99 in a cookie
// (scd_bucket) and is on the canary while its bucket is below the share,
// so growing the share never moves a client back. A hashed name missing
// from one side is served from the other (same name, same bytes), and a
// /static/version<N>/ path is served by the side whose content version is
// N, whichever side the cookie chose (the URL names the content). While a
// canary runs, logical names are "private, no-cache", since their content
// depends on the cookie. POST /-/canary/promote activates the canary on
// the target (publish's atomic switch, so it survives a restart);
// /-/canary/abort sends everyone back. The canary itself lives in memory:
// a restart ends it, leaving everyone on the active release.
//
// # Operations
//
// The admin API (see AdminHandler) listens on loopback or a Unix socket by
// default; on any other address a bearer token is required. /-/healthz is
// also answered on the public listener (never held). Metrics are on the
// admin listener at /metrics. Run shuts down gracefully when its context
// ends (SIGTERM, SIGINT).
package serve
