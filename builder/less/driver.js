// scd's less.js worker (embedded in the scd binary, run as `node -e`; see pool.go).
//
// Protocol: newline-delimited JSON. stdout carries only protocol lines; anything
// else less or node would print goes to stderr.
//
//   worker → scd, once at start:  {"ready":true,"node":"v20.1.0","less":"4.9.1","dir":"…"}
//                             or  {"fatal":"…","missing":true|false}, then exit 3
//   scd → worker, one request:    {"id":1,"root":"css/a.less","files":{"path":"text"},
//                                  "bin":{"path":"base64"},"sourceMap":false}
//   worker → scd, one reply:      {"id":1,"css":"…","map":"…","imports":[…],"warnings":[…]}
//                             or  {"id":1,"error":{…},"imports":[…],"warnings":[…]}
//
// Requests are handled one at a time, in order. Files are resolved only
// against the request's map; nothing is read from disk.
'use strict';

const path = require('path');
const { createRequire } = require('module');

const out = process.stdout;
const send = (obj) => out.write(JSON.stringify(obj) + '\n');

// Keep stdout for the protocol: console output from less or a dependency goes to stderr.
for (const k of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
    console[k] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}

function fatal(message, missing) {
    out.write(JSON.stringify({ fatal: message, missing: !!missing }) + '\n', () => process.exit(3));
}

// loadLess returns less, or null after reporting why it cannot be used.
// Where less comes from: SCD_LESS_RESOLVED (a directory whose node_modules
// holds less, chosen by scd), else require.resolve('less') from the working
// directory.
function loadLess() {
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    if (nodeMajor < 18) {
        fatal(`node ${process.version} is too old for less 4 (node >= 18 is needed)`, false);
        return null;
    }
    const base = process.env.SCD_LESS_RESOLVED || process.cwd();
    const tried = process.env.SCD_LESS_RESOLVED ? base : `${base} (and its parents)`;
    let main;
    try {
        main = createRequire(path.join(base, 'scd-less-driver.js')).resolve('less');
    } catch (e) {
        fatal(`less not found in the node_modules of ${tried}`, true);
        return null;
    }
    // The package's directory (for messages): the nearest parent named less.
    let dir = path.dirname(main);
    while (path.basename(dir) !== 'less' && path.dirname(dir) !== dir) { dir = path.dirname(dir); }
    let l;
    try {
        l = require(main);
    } catch (e) {
        fatal(`less at ${dir} does not load: ${e && e.message}`, false);
        return null;
    }
    const v = l.version || [];
    if (v[0] !== 4) {
        fatal(`less ${v.join('.')} at ${dir} is not less 4 (scd needs less 4.x; it is tested with 4.9.1)`, true);
        return null;
    }
    lessDir = dir;
    return l;
}

let lessDir = '';
const less = loadLess();
if (less) { serve(); }

