// Protection: message rate limits per connection and per address, the run
// of refusals that ends a connection, connection limits in total and per
// address, client addresses behind a trusted reverse proxy, the loopback
// exemption, heartbeats and the idle timeout. Each test starts a relay with
// small limits (and, unless it tests the exemption, exempt_loopback off, so
// that the test's own 127.0.0.1 connections are limited).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, signed } from './client.mjs';
import { WebSocket } from './deps.mjs';

// The relay's reasons, word for word (relay/ratelimit.c).
const R = {
    events: "rate-limited: slow down: too many events (over the relay's events_per_second limit)",
    ipEvents:
        "rate-limited: slow down: too many events from your address (over the relay's " +
        'ip_events_per_second limit)',
    reqs: "rate-limited: slow down: too many REQs and COUNTs (over the relay's reqs_per_second limit)",
    connections: 'rate-limited: the relay has too many connections; try again later',
    ipConnections: 'rate-limited: too many connections from your address',
    refused: 'rate-limited: closing the connection: too many messages over the rate limit',
    idle: 'error: closing idle connection: no subscription and nothing received for too long',
};

// Starts a relay with [rate_limit] options (exempt_loopback false unless
// given), [relay] options and trusted proxies.
async function start(tag, { rate = {}, relay = {}, trusted = null } = {}) {
    const dir = makeTempDir(tag);
    const file = writeConfig(dir, { relay });
    let text = fs.readFileSync(file, 'utf8');
    if (trusted !== null) {
        text = text.replace('[relay]\n', `[relay]\ntrusted_proxies = ${JSON.stringify(trusted)}\n`);
    }
    const lines = ['', '[rate_limit]'];
    for (const [k, v] of Object.entries({ exempt_loopback: false, ...rate })) {
        lines.push(`${k} = ${v}`);
    }
    fs.writeFileSync(file, `${text}${lines.join('\n')}\n`);
    return startRelay(dir);
}

// A RawClient whose upgrade request carries extra headers. The client is
// made inside the open handler, so that a frame that arrives with the
// handshake (a refusal's NOTICE) is not missed.
function openWith(url, headers = {}) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        const timer = setTimeout(() => {
            ws.terminate();
            reject(new Error(`could not connect to ${url} within ${DEADLINE_MS} ms`));
        }, DEADLINE_MS);
        ws.once('open', () => {
            clearTimeout(timer);
            resolve(new RawClient(ws));
        });
        ws.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
    });
}

