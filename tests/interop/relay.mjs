// Starts and stops the real ostrich binary for the interop tests.
//
// Each relay gets a fresh temporary directory holding its config file and
// SQLite database, listens on a port the kernel picks (port = 0) and is
// found through the "listening on ws://127.0.0.1:PORT" line it logs. stop()
// sends SIGTERM and reports how the process ended; the tests assert a clean
// exit (code 0). A failing or interrupted test file never leaves a relay
// behind: an exit hook kills any still running, and the relay is started
// with a parent-death signal as well. Temporary directories are removed
// when the test file ends.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

// Every wait in these tests is on a condition with this deadline. It is
// generous because the sanitizer build runs the same tests and is slow.
export const DEADLINE_MS = Number(process.env.OSTRICH_TEST_DEADLINE_MS || 60000);

// Time limit for a single test(), well above any one wait.
export const TEST_TIMEOUT_MS = 4 * DEADLINE_MS;

const running = new Set();

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));

function killAll() {
    for (const child of running) {
        try {
            child.kill('SIGKILL');
        } catch {
            // Already gone.
        }
    }
    running.clear();
}

// Prepended, so that they run before the test runner's own handlers: when
// the runner is interrupted, its handlers may exit the process (or fail
// writing a report to a closed pipe) before later listeners run.
process.prependListener('exit', () => {
    killAll();
    removeTempDirs();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.prependOnceListener(sig, () => {
        killAll();
        // Without another listener the signal would now be ignored: exit as
        // the default action would have.
        if (process.listenerCount(sig) === 0) {
            process.exit(128 + os.constants.signals[sig]);
        }
    });
}

export function relayBinary() {
    const bin = process.env.OSTRICH_BIN;
    if (!bin) {
        throw new Error(
            'OSTRICH_BIN is not set: point it at the ostrich binary, e.g. ' +
                'OSTRICH_BIN=$PWD/../../build/release/relay/ostrich node --test'
        );
    }
    if (!fs.existsSync(bin)) {
        throw new Error(`OSTRICH_BIN=${bin} does not exist: build the ostrich target first`);
    }
    return bin;
}

const tempDirs = [];

// Removed when the test file's process exits, unless OSTRICH_KEEP_TMP is set
// (to look at a failed run's database and config).
function removeTempDirs() {
    if (process.env.OSTRICH_KEEP_TMP) {
        return;
    }
    for (const dir of tempDirs.splice(0)) {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

// A fresh directory for one relay (or for one relay and its restarts).
export function makeTempDir(tag = 'relay') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ostrich-interop-${tag}-`));
    tempDirs.push(dir);
    return dir;
}

function tomlString(s) {
    return JSON.stringify(String(s));
}

// Writes the config file into dir and returns its path. `limits`, `relay`,
// `storage` override single keys of the defaults below; `search`, `auth`
// and `nips`, when given, are written as the [search], [auth] and [nips]
// tables (booleans and numbers only), and `opensearch` as
// [storage.opensearch].
export function writeConfig(
    dir,
    {
        relay = {},
        limits = {},
        storage = {},
        search = null,
        auth = null,
        nips = null,
        opensearch = null,
        logLevel = 'info',
    } = {}
) {
    const r = {
        bind: '127.0.0.1',
        port: 0,
        name: 'test relay',
        description: 'interop test relay',
        tls_cert: '',
        tls_key: '',
        ...relay,
    };
    const l = {
        max_message_bytes: 131072,
        max_event_tags: 2000,
        max_content_bytes: 65536,
        created_at_upper_limit: 900,
        max_subscriptions: 64,
        max_filters: 16,
        max_limit: 5000,
        default_limit: 500,
        ...limits,
    };
    const s = { batch_size: 256, batch_wait_ms: 0, ...storage };
    const lines = ['[relay]'];
    for (const [k, v] of Object.entries(r)) {
        lines.push(`${k} = ${typeof v === 'string' ? tomlString(v) : v}`);
    }
    lines.push('', '[limits]');
    for (const [k, v] of Object.entries(l)) {
        lines.push(`${k} = ${v}`);
    }
    const value = (v) => (typeof v === 'string' ? tomlString(v) : v);
    lines.push('', '[storage]');
    for (const [k, v] of Object.entries(s)) {
        lines.push(`${k} = ${value(v)}`);
    }
    lines.push('', '[storage.sqlite]', `path = ${tomlString(path.join(dir, 'ostrich.db'))}`);
    if (opensearch !== null) {
        lines.push('', '[storage.opensearch]');
        for (const [k, v] of Object.entries(opensearch)) {
            lines.push(`${k} = ${value(v)}`);
        }
    }
    for (const [table, values] of [['search', search], ['auth', auth], ['nips', nips]]) {
        if (values !== null) {
            lines.push('', `[${table}]`);
            for (const [k, v] of Object.entries(values)) {
                lines.push(`${k} = ${v}`);
            }
        }
    }
    lines.push('', '[log]', `level = ${tomlString(logLevel)}`, '');
    const file = path.join(dir, 'ostrich.toml');
    fs.writeFileSync(file, lines.join('\n'));
    return file;
}

// A self-signed certificate for 127.0.0.1, made with the openssl command.
// Returns { cert, key } paths and the certificate text as `ca`.
export function makeCertificate(dir) {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(
        'openssl',
        [
            'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
            '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
            '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] }
    );
    return { cert, key, ca: fs.readFileSync(cert, 'utf8') };
}

const LISTENING = /listening on (wss?):\/\/([^\s:]+):(\d+)/;

// Starts the binary on the config in `dir` (written by writeConfig) and
// resolves once it logs its listening line. The returned handle has url,
// httpUrl, port, dir, stderr() and stop().
export async function startRelay(dir, { deadlineMs = DEADLINE_MS } = {}) {
    const bin = relayBinary();
    const config = path.join(dir, 'ostrich.toml');
    const args = ['--config', config];
    // setpriv (util-linux) sets the parent-death signal and then execs the
    // relay, so the relay is killed even when this process dies without
    // running its exit handlers (node's runner can end a test file that way
    // when it is interrupted). The pid stays the relay's own.
    const child = SETPRIV
        ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', bin, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let log = '';
    const exited = new Promise((resolve) => {
        child.on('exit', (code, signal) => {
            running.delete(child);
            resolve({ code, signal });
        });
    });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
        log += d;
    });

    const listening = new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            reject(new Error(`relay did not log its listening line within ${deadlineMs} ms:\n${log}`));
        }, deadlineMs);
        child.stderr.on('data', (d) => {
            log += d;
            const m = LISTENING.exec(log);
            if (m) {
                clearTimeout(timer);
                resolve({ scheme: m[1], host: m[2], port: Number(m[3]) });
            }
        });
        child.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`relay exited before listening (code ${code}, signal ${signal}):\n${log}`));
        });
    });

    let where;
    try {
        where = await listening;
    } catch (err) {
        child.kill('SIGKILL');
        await exited;
        throw err;
    }
    const httpScheme = where.scheme === 'wss' ? 'https' : 'http';
    let stopped = null;
    return {
        dir,
        pid: child.pid,
        port: where.port,
        url: `${where.scheme}://127.0.0.1:${where.port}`,
        httpUrl: `${httpScheme}://127.0.0.1:${where.port}/`,
        isTls: where.scheme === 'wss',
        stderr: () => log,
        exited,
        // SIGTERM, then wait for the exit; resolves { code, signal }. If the
        // relay does not exit within the deadline it is killed and the
        // result says so (signal SIGKILL), which the caller's assert reports.
        stop(stopDeadlineMs = deadlineMs) {
            if (stopped) {
                return stopped;
            }
            stopped = (async () => {
                if (child.exitCode === null && child.signalCode === null) {
                    child.kill('SIGTERM');
                }
                let timer;
                const timeout = new Promise((resolve) => {
                    timer = setTimeout(() => resolve(null), stopDeadlineMs);
                });
                let res = await Promise.race([exited, timeout]);
                clearTimeout(timer);
                if (res === null) {
                    child.kill('SIGKILL');
                    res = await exited;
                    res.timedOut = true;
                }
                return res;
            })();
            return stopped;
        },
    };
}

// Stops the relay and asserts the clean exit NIP-independent tests rely on:
// exit code 0 after SIGTERM. Throws with the relay's log otherwise.
export async function stopRelayClean(relay) {
    if (!relay) {
        return;
    }
    const res = await relay.stop();
    if (res.code !== 0 || res.signal !== null || res.timedOut) {
        throw new Error(
            `relay did not exit cleanly after SIGTERM: code ${res.code}, signal ${res.signal}` +
                `${res.timedOut ? ' (killed after the deadline)' : ''}\n--- relay log ---\n${relay.stderr()}`
        );
    }
}

// One HTTP(S) request; resolves { status, headers, body }.
export function httpRequest(url, { method = 'GET', headers = {}, ca, deadlineMs = DEADLINE_MS } = {}) {
    const mod = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(url, { method, headers, ca, agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
                body += d;
            });
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
            res.on('error', reject);
        });
        req.setTimeout(deadlineMs, () => req.destroy(new Error(`${method} ${url}: no answer in ${deadlineMs} ms`)));
        req.on('error', reject);
        req.end();
    });
}
