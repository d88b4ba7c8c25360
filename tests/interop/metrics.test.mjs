// GET /health and GET /metrics on the real binary:
// - /health is JSON with status, uptime, version, connections, storage and
//   queue depths: 200 "ok" while healthy, 503 "degraded" while the store
//   does not answer (OpenSearch on a closed port) and 503 "draining" during
//   a shutdown (held open by a stand-in cluster that delays a write);
// - /metrics is the Prometheus text format, checked with `promtool check
//   metrics` (Debian package "prometheus"), and its counters move by exactly
//   what the clients did: connections, messages by verb, events accepted,
//   duplicate and rejected, broadcast deliveries, bytes received, and the
//   histograms' counts;
// - [metrics] enabled = false answers 404 for /metrics; [metrics] listen
//   moves /metrics to a plain-HTTP listener of its own (also next to TLS),
//   which serves /health too and no WebSocket, while the relay's port keeps
//   /health and answers 404 for /metrics.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

import { httpRequest, makeCertificate, makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, signed } from './client.mjs';
import { fakeCluster } from './fake_opensearch.mjs';

const PROM_TYPE = /^text\/plain; version=0\.0\.4/;

// Every family the relay exposes.
const FAMILIES = [
    'ostrich_connections_total',
    'ostrich_connections_rejected_total',
    'ostrich_messages_received_total',
    'ostrich_messages_sent_total',
    'ostrich_events_received_total',
    'ostrich_events_accepted_total',
    'ostrich_events_duplicate_total',
    'ostrich_events_rejected_total',
    'ostrich_rate_limited_total',
    'ostrich_broadcast_deliveries_total',
    'ostrich_bytes_received_total',
    'ostrich_bytes_sent_total',
    'ostrich_connections',
    'ostrich_subscriptions',
    'ostrich_queue_depth',
    'ostrich_outbound_bytes',
    'ostrich_storage_up',
    'ostrich_uptime_seconds',
    'ostrich_info',
    'ostrich_validation_seconds',
    'ostrich_storage_commit_seconds',
    'ostrich_storage_batch_events',
];

// Appends a [metrics] table to the config writeConfig wrote in dir.
function addMetricsTable(dir, values) {
    const lines = ['', '[metrics]'];
    for (const [k, v] of Object.entries(values)) {
        lines.push(`${k} = ${typeof v === 'string' ? JSON.stringify(v) : v}`);
    }
    fs.appendFileSync(`${dir}/ostrich.toml`, `${lines.join('\n')}\n`);
}

function url(relayOrBase, path) {
    const base = typeof relayOrBase === 'string' ? relayOrBase : relayOrBase.httpUrl;
    return new URL(path, base).href;
}

async function health(base) {
    const res = await httpRequest(url(base, '/health'));
    assert.match(res.headers['content-type'], /^application\/json/);
    return { status: res.status, doc: JSON.parse(res.body) };
}

// The samples of an exposition, by series ("name{labels}" as written).
function parseSamples(text) {
    const samples = new Map();
    for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) {
            continue;
        }
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
        assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
        assert.ok(!samples.has(m[1]), `series twice: ${m[1]}`);
        samples.set(m[1], Number(m[2]));
    }
    return samples;
}

async function scrape(base) {
    const res = await httpRequest(url(base, '/metrics'));
    assert.equal(res.status, 200, res.body);
    assert.match(res.headers['content-type'], PROM_TYPE);
    return { text: res.body, samples: parseSamples(res.body) };
}

function value(samples, series) {
    assert.ok(samples.has(series), `no series ${series}`);
    return samples.get(series);
}

// `promtool check metrics` reads the exposition on stdin and exits 0 when it
// parses and passes the lint rules.
function promtoolCheck(text) {
    const res = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (res.error?.code === 'ENOENT') {
        assert.fail(
            'promtool is not installed: it comes with the Debian package "prometheus" ' +
                '(apt-get install prometheus, or scripts/deps.sh)'
        );
    }
    assert.equal(res.status, 0, `promtool check metrics failed:\n${res.stdout}${res.stderr}\n--- scraped ---\n${text}`);
}

async function waitFor(pred, what) {
    const end = Date.now() + DEADLINE_MS;
    for (;;) {
        const last = await pred();
        if (last === true) {
            return;
        }
        if (Date.now() > end) {
            throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
        }
        await new Promise((r) => setTimeout(r, 20));
    }
}

// Counts the bytes of every message c sends from now on.
function tally(c) {
    c.bytesSent = 0;
    const send = c.send.bind(c);
    c.send = (msg) => {
        c.bytesSent += Buffer.byteLength(typeof msg === 'string' ? msg : JSON.stringify(msg));
        send(msg);
    };
    return c;
}

