# scd.vcl — Varnish in front of scd's static output (scd serve, or nginx
# serving a release root). Varnish 6.x / 7.x. See README.md.
#
# What it does:
#   - caches everything the origin serves; hashed assets for as long as
#     their Cache-Control says (immutable, a year), logical names (HTML,
#     manifest.json, js-translation.json) for a day, since `scd deploy`
#     flushes them when they change;
#   - accepts PURGE (one URL) and BAN (a URL pattern) from the `purgers`
#     ACL only;
#   - keys staged releases apart from the live one: a request carrying
#     X-Scd-Release: <id> (or under /-/preview/<id>/) is cached under its
#     own key, so warming a release before the switch never changes what
#     live clients get;
#   - keeps the client's Accept-Encoding (normalised) so the origin's
#     precompressed .br/.zst/.gz sidecars are cached per encoding;
#   - says HIT or MISS in X-Cache, for the warm-up report.

vcl 4.1;

import std;

# The origin: scd serve --addr 127.0.0.1:8080 (or nginx).
backend scd {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
}

# Where staged releases are reachable: scd serve --preview-addr
# 127.0.0.1:8081 (X-Scd-Release and /-/preview/<id>/ are served there).
backend scd_preview {
    .host = "127.0.0.1";
    .port = "8081";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
}

# Who may purge and ban: the deploy runs on this machine. Add the deploy
# host's address if it runs elsewhere. Addresses, not names: a name is
# resolved once, when the VCL is loaded.
acl purgers {
    "127.0.0.1";
    "::1";
}

# Who may see a staged release before it is live (the deploy's preview
# warm-up; add QA's network if they review previews through Varnish).
acl previewers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "PURGE not allowed from " + client.ip));
        }
        # Purges the object of this URL, host and release key (no
        # X-Scd-Release header: the live object) in every encoding.
        return (purge);
    }
    if (req.method == "BAN") {
        if (client.ip !~ purgers) {
            return (synth(405, "BAN not allowed from " + client.ip));
        }
        if (!req.http.X-Ban-Url) {
            return (synth(400, "BAN needs an X-Ban-Url header (a regular expression)"));
        }
        # Bans on obj.* only, so the ban lurker can apply them in the
        # background and the ban list does not grow with every deploy.
        if (req.http.X-Ban-Host) {
            if (std.ban("obj.http.X-Scd-Host == " + req.http.X-Ban-Host + " && obj.http.X-Scd-Url ~ " + req.http.X-Ban-Url)) {
                return (synth(200, "Banned"));
            }
        } else if (std.ban("obj.http.X-Scd-Url ~ " + req.http.X-Ban-Url)) {
            return (synth(200, "Banned"));
        }
        return (synth(400, "Bad ban: " + std.ban_error()));
    }

    if (req.method != "GET" && req.method != "HEAD") {
        # A static origin has nothing else to offer.
        return (synth(405, "Method not allowed"));
    }

    # Previews: only from previewers; for anyone else the header is
    # dropped (they get the live release) and the preview path is refused.
    if (client.ip !~ previewers) {
        unset req.http.X-Scd-Release;
        if (req.url ~ "^/-/preview/") {
            return (synth(404, "Not found"));
        }
    }

    if (req.http.X-Scd-Release || req.url ~ "^/-/preview/") {
        set req.backend_hint = scd_preview;
    }

    # Static files do not depend on cookies or credentials; the builtin
    # VCL would not cache a request carrying them. The one exception is
    # scd serve's canary bucket, which decides the release of logical
    # names while a canary runs (those responses are private: not cached).
    if (req.http.Cookie ~ "(^|;\s*)scd_bucket=") {
        set req.http.Cookie = regsub(req.http.Cookie, "^(.*;\s*)?(scd_bucket=[^;]*).*$", "\2");
    } else {
        unset req.http.Cookie;
    }
    unset req.http.Authorization;

    # One cached variant per encoding the origin has sidecars for. Varnish
    # itself rewrites Accept-Encoding to "gzip" or nothing after vcl_recv
    # (http_gzip_support), which would mix br and identity clients; the
    # normalised value lives in X-Scd-AE instead, and objects Vary on it.
    if (req.http.Accept-Encoding ~ "\bbr\b") {
        set req.http.X-Scd-AE = "br";
    } else if (req.http.Accept-Encoding ~ "\bzstd\b") {
        set req.http.X-Scd-AE = "zstd";
    } else if (req.http.Accept-Encoding ~ "\bgzip\b") {
        set req.http.X-Scd-AE = "gzip";
    } else {
        set req.http.X-Scd-AE = "identity";
    }
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    if (req.http.host) {
        hash_data(req.http.host);
    } else {
        hash_data(server.ip);
    }
    # The release key: a staged release's objects never share a hash with
    # the live ones. A live request has no header and hashes as before.
    if (req.http.X-Scd-Release) {
        hash_data("release:" + req.http.X-Scd-Release);
    }
    # Encodings are told apart by Vary on X-Scd-AE (vcl_backend_response),
    # not by the hash: a PURGE then removes every encoding of a URL at once.
    return (lookup);
}

