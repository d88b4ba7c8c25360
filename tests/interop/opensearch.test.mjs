// The OpenSearch backend as the relay runs it, without an OpenSearch server
// (none can run on the build machines; the storage contract suite runs
// against a real cluster when OSTRICH_TEST_OPENSEARCH_URL is set):
// - with the cluster unreachable the relay starts, keeps serving NIP-11 and
//   its connections, answers REQ and COUNT with CLOSED and EVENT with OK
//   false, each "error: storage unavailable", and says so in its log;
// - an existing index whose mapping does not fit stops it at start, naming
//   the field;
// - when the cluster comes back it recovers by itself: it creates the
//   indexes, stores with _bulk (create by event id, refresh=wait_for) and
//   answers OK true and REQ again. The "cluster" here is a small HTTP server
//   that answers the few API calls this needs the way the OpenSearch REST
//   reference describes them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';

import { httpRequest, makeCertificate, makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, nowSec, signed } from './client.mjs';
import { fakeCluster } from './fake_opensearch.mjs';

// A port nothing listens on (for now): the kernel's pick, released.
async function freePort() {
    const srv = net.createServer();
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address();
    await new Promise((resolve) => srv.close(resolve));
    return port;
}

function config(dir, port, extra = {}) {
    writeConfig(dir, {
        storage: { backend: 'opensearch' },
        opensearch: {
            url: `http://127.0.0.1:${port}`,
            index: 'ostrich-test',
            connect_timeout_ms: 500,
            request_timeout_ms: 5000,
            retry_max_ms: 300,
            replicas: 0,
            ...extra,
        },
    });
}

async function waitFor(pred, what) {
    const end = Date.now() + DEADLINE_MS;
    while (!pred()) {
        if (Date.now() > end) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 20));
    }
}