// A port nothing listens on (for now): the kernel's pick, released.
async function freePort() {
    const srv = net.createServer();
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address();
    await new Promise((resolve) => srv.close(resolve));
    return port;
}

// An HTTP proxy in front of the stand-in cluster that holds _bulk requests
// while `hold` is set, so a test can keep an event in the storage thread.
async function holdingProxy(targetPort) {
    const state = { hold: false, held: [] };
    const server = http.createServer((req, res) => {
        const forward = () => {
            const up = http.request(
                { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
                (upRes) => {
                    res.writeHead(upRes.statusCode, upRes.headers);
                    upRes.pipe(res);
                }
            );
            up.on('error', () => res.destroy());
            req.pipe(up);
        };
        if (state.hold && req.url.includes('_bulk')) {
            state.held.push(forward);
            return;
        }
        forward();
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        port: server.address().port,
        state,
        release() {
            state.hold = false;
            for (const f of state.held.splice(0)) {
                f();
            }
        },
        close: () => new Promise((resolve) => {
            server.closeAllConnections();
            server.close(resolve);
        }),
    };
}

describe('health and metrics', { timeout: TEST_TIMEOUT_MS }, () => {
    const cleanups = [];
    after(async () => {
        for (const fn of cleanups.reverse()) {
            await fn();
        }
    });

    test('GET /health answers 200 with the status document', async () => {
        const dir = makeTempDir('health');
        writeConfig(dir);
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        const c = await RawClient.open(relay.url);
        const { status, doc } = await health(relay);
        assert.equal(status, 200);
        assert.equal(doc.status, 'ok');
        assert.equal(typeof doc.uptime_s, 'number');
        assert.ok(doc.uptime_s >= 0);
        assert.match(doc.version, /^\d+\.\d+\.\d+/);
        assert.equal(doc.connections, 1);
        assert.deepEqual(doc.storage, { backend: 'sqlite', up: true });
        assert.deepEqual(Object.keys(doc.queues).sort(), ['broadcast', 'outbound_bytes', 'query', 'storage', 'validation']);
        for (const v of Object.values(doc.queues)) {
            assert.equal(typeof v, 'number');
        }
        await closeAll(c);
        await stopRelayClean(relay);
    });

    test('GET /metrics is the Prometheus text format and passes promtool', async () => {
        const dir = makeTempDir('metrics-format');
        writeConfig(dir);
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        const { text, samples } = await scrape(relay);
        promtoolCheck(text);
        for (const f of FAMILIES) {
            assert.match(text, new RegExp(`^# HELP ${f} `, 'm'), `no HELP for ${f}`);
            assert.match(text, new RegExp(`^# TYPE ${f} (counter|gauge|histogram)$`, 'm'), `no TYPE for ${f}`);
        }
        assert.equal(value(samples, 'ostrich_storage_up'), 1);
        assert.equal(value(samples, 'ostrich_connections'), 0);
        assert.match(text, /^ostrich_info\{version="\d+\.\d+\.\d+[^"]*"\} 1$/m);
        for (const q of ['validation', 'storage', 'query', 'broadcast']) {
            assert.equal(value(samples, `ostrich_queue_depth{queue="${q}"}`), 0);
        }
        await stopRelayClean(relay);
    });

    test('counters move by exactly what the clients did', async () => {
        const dir = makeTempDir('metrics-counts');
        writeConfig(dir);
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        const before = (await scrape(relay)).samples;
        const d = (after, series) => value(after, series) - value(before, series);

        const N = 5;
        const key = newKey();
        // Uncompressed, so that the bytes on the wire bound the text received.
        const c1 = tally(await RawClient.open(relay.url, { perMessageDeflate: false }));
        const c2 = tally(await RawClient.open(relay.url, { perMessageDeflate: false }));
        const pubkey = signed(key, {}).pubkey;
        // c2 watches the author live; its REQ has no stored events yet.
        const live = await c2.req('live', { authors: [pubkey] });
        assert.equal(live.events.length, 0);

        const events = [];
        for (let i = 0; i < N; i++) {
            const ev = signed(key, { content: `counted ${i}` });
            events.push(ev);
            assert.deepEqual(await c1.publish(ev), [true, '']);
        }
        const [dupOk, dupMsg] = await c1.publish(events[0]);
        assert.equal(dupOk, true);
        assert.match(dupMsg, /^duplicate:/);
        const good = signed(key, { content: 'tampered' });
        const last = good.sig[good.sig.length - 1];
        const bad = { ...good, sig: good.sig.slice(0, -1) + (last === '0' ? '1' : '0') };
        const [badOk, badMsg] = await c1.publish(bad);
        assert.equal(badOk, false);
        assert.match(badMsg, /^invalid:/);
        for (let i = 0; i < N; i++) {
            await c2.take((m) => m[0] === 'EVENT' && m[1] === 'live', `live event ${i}`);
        }
        const q = await c1.query('q', { authors: [pubkey] });
        assert.equal(q.events.length, N);
        c1.send(['COUNT', 'n', { kinds: [1], authors: [pubkey] }]);
        await c1.take((m) => m[0] === 'COUNT' && m[1] === 'n', 'the COUNT answer');
        c1.send('this is not json');
        await c1.takeNotice();
        const c3 = await RawClient.open(relay.url);
        await c3.close();

        // The close of c3 and the CLOSE of "q" reach the relay on their own.
        let now;
        await waitFor(async () => {
            now = (await scrape(relay)).samples;
            const got = [value(now, 'ostrich_connections'), value(now, 'ostrich_subscriptions')];
            return (got[0] === 2 && got[1] === 1) || got;
        }, '2 connections with 1 subscription');
        const { text } = await scrape(relay);
        promtoolCheck(text);

        const want = {
            ostrich_connections_total: 3,
            'ostrich_messages_received_total{type="EVENT"}': N + 2,
            'ostrich_messages_received_total{type="REQ"}': 2,
            'ostrich_messages_received_total{type="CLOSE"}': 1,
            'ostrich_messages_received_total{type="COUNT"}': 1,
            'ostrich_messages_received_total{type="AUTH"}': 0,
            'ostrich_messages_received_total{type="invalid"}': 1,
            'ostrich_messages_sent_total{type="OK"}': N + 2,
            'ostrich_messages_sent_total{type="EVENT"}': 2 * N,
            'ostrich_messages_sent_total{type="EOSE"}': 2,
            'ostrich_messages_sent_total{type="COUNT"}': 1,
            'ostrich_messages_sent_total{type="NOTICE"}': 1,
            'ostrich_messages_sent_total{type="CLOSED"}': 0,
            'ostrich_messages_sent_total{type="AUTH"}': 3, // a NIP-42 challenge per connection
            ostrich_events_received_total: N + 2,
            ostrich_events_accepted_total: N,
            ostrich_events_duplicate_total: 1,
            'ostrich_events_rejected_total{reason="invalid"}': 1,
            'ostrich_events_rejected_total{reason="error"}': 0,
            'ostrich_events_rejected_total{reason="other"}': 0,
            ostrich_broadcast_deliveries_total: N,
            ostrich_bytes_received_total: c1.bytesSent + c2.bytesSent,
            // The copy of a stored event is answered on the io thread
            // (relay/recent.h): neither validated nor written.
            ostrich_validation_seconds_count: N + 1,
            ostrich_storage_batch_events_sum: N,
        };
        const got = {};
        for (const series of Object.keys(want)) {
            got[series] = d(now, series);
        }
        assert.deepEqual(got, want);

        const received = [...c1.log, ...c2.log].reduce((n, f) => n + Buffer.byteLength(f.text), 0);
        assert.ok(d(now, 'ostrich_bytes_sent_total') >= received, `bytes sent ${d(now, 'ostrich_bytes_sent_total')} < ${received}`);
        const batches = d(now, 'ostrich_storage_batch_events_count');
        assert.ok(batches >= 1 && batches <= N + 1, `${batches} batches`);
        assert.equal(d(now, 'ostrich_storage_commit_seconds_count'), batches);
        for (const h of ['ostrich_validation_seconds', 'ostrich_storage_commit_seconds', 'ostrich_storage_batch_events']) {
            assert.equal(value(now, `${h}_bucket{le="+Inf"}`), value(now, `${h}_count`), h);
        }
        await closeAll(c1, c2);
        await stopRelayClean(relay);
    });

    test('[metrics] enabled = false answers 404 for /metrics and still serves /health', async () => {
        const dir = makeTempDir('metrics-off');
        writeConfig(dir);
        addMetricsTable(dir, { enabled: false });
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        const res = await httpRequest(url(relay, '/metrics'));
        assert.equal(res.status, 404);
        const { status, doc } = await health(relay);
        assert.equal(status, 200);
        assert.equal(doc.status, 'ok');
        await stopRelayClean(relay);
    });

    for (const isTls of [false, true]) {
        test(`[metrics] listen serves /metrics and /health on a plain-HTTP port of its own${isTls ? ' next to TLS' : ''}`, async () => {
            const dir = makeTempDir('metrics-listen');
            const tls = isTls ? makeCertificate(dir) : null;
            writeConfig(dir, { relay: tls ? { tls_cert: tls.cert, tls_key: tls.key } : {} });
            addMetricsTable(dir, { listen: '127.0.0.1:0' });
            const relay = await startRelay(dir);
            cleanups.push(() => relay.stop());
            const m = /serving \/metrics and \/health on (http:\/\/127\.0\.0\.1:(\d+))/.exec(relay.stderr());
            assert.ok(m, relay.stderr());
            const base = `${m[1]}/`;
            assert.notEqual(Number(m[2]), relay.port);

            const { text, samples } = await scrape(base);
            promtoolCheck(text);
            assert.equal(value(samples, 'ostrich_storage_up'), 1);
            const h = await health(base);
            assert.equal(h.status, 200);
            assert.equal(h.doc.status, 'ok');
            for (const path of ['/', '/nope']) {
                assert.equal((await httpRequest(url(base, path))).status, 404, path);
            }
            await assert.rejects(RawClient.open(`ws://127.0.0.1:${m[2]}`), 'no WebSocket on the metrics port');

            // The relay's own port: /health stays, /metrics has moved.
            const own = await httpRequest(url(relay, '/metrics'), { ca: tls?.ca });
            assert.equal(own.status, 404);
            const ownHealth = await httpRequest(url(relay, '/health'), { ca: tls?.ca });
            assert.equal(ownHealth.status, 200);
            assert.equal(JSON.parse(ownHealth.body).status, 'ok');
            const c = await RawClient.open(relay.url, { ca: tls?.ca });
            await waitFor(async () => {
                const n = value((await scrape(base)).samples, 'ostrich_connections');
                return n === 1 || n;
            }, 'the connection counted on the metrics port');
            await closeAll(c);
            await stopRelayClean(relay);
        });
    }

    test('/health is 503 "degraded" while the store does not answer', async () => {
        const dir = makeTempDir('health-degraded');
        writeConfig(dir, {
            storage: { backend: 'opensearch' },
            opensearch: {
                url: `http://127.0.0.1:${await freePort()}`,
                index: 'ostrich-test',
                connect_timeout_ms: 200,
                retry_max_ms: 200,
            },
        });
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        const { status, doc } = await health(relay);
        assert.equal(status, 503);
        assert.equal(doc.status, 'degraded');
        assert.deepEqual(doc.storage, { backend: 'opensearch', up: false });
        const { text, samples } = await scrape(relay);
        promtoolCheck(text);
        assert.equal(value(samples, 'ostrich_storage_up'), 0);
        await stopRelayClean(relay);
    });

    test('/health is 503 "draining" while a shutdown waits for the store', async () => {
        const clusterPort = await freePort();
        const cluster = await fakeCluster(clusterPort);
        cleanups.push(() => cluster.close());
        const proxy = await holdingProxy(clusterPort);
        cleanups.push(() => proxy.close());
        const dir = makeTempDir('health-draining');
        writeConfig(dir, {
            relay: { drain_timeout_ms: 60000 },
            storage: { backend: 'opensearch' },
            opensearch: {
                url: `http://127.0.0.1:${proxy.port}`,
                index: 'ostrich-test',
                connect_timeout_ms: 1000,
                request_timeout_ms: 120000,
                retry_max_ms: 300,
                replicas: 0,
            },
        });
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        assert.equal((await health(relay)).status, 200);

        const c = await RawClient.open(relay.url);
        const ev = signed(newKey(), { content: 'held in the storage thread' });
        proxy.state.hold = true;
        c.send(['EVENT', ev]);
        await waitFor(() => proxy.state.held.length > 0 || 'none yet', 'the held _bulk request');

        const stopped = relay.stop();
        let last;
        await waitFor(async () => {
            last = await health(relay);
            return last.status === 503 || last;
        }, '/health to turn 503');
        assert.equal(last.doc.status, 'draining');
        assert.equal(last.doc.storage.up, true);
        // While draining the worker threads are being stopped: the metrics
        // still answer.
        const { text, samples } = await scrape(relay);
        promtoolCheck(text);
        assert.equal(value(samples, 'ostrich_connections'), 1);

        proxy.release();
        const ok = await c.takeOk(ev.id);
        assert.deepEqual(ok.msg, ['OK', ev.id, true, '']);
        const res = await stopped;
        assert.equal(res.code, 0, relay.stderr());
        await closeAll(c);
    });
});