sub vcl_backend_fetch {
    # Varnish replaces Accept-Encoding with "gzip" for the backend; restore
    # the normalised value so br and zstd sidecars are fetched too.
    # X-Scd-AE stays on the backend request: Varnish records the Vary
    # values from it.
    set bereq.http.Accept-Encoding = bereq.http.X-Scd-AE;
    if (bereq.http.Accept-Encoding == "identity") {
        unset bereq.http.Accept-Encoding;
    }
}

sub vcl_backend_response {
    # Recorded on the object for lurker-friendly bans; removed on delivery.
    set beresp.http.X-Scd-Url = bereq.url;
    set beresp.http.X-Scd-Host = bereq.http.host;
    # The origin's sidecar is the encoding we asked for; do not let
    # Varnish recompress or decompress it.
    set beresp.do_gzip = false;
    set beresp.do_gunzip = false;
    # One variant per normalised encoding, even if the origin forgot Vary:
    # vary on X-Scd-AE where the origin says Accept-Encoding.
    if (!beresp.http.Vary) {
        set beresp.http.Vary = "X-Scd-AE";
    } else {
        set beresp.http.Vary = regsuball(beresp.http.Vary, "(?i)\bAccept-Encoding\b", "X-Scd-AE");
        if (beresp.http.Vary !~ "X-Scd-AE") {
            set beresp.http.Vary = beresp.http.Vary + ", X-Scd-AE";
        }
    }

    if (beresp.status >= 500) {
        # Never keep an error of a release being switched.
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (beresp.http.Cache-Control ~ "\b(private|no-store)\b" || beresp.http.Set-Cookie) {
        # Per-client (a canary's logical names) or uncacheable by the
        # origin's word (scd serve's errors): pass, and remember so for a
        # while (hit-for-miss) so requests do not queue on each other.
        set beresp.uncacheable = true;
        set beresp.ttl = 60s;
        return (deliver);
    }
    if (beresp.status >= 400) {
        # A 404 may be a file the next release adds: keep it briefly.
        set beresp.ttl = 10s;
        set beresp.grace = 0s;
        return (deliver);
    }
    if (beresp.http.Cache-Control ~ "\bimmutable\b") {
        # Hashed assets: the name changes with the content, so the copy is
        # never stale. Keep it as long as the origin allows (RFC 8246).
        if (beresp.ttl < 1d) {
            set beresp.ttl = 365d;
        }
        set beresp.grace = 1d;
        return (deliver);
    }
    # Logical names: browsers revalidate (the origin's Cache-Control goes
    # through unchanged), Varnish keeps them until the deploy flushes them.
    set beresp.ttl = 1d;
    set beresp.grace = 10s;
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    # Clients and CDNs downstream know the standard name.
    set resp.http.Vary = regsuball(resp.http.Vary, "X-Scd-AE", "Accept-Encoding");
    unset resp.http.X-Scd-Url;
    unset resp.http.X-Scd-Host;
}