// Resolves with { code, reason } once c's connection has closed.
async function closedOf(c, deadlineMs = DEADLINE_MS) {
    const deadline = Date.now() + deadlineMs;
    while (!c.closed) {
        const left = deadline - Date.now();
        if (left <= 0) {
            throw new Error(`connection still open after ${deadlineMs} ms`);
        }
        await new Promise((resolve) => {
            const timer = setTimeout(resolve, left);
            c.waiters.push(() => {
                clearTimeout(timer);
                resolve();
            });
        });
    }
    return c.closed;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Sends every event at once (one burst, not paced by answers) and returns
// their OKs as [accepted, message], in the order sent.
async function publishAll(c, evs) {
    for (const ev of evs) {
        c.send(['EVENT', ev]);
    }
    const oks = [];
    for (const ev of evs) {
        const f = await c.takeOk(ev.id);
        oks.push([f.msg[2], f.msg[3]]);
    }
    return oks;
}

function notes(key, n, tag) {
    return Array.from({ length: n }, (_, i) => signed(key, { content: `${tag} ${i}` }));
}

// A connection refused for a connection limit: a NOTICE with the reason,
// then a close frame with the code and the reason.
async function assertRefused(c, code, reason) {
    const n = await c.takeNotice();
    assert.equal(n.msg[1], reason);
    assert.deepEqual(await closedOf(c), { code, reason });
}

describe('rate limits', { timeout: TEST_TIMEOUT_MS }, () => {
    test('per connection: the burst passes, the next EVENT gets OK false, a second later one passes', async () => {
        const relay = await start('rl-events', {
            rate: { events_per_second: 1, events_burst: 3, ip_events_per_second: 0, max_refused: 100 },
        });
        const c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            const evs = notes(key, 4, 'burst');
            const oks = await publishAll(c, evs);
            assert.deepEqual(oks.slice(0, 3), [[true, ''], [true, ''], [true, '']]);
            assert.deepEqual(oks[3], [false, R.events]);
            // The refused event was never stored.
            const { events } = await c.query('q', { ids: evs.map((e) => e.id) });
            assert.deepEqual(events.map((e) => e.id).sort(), evs.slice(0, 3).map((e) => e.id).sort());
            // One token a second: after a second the same connection may
            // publish again (the wait is the behaviour under test).
            await sleep(1100);
            assert.deepEqual(await c.publish(signed(key, { content: 'after the wait' })), [true, '']);
        } finally {
            await closeAll(c);
            await stopRelayClean(relay);
        }
    });

    test('per address: two connections from one address share its bucket', async () => {
        const relay = await start('rl-ip', {
            rate: { events_per_second: 100, events_burst: 100, ip_events_per_second: 1, ip_events_burst: 2 },
        });
        const a = await RawClient.open(relay.url);
        const b = await RawClient.open(relay.url);
        try {
            const key = newKey();
            assert.deepEqual(await publishAll(a, notes(key, 2, 'a')), [[true, ''], [true, '']]);
            assert.deepEqual(await publishAll(b, notes(key, 1, 'b')), [[false, R.ipEvents]]);
            // Both connections still serve other requests.
            await a.query('qa', { limit: 1 });
            await b.query('qb', { limit: 1 });
        } finally {
            await closeAll(a, b);
            await stopRelayClean(relay);
        }
    });

    test('REQ and COUNT share a bucket; over it they get CLOSED', async () => {
        const relay = await start('rl-req', {
            rate: { reqs_per_second: 1, reqs_burst: 2, ip_reqs_per_second: 0, max_refused: 100 },
        });
        const c = await RawClient.open(relay.url);
        try {
            c.send(['REQ', 's1', { limit: 0 }]);
            c.send(['COUNT', 'c1', { kinds: [1] }]);
            c.send(['REQ', 's2', { limit: 0 }]);
            c.send(['COUNT', 'c2', { kinds: [1] }]);
            await c.collect('s1');
            const count = await c.take((m) => m[1] === 'c1', 'the COUNT answer');
            assert.equal(count.msg[0], 'COUNT');
            for (const id of ['s2', 'c2']) {
                const f = await c.take((m) => m[1] === id, `the answer for ${id}`);
                assert.deepEqual(f.msg, ['CLOSED', id, R.reqs]);
            }
            // EVENTs have a bucket of their own.
            assert.deepEqual(await c.publish(signed(newKey(), { content: 'still fine' })), [true, '']);
        } finally {
            await closeAll(c);
            await stopRelayClean(relay);
        }
    });

    test('max_refused refusals in a row close the connection', async () => {
        const relay = await start('rl-refused', {
            rate: { events_per_second: 1, events_burst: 1, ip_events_per_second: 0, max_refused: 3 },
        });
        const c = await RawClient.open(relay.url);
        const other = await RawClient.open(relay.url);
        try {
            const key = newKey();
            const evs = notes(key, 4, 'refused');
            assert.deepEqual(await c.publish(evs[0]), [true, '']);
            for (const ev of evs.slice(1)) {
                c.send(['EVENT', ev]);
            }
            for (const ev of evs.slice(1)) {
                assert.deepEqual((await c.takeOk(ev.id)).msg.slice(2), [false, R.events]);
            }
            const n = await c.takeNotice();
            assert.equal(n.msg[1], R.refused);
            assert.deepEqual(await closedOf(c), { code: 1008, reason: R.refused });
            // Another connection from the same address is not affected.
            assert.deepEqual(await other.publish(signed(key, { content: 'other' })), [true, '']);
            assert.match(relay.stderr(), /closing: 3 messages in a row over the rate limits/);
        } finally {
            await closeAll(c, other);
            await stopRelayClean(relay);
        }
    });

    test('loopback is exempt by default: a burst far over the limits passes', async () => {
        const dir = makeTempDir('rl-loopback');
        const file = writeConfig(dir);
        fs.appendFileSync(
            file,
            '\n[rate_limit]\nevents_per_second = 1\nevents_burst = 1\nip_events_per_second = 1\n' +
                'ip_events_burst = 1\nmax_refused = 1\nmax_connections_per_ip = 1\n'
        );
        const relay = await startRelay(dir);
        const a = await RawClient.open(relay.url);
        const b = await RawClient.open(relay.url);
        try {
            const oks = await publishAll(a, notes(newKey(), 20, 'exempt'));
            assert.deepEqual(oks, Array.from({ length: 20 }, () => [true, '']));
            await b.query('q', { limit: 1 });
        } finally {
            await closeAll(a, b);
            await stopRelayClean(relay);
        }
    });
});