describe('OpenSearch backend without a real cluster', { timeout: TEST_TIMEOUT_MS }, () => {
    const cleanups = [];
    after(async () => {
        for (const fn of cleanups.reverse()) {
            await fn();
        }
    });

    test('starts, serves, and refuses storage work with "error: storage unavailable"', async () => {
        const dir = makeTempDir('os-down');
        config(dir, await freePort());
        const relay = await startRelay(dir);
        cleanups.push(() => relay.stop());
        assert.match(relay.stderr(), /OpenSearch at http:\/\/127\.0\.0\.1:\d+ cannot be used yet/);

        const doc = await httpRequest(relay.httpUrl, { headers: { accept: 'application/nostr+json' } });
        assert.equal(doc.status, 200);
        assert.equal(JSON.parse(doc.body).name, 'test relay');

        const c = await RawClient.open(relay.url);
        const key = newKey();
        const ev = signed(key, { content: 'not stored' });
        assert.deepEqual(await c.publish(ev), [false, 'error: storage unavailable']);
        await assert.rejects(c.req('s1', { kinds: [1] }), (err) => {
            assert.deepEqual(err.closed, ['CLOSED', 's1', 'error: storage unavailable']);
            return true;
        });
        c.send(['COUNT', 'n1', { kinds: [1] }]);
        const closed = await c.take((m) => m[1] === 'n1', 'an answer to COUNT');
        assert.deepEqual(closed.msg, ['CLOSED', 'n1', 'error: storage unavailable']);
        // The same connection keeps working.
        assert.deepEqual(await c.publish(signed(key, { content: 'again' })), [false, 'error: storage unavailable']);
        assert.equal(relay.stderr().match(/is unavailable/g)?.length, 1, relay.stderr());
        await closeAll(c);
        await stopRelayClean(relay);
    });

    test('refuses to start on an index whose mapping does not fit', async () => {
        const port = await freePort();
        const cluster = await fakeCluster(port, {
            mapping: (index) => ({
                [index]: {
                    mappings: {
                        dynamic: 'strict',
                        _meta: { ostrich_schema: 1 },
                        properties: {
                            id: { type: 'keyword' },
                            pubkey: { type: 'keyword' },
                            kind: { type: 'text' },
                            created_at: { type: 'long' },
                            expiration: { type: 'long' },
                            tags: { type: 'keyword' },
                            content: { type: 'text' },
                            raw: { type: 'object', enabled: false },
                        },
                    },
                },
            }),
        });
        cleanups.push(() => cluster.close());
        const dir = makeTempDir('os-mapping');
        config(dir, port);
        await assert.rejects(startRelay(dir), (err) => {
            assert.match(err.message, /relay exited before listening \(code 1/);
            assert.match(err.message, /"ostrich-test".*"kind".*text.*integer/);
            return true;
        });
    });

    test('recovers by itself when the cluster comes back', async () => {
        const port = await freePort();
        const dir = makeTempDir('os-recover');
        // Credentials from the environment win over the file's.
        config(dir, port, { username: 'file-user', password: 'file-secret' });
        process.env.OSTRICH_OPENSEARCH_USERNAME = 'env-user';
        process.env.OSTRICH_OPENSEARCH_PASSWORD = 'env-secret';
        let relay;
        try {
            relay = await startRelay(dir);
        } finally {
            delete process.env.OSTRICH_OPENSEARCH_USERNAME;
            delete process.env.OSTRICH_OPENSEARCH_PASSWORD;
        }
        cleanups.push(() => relay.stop());
        const c = await RawClient.open(relay.url);
        const key = newKey();
        assert.deepEqual(await c.publish(signed(key, { content: 'too early' })), [false, 'error: storage unavailable']);

        const cluster = await fakeCluster(port);
        cleanups.push(() => cluster.close());
        const target = 'a'.repeat(64);
        const ev = signed(key, {
            content: 'stored "at last" \u00e9',
            tags: [
                ['e', target],
                ['p', 'b'.repeat(64), 'wss://x'],
                ['alt', 'not a filter tag'],
            ],
        });
        assert.deepEqual(await c.publish(ev), [true, '']);
        await waitFor(() => /OpenSearch at http:\/\/127\.0\.0\.1:\d+ answers again/.test(relay.stderr()), 'the recovery log line');

        // It made both indexes with a strict mapping.
        const events = JSON.parse(cluster.indexes.get('ostrich-test').body);
        assert.equal(events.mappings.dynamic, 'strict');
        assert.equal(events.mappings.properties.tags.type, 'keyword');
        assert.equal(events.settings.index?.number_of_replicas ?? events.settings.number_of_replicas, 0);
        assert.ok(cluster.indexes.has('ostrich-test-deletions'));

        const basic = `Basic ${Buffer.from('env-user:env-secret').toString('base64')}`;
        assert.ok(cluster.requests.every((r) => r.headers.authorization === basic));
        assert.doesNotMatch(relay.stderr(), /secret/);

        // One create per event id, searchable before the OK.
        const bulk = cluster.requests.filter((r) => r.path === '/_bulk');
        assert.equal(bulk.length, 1);
        assert.match(bulk[0].query, /refresh=wait_for/);
        const [action, source] = bulk[0].body.split('\n');
        assert.deepEqual(JSON.parse(action), { create: { _index: 'ostrich-test', _id: ev.id } });
        const docSource = JSON.parse(source);
        assert.deepEqual(docSource.tags.sort(), [`e:${target}`, `p:${'b'.repeat(64)}`]);
        assert.deepEqual(JSON.parse(docSource.raw), ev);

        const res = await c.query('s2', { ids: [ev.id] });
        assert.deepEqual(res.events, [ev]);
        // A second copy is OpenSearch's 409, a duplicate.
        const [ok, msg] = await c.publish(ev);
        assert.equal(ok, true);
        assert.match(msg, /^duplicate:/);
        await closeAll(c);
        await stopRelayClean(relay);
    });

    test('talks TLS to the cluster: verified against ca_file, refused without it', async () => {
        const certDir = makeTempDir('os-tls-cert');
        const { cert, key } = makeCertificate(certDir);
        const cluster = await fakeCluster(0, {
            tls: { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') },
        });
        cleanups.push(() => cluster.close());
        const url = `https://127.0.0.1:${cluster.port}`;

        const untrusted = makeTempDir('os-tls-untrusted');
        config(untrusted, cluster.port, { url });
        const r1 = await startRelay(untrusted);
        cleanups.push(() => r1.stop());
        assert.match(r1.stderr(), /cannot be used yet \(SSL certificate problem/);
        const c1 = await RawClient.open(r1.url);
        const k = newKey();
        assert.deepEqual(await c1.publish(signed(k, { content: 'untrusted' })), [false, 'error: storage unavailable']);
        assert.equal(cluster.requests.length, 0);
        await closeAll(c1);
        await stopRelayClean(r1);

        const trusted = makeTempDir('os-tls-trusted');
        config(trusted, cluster.port, { url, ca_file: cert });
        const r2 = await startRelay(trusted);
        cleanups.push(() => r2.stop());
        const c2 = await RawClient.open(r2.url);
        const ev = signed(k, { content: 'over TLS' });
        assert.deepEqual(await c2.publish(ev), [true, '']);
        assert.deepEqual((await c2.query('t', { ids: [ev.id] })).events, [ev]);
        await closeAll(c2);
        await stopRelayClean(r2);
    });

    test('gives the same answers as the SQLite backend', async () => {
        const port = await freePort();
        const cluster = await fakeCluster(port);
        cleanups.push(() => cluster.close());
        const dirA = makeTempDir('os-diff-sqlite');
        writeConfig(dirA);
        const dirB = makeTempDir('os-diff-os');
        config(dirB, port);
        const ra = await startRelay(dirA);
        cleanups.push(() => ra.stop());
        const rb = await startRelay(dirB);
        cleanups.push(() => rb.stop());
        const ca = await RawClient.open(ra.url);
        const cb = await RawClient.open(rb.url);
        // The same step on both relays; the answers must be equal, and the
        // SQLite one is returned for the absolute checks below.
        const both = async (step) => {
            const a = await step(ca);
            const b = await step(cb);
            assert.deepEqual(b, a);
            return a;
        };
        const publish = (ev) => both((c) => c.publish(ev));
        const query = (...filters) => both(async (c) => (await c.query('q', ...filters)).events.map((e) => e.id));

        const key = newKey();
        const other = newKey();
        const t = nowSec() - 100;
        const n1 = signed(key, { created_at: t, content: 'one', tags: [['t', 'a']] });
        const n2 = signed(key, { created_at: t + 1, content: 'two', tags: [['e', n1.id]] });
        const n3 = signed(other, { created_at: t + 1, content: 'three', tags: [['p', n1.id], ['e', 'f'.repeat(64), n1.id]] });
        const p1 = signed(key, { kind: 0, created_at: t, content: '{"name":"a"}' });
        const p2 = signed(key, { kind: 0, created_at: t + 5, content: '{"name":"b"}' });
        const l1 = signed(key, { kind: 30023, created_at: t, tags: [['d', 'x']], content: 'v1' });
        const l2 = signed(key, { kind: 30023, created_at: t + 2, tags: [['d', 'x']], content: 'v2' });
        const l3 = signed(key, { kind: 30023, created_at: t + 3, tags: [['d', 'y']], content: 'other d' });
        const answers = [];
        for (const ev of [n1, n2, n3, n1, p2, p1, p2, l1, l2, l3, l1]) {
            answers.push(await publish(ev));
        }
        // Older versions (p1 after p2, l1 after l2) are refused as such.
        assert.deepEqual(
            answers.map(([ok]) => ok),
            [true, true, true, true, true, false, true, true, true, true, false]
        );
        assert.match(answers[3][1], /^duplicate: already have/);
        assert.match(answers[5][1], /^duplicate: a newer version/);
        assert.match(answers[6][1], /^duplicate: already have/);
        assert.match(answers[10][1], /^duplicate: a newer version/);

        const sameSecond = [n2, n3].sort((a, b) => (a.id < b.id ? -1 : 1)).map((e) => e.id);
        assert.deepEqual(await query({ kinds: [1] }), [...sameSecond, n1.id]);
        assert.deepEqual(await query({ kinds: [0] }, { kinds: [30023] }), [p2.id, l3.id, l2.id]);
        // NIP-01 tag semantics: n3 has n1's id in a "p" tag and in the third
        // place of an "e" tag, neither of which is an "e" value.
        assert.deepEqual(await query({ '#e': [n1.id] }), [n2.id]);
        assert.equal((await query({ authors: [key.pk], limit: 2 })).length, 2);
        await query({ kinds: [1], since: t + 1 }, { ids: [n1.id] });
        assert.deepEqual(await query({ '#d': ['x'] }), [l2.id]);

        // NIP-09: an id and an address, then both are refused.
        const del = signed(key, { kind: 5, created_at: t + 10, tags: [['e', n1.id], ['a', `30023:${key.pk}:x`]] });
        assert.deepEqual(await publish(del), [true, '']);
        assert.deepEqual(await query({ authors: [key.pk], kinds: [1, 30023] }), [l3.id, n2.id]);
        assert.deepEqual(await publish(n1), [false, 'blocked: this event was deleted by its author']);
        assert.deepEqual(await publish(l2), [false, 'blocked: this event was deleted by its author']);

        const count = await both(async (c) => {
            c.send(['COUNT', 'n', { kinds: [1] }, { kinds: [5] }]);
            return (await c.take((m) => m[1] === 'n', 'COUNT')).msg;
        });
        assert.deepEqual(count, ['COUNT', 'n', { count: 3 }]);
        await closeAll(ca, cb);
        await stopRelayClean(ra);
        await stopRelayClean(rb);
    });
});