function serve() {
    // Warnings: less reports them through its logger as formatted strings
    // ("TYPE: text in file on line L, column C:\n…"); they belong to the request
    // being compiled (one at a time).
    let current = null;
    less.logger.addListener({
        warn(msg) {
            if (current) { current.warnings.push(parseWarning(String(msg), current.files)); }
        },
    });

    function parseWarning(msg, files) {
        const first = msg.split('\n')[0];
        const m = / on line (\d+), column (\d+):$/.exec(first);
        if (m) {
            const head = first.slice(0, m.index);
            // The file name is the longest known logical path that ends the head after " in ".
            let i = head.lastIndexOf(' in ');
            while (i >= 0) {
                const file = head.slice(i + 4);
                if (files.has(file)) {
                    return { file, line: Number(m[1]), col: Number(m[2]), text: head.slice(0, i) };
                }
                i = head.lastIndexOf(' in ', i - 1);
            }
            return { file: '', line: Number(m[1]), col: Number(m[2]), text: head };
        }
        return { file: '', line: 0, col: 0, text: msg.trim() };
    }

    // The in-memory file manager: logical slash-separated paths, resolved
    // relative to the importing file's directory as less resolves relative imports.
    class MapFileManager extends less.AbstractFileManager {
        constructor(req) {
            super();
            this.req = req;
        }
        supports() { return true; }
        supportsSync() { return true; }
        resolve(filename, currentDirectory, options) {
            if (options && options.ext) {
                filename = this.tryAppendExtension(filename, options.ext);
            }
            let p;
            if (filename.startsWith('/')) {
                p = filename.replace(/^\/+/, '');
            } else if (/^[a-z][a-z0-9+.-]*:/i.test(filename)) {
                return null; // a URL (http:, data:, …): never fetched
            } else {
                p = path.posix.join(currentDirectory || '', filename);
            }
            p = path.posix.normalize(p).replace(/^(\.\/)+/, '');
            if (p === '..' || p.startsWith('../')) { return null; }
            return p;
        }
        load(filename, currentDirectory, options) {
            if (options && (options.mime === 'application/javascript' || options.ext === '.js')) {
                return { error: { type: 'File', message: `@plugin "${filename}" is not supported by scd (plugins would run JavaScript)` } };
            }
            const req = this.req;
            const p = this.resolve(filename, currentDirectory, options);
            let contents;
            if (p !== null && Object.prototype.hasOwnProperty.call(req.files, p)) {
                contents = options && options.rawBuffer ? Buffer.from(req.files[p], 'utf8') : req.files[p];
            } else if (p !== null && Object.prototype.hasOwnProperty.call(req.bin, p)) {
                const buf = Buffer.from(req.bin[p], 'base64');
                contents = options && options.rawBuffer ? buf : buf.toString('latin1');
            } else {
                return { error: { type: 'File', message: `'${filename}' wasn't found` + (p !== null && p !== filename ? ` (looked for ${p})` : '') } };
            }
            req.read.add(p);
            return { contents, filename: p };
        }
        loadFile(filename, currentDirectory, options, environment, callback) {
            // less passes a callback but also uses the returned promise: answer once, through the promise.
            const r = this.load(filename, currentDirectory, options);
            return r.error ? Promise.reject(r.error) : Promise.resolve(r);
        }
        loadFileSync(filename, currentDirectory, options) {
            return this.load(filename, currentDirectory, options);
        }
    }

    // Functions that read files from disk in less-node: not available here.
    for (const name of ['image-size', 'image-width', 'image-height']) {
        less.functions.functionRegistry.add(name, function () {
            throw { type: 'Argument', message: `${name}() is not supported by scd (it reads images from disk)` };
        });
    }

    function errorOf(e, req) {
        if (e && typeof e === 'object' && (e.type || e.filename || e.line != null) && !(e instanceof TypeError) && !(e instanceof RangeError)) {
            return {
                type: String(e.type || 'Syntax'),
                message: String(e.message || e),
                filename: e.filename && e.filename !== 'input' ? String(e.filename) : req.root,
                line: typeof e.line === 'number' ? e.line : 0,
                col: typeof e.column === 'number' ? e.column + 1 : 0,
                extract: Array.isArray(e.extract) && typeof e.extract[1] === 'string' ? e.extract[1] : '',
            };
        }
        // Not a LESS error: a bug in less or in this driver.
        return { internal: String((e && e.stack) || e) };
    }

    async function handle(req) {
        req.files = req.files || {};
        req.bin = req.bin || {};
        req.read = new Set([req.root]);
        const known = new Set([...Object.keys(req.files), ...Object.keys(req.bin)]);
        current = { warnings: [], files: known };
        const reply = { id: req.id };
        try {
            const input = req.files[req.root];
            if (input === undefined) {
                throw { type: 'File', message: `'${req.root}' wasn't found (the root is not in the file map)`, filename: req.root };
            }
            const opts = {
                filename: req.root,
                math: 'always',
                rewriteUrls: 'off',
                javascriptEnabled: false,
                paths: [],
                plugins: [{ install(l, pm) { pm.addFileManager(new MapFileManager(req)); } }],
            };
            if (req.sourceMap) {
                opts.sourceMap = {
                    outputSourceFiles: true,
                    disableSourcemapAnnotation: true,
                    sourceMapBasepath: '', // sources keep their logical paths (less defaults to stripping the root's directory)
                    sourceMapOutputFilename: path.posix.basename(req.root).replace(/\.less$/, '') + '.css',
                };
            }
            const res = await less.render(input, opts);
            reply.css = res.css;
            if (req.sourceMap && res.map) { reply.map = res.map; }
        } catch (e) {
            reply.error = errorOf(e, req);
        }
        reply.imports = [...req.read].sort();
        reply.warnings = current.warnings;
        current = null;
        send(reply);
    }

    // stdin: one JSON request per line, handled in order.
    // At the end of stdin (scd's Close) node exits by itself once the request
    // in hand is answered and stdout flushed.
    const queue = [];
    let busy = false;
    async function pump() {
        if (busy) { return; }
        busy = true;
        while (queue.length) {
            const line = queue.shift();
            let req;
            try {
                req = JSON.parse(line);
            } catch (e) {
                send({ id: 0, error: { internal: `bad request line: ${e.message}` } });
                continue;
            }
            await handle(req);
        }
        busy = false;
    }

    let chunks = [];
    process.stdin.on('data', (chunk) => {
        let start = 0;
        for (;;) {
            const nl = chunk.indexOf(10, start);
            if (nl < 0) { break; }
            chunks.push(chunk.subarray(start, nl));
            const line = Buffer.concat(chunks).toString('utf8');
            chunks = [];
            if (line.trim() !== '') { queue.push(line); }
            start = nl + 1;
        }
        if (start < chunk.length) { chunks.push(chunk.subarray(start)); }
        pump();
    });

    send({ ready: true, node: process.version, less: less.version.join('.'), dir: lessDir });
}