describe('connection limits', { timeout: TEST_TIMEOUT_MS }, () => {
    // Opens connections until one is admitted (the relay counts a closed
    // connection out once it has seen it close, a moment after the client).
    async function openAdmitted(url, headers = {}) {
        const deadline = Date.now() + DEADLINE_MS;
        for (;;) {
            const c = await openWith(url, headers);
            // An admitted connection answers a query; a refused one closes.
            c.send(['REQ', 'probe', { limit: 0 }]);
            try {
                await c.collect('probe');
                return c;
            } catch (err) {
                if (!c.closed || Date.now() > deadline) {
                    throw err;
                }
            }
        }
    }

    test('max_connections_per_ip refuses one more; the others work; a closed one frees a place', async () => {
        const relay = await start('cl-ip', { rate: { max_connections_per_ip: 2 } });
        const a = await RawClient.open(relay.url);
        const b = await RawClient.open(relay.url);
        const extra = await openWith(relay.url);
        let fresh;
        try {
            await assertRefused(extra, 1008, R.ipConnections);
            await a.query('qa', { limit: 1 });
            await b.query('qb', { limit: 1 });
            await b.close();
            fresh = await openAdmitted(relay.url);
            await a.query('qa2', { limit: 1 });
            assert.match(relay.stderr(), /connection refused: rate_limit\.max_connections_per_ip \(2\) reached/);
        } finally {
            await closeAll(a, b, extra, fresh);
            await stopRelayClean(relay);
        }
    });

    test('max_connections refuses one more with 1013, try again later', async () => {
        const relay = await start('cl-total', { rate: { max_connections: 2, max_connections_per_ip: 0 } });
        const a = await RawClient.open(relay.url);
        const b = await RawClient.open(relay.url);
        const extra = await openWith(relay.url);
        let fresh;
        try {
            await assertRefused(extra, 1013, R.connections);
            await a.query('qa', { limit: 1 });
            await b.query('qb', { limit: 1 });
            await a.close();
            fresh = await openAdmitted(relay.url);
            await b.query('qb2', { limit: 1 });
        } finally {
            await closeAll(a, b, extra, fresh);
            await stopRelayClean(relay);
        }
    });
});

describe('addresses behind a reverse proxy', { timeout: TEST_TIMEOUT_MS }, () => {
    const RATE = { events_per_second: 100, events_burst: 100, ip_events_per_second: 1, ip_events_burst: 1 };

    test('from a trusted proxy, X-Forwarded-For names the client; limits apply per client', async () => {
        const relay = await start('xff-trusted', {
            rate: { ...RATE, max_connections_per_ip: 1 },
            trusted: ['127.0.0.1'],
        });
        const key = newKey();
        // What the client claims left of the proxy's entry is not believed.
        const a = await openWith(relay.url, { 'X-Forwarded-For': '198.51.100.9, 203.0.113.1' });
        const b = await openWith(relay.url, { 'X-Forwarded-For': '203.0.113.2' });
        const c = await openWith(relay.url, { 'X-Real-IP': '203.0.113.3' });
        const again = await openWith(relay.url, { 'X-Forwarded-For': '203.0.113.1' });
        try {
            // 203.0.113.1 has one event a second; the others have their own.
            const burst = [signed(key, { content: 'a' }), signed(key, { content: 'a2' })];
            assert.deepEqual(await publishAll(a, burst), [[true, ''], [false, R.ipEvents]]);
            assert.deepEqual(await b.publish(signed(key, { content: 'b' })), [true, '']);
            assert.deepEqual(await c.publish(signed(key, { content: 'c' })), [true, '']);
            // A second connection of 203.0.113.1 is one too many, and the
            // log names that address.
            await assertRefused(again, 1008, R.ipConnections);
            assert.match(relay.stderr(), /203\.0\.113\.1\] connection refused/);
        } finally {
            await closeAll(a, b, c, again);
            await stopRelayClean(relay);
        }
    });

    test('from an untrusted peer, the headers are ignored', async () => {
        const relay = await start('xff-untrusted', { rate: RATE, trusted: ['10.0.0.0/8'] });
        const key = newKey();
        const a = await openWith(relay.url, { 'X-Forwarded-For': '203.0.113.1' });
        const b = await openWith(relay.url, { 'X-Forwarded-For': '203.0.113.2' });
        try {
            // Both are 127.0.0.1, which has one event a second: whichever
            // comes second is refused.
            const ea = signed(key, { content: 'a' });
            const eb = signed(key, { content: 'b' });
            a.send(['EVENT', ea]);
            b.send(['EVENT', eb]);
            const oks = [(await a.takeOk(ea.id)).msg.slice(2), (await b.takeOk(eb.id)).msg.slice(2)];
            assert.deepEqual(oks.sort(), [[false, R.ipEvents], [true, '']]);
        } finally {
            await closeAll(a, b);
            await stopRelayClean(relay);
        }
    });
});

// A WebSocket client on a bare socket: it does the handshake by hand, reads
// the server's frames and never answers a ping.
function rawSocketClient(port) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        const state = { frames: [], closedAt: null, buf: Buffer.alloc(0), upgraded: false, sock };
        sock.on('connect', () => {
            sock.write(
                'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
                    'Sec-WebSocket-Version: 13\r\n\r\n'
            );
        });
        sock.on('data', (d) => {
            state.buf = Buffer.concat([state.buf, d]);
            if (!state.upgraded) {
                const end = state.buf.indexOf('\r\n\r\n');
                if (end < 0) {
                    return;
                }
                const head = state.buf.subarray(0, end).toString('latin1');
                if (!head.startsWith('HTTP/1.1 101')) {
                    reject(new Error(`no upgrade: ${head}`));
                    return;
                }
                state.upgraded = true;
                state.openedAt = Date.now();
                state.buf = state.buf.subarray(end + 4);
                resolve(state);
            }
            // Server frames are unmasked; lengths here stay below 64 KiB.
            while (state.buf.length >= 2) {
                let len = state.buf[1] & 0x7f;
                let off = 2;
                if (len === 126) {
                    if (state.buf.length < 4) break;
                    len = state.buf.readUInt16BE(2);
                    off = 4;
                }
                if (state.buf.length < off + len) break;
                state.frames.push({ opcode: state.buf[0] & 0x0f, payload: state.buf.subarray(off, off + len), at: Date.now() });
                state.buf = state.buf.subarray(off + len);
            }
        });
        sock.on('close', () => {
            state.closedAt = Date.now();
        });
        sock.on('error', (err) => {
            if (!state.upgraded) reject(err);
        });
    });
}

async function until(pred, what, deadlineMs = DEADLINE_MS) {
    const deadline = Date.now() + deadlineMs;
    while (!pred()) {
        if (Date.now() > deadline) {
            throw new Error(`no ${what} within ${deadlineMs} ms`);
        }
        await sleep(20);
    }
}

describe('heartbeats and idle connections', { timeout: TEST_TIMEOUT_MS }, () => {
    test('a client that answers pings stays; one that does not is closed after ping + pong timeout', async () => {
        const relay = await start('hb-ping', { relay: { ping_interval_s: 1, pong_timeout_s: 1, idle_timeout_s: 0 } });
        const good = await RawClient.open(relay.url);
        let pings = 0;
        good.ws.on('ping', () => {
            pings++;
        });
        const mute = await rawSocketClient(relay.port);
        try {
            // The ws library answers each ping with a pong.
            await until(() => pings >= 3, 'third ping');
            assert.equal(good.closed, null);
            await good.query('q', { limit: 1 });

            await until(() => mute.closedAt !== null, 'close of the silent client');
            const ping = mute.frames.find((f) => f.opcode === 0x9);
            assert.ok(ping, 'the silent client was pinged');
            const close = mute.frames.find((f) => f.opcode === 0x8);
            assert.ok(close, 'a close frame came before the socket closed');
            assert.equal(close.payload.readUInt16BE(0), 1001);
            assert.equal(close.payload.subarray(2).toString(), 'no answer to ping');
            // Silent since the handshake: pinged after a second, closed a
            // second after that at the earliest.
            assert.ok(ping.at - mute.openedAt >= 900, `pinged after ${ping.at - mute.openedAt} ms`);
            assert.ok(mute.closedAt - mute.openedAt >= 1900, `closed after ${mute.closedAt - mute.openedAt} ms`);
            assert.equal(good.closed, null);
        } finally {
            mute.sock.destroy();
            await closeAll(good);
            await stopRelayClean(relay);
        }
    });

    test('idle_timeout closes a connection without subscriptions, not one with an open REQ', async () => {
        const relay = await start('hb-idle', { relay: { ping_interval_s: 0, idle_timeout_s: 1 } });
        const subscribed = await RawClient.open(relay.url);
        try {
            await subscribed.req('live', { kinds: [1] });
            const idle = await RawClient.open(relay.url);
            const n = await idle.takeNotice();
            assert.equal(n.msg[1], R.idle);
            assert.deepEqual(await closedOf(idle), { code: 1000, reason: R.idle });
            // Silent longer than the timeout, but subscribed: still served.
            await sleep(1500);
            assert.equal(subscribed.closed, null);
            const ev = signed(newKey(), { content: 'to the subscriber' });
            const pub = await RawClient.open(relay.url);
            try {
                assert.deepEqual(await pub.publish(ev), [true, '']);
            } finally {
                await closeAll(pub);
            }
            const f = await subscribed.take((m) => m[0] === 'EVENT' && m[1] === 'live', 'the live event');
            assert.equal(f.msg[2].id, ev.id);
        } finally {
            await closeAll(subscribed);
            await stopRelayClean(relay);
        }
    });
});
