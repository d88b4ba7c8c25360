// NIP-42 authentication and NIP-70 protected events: the challenge sent on
// connect, AUTH answers and each way one is refused, [auth] requirements for
// writes and reads, the allow list, direct messages on REQ, COUNT and live
// delivery, and events only their author may publish. Each configuration
// runs as its own relay.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir, startRelay, stopRelayClean, httpRequest, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, finalizeEvent, newKey, nowSec, signed } from './client.mjs';

// Starts a relay whose config has an [auth] table with the given keys.
async function startAuthRelay(tag, auth = {}) {
    const dir = makeTempDir(tag);
    const file = writeConfig(dir);
    const lines = ['', '[auth]'];
    for (const [k, v] of Object.entries(auth)) {
        lines.push(`${k} = ${JSON.stringify(v)}`);
    }
    fs.appendFileSync(path.join(dir, path.basename(file)), lines.join('\n') + '\n');
    return startRelay(dir);
}

// A kind 22242 event for `challenge` and `relayUrl`, signed by key.
function authEvent(key, challenge, relayUrl, { created_at = nowSec(), kind = 22242, tags } = {}) {
    const t = tags ?? [
        ['relay', relayUrl],
        ['challenge', challenge],
    ];
    return finalizeEvent({ kind, created_at, tags: t, content: '' }, key.sk);
}

// Opens a raw client and authenticates it as each key given.
async function openAuthed(relay, ...keys) {
    const c = await RawClient.open(relay.url);
    const challenge = await c.challenge();
    for (const key of keys) {
        const [ok, msg] = await c.auth(authEvent(key, challenge, relay.url));
        assert.equal(ok, true, msg);
    }
    return c;
}

async function closedReason(c, msg) {
    c.send(msg);
    const f = await c.take((m) => (m[0] === 'CLOSED' || m[0] === 'EOSE' || m[0] === 'COUNT') && m[1] === msg[1], `an answer to ${msg[1]}`);
    assert.equal(f.msg[0], 'CLOSED', `expected CLOSED, got ${f.text}`);
    return f.msg[2];
}

async function nip11(relay) {
    const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
    return JSON.parse(res.body);
}

describe('NIP-42 authentication (default configuration)', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;

    before(async () => {
        relay = await startAuthRelay('auth');
    });

    after(async () => {
        await stopRelayClean(relay);
    });

    test('every connection gets a fresh challenge on connect', async () => {
        const a = await RawClient.open(relay.url);
        const b = await RawClient.open(relay.url);
        let ca;
        try {
            ca = await a.challenge();
            const cb = await b.challenge();
            assert.match(ca, /^[0-9a-f]{32}$/);
            assert.match(cb, /^[0-9a-f]{32}$/);
            assert.notEqual(ca, cb);
            assert.equal(a.log[0].msg[0], 'AUTH', 'the challenge is the first frame');
        } finally {
            await closeAll(a, b);
        }
        assert.ok(!relay.stderr().includes(ca), 'challenges are never logged');
    });

    test('NIP-11 lists 42 and 70 and no requirement', async () => {
        const doc = await nip11(relay);
        assert.ok(doc.supported_nips.includes(42));
        assert.ok(doc.supported_nips.includes(70));
        assert.equal(doc.limitation.auth_required, false);
        assert.equal(doc.limitation.restricted_writes, false);
    });

    test('a valid AUTH is answered OK true; nostr-tools authenticates too', async () => {
        const c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            const ev = authEvent(key, await c.challenge(), relay.url);
            assert.deepEqual(await c.auth(ev), [true, '']);
            // Authenticating again, and a second key, both succeed.
            assert.deepEqual(await c.auth(authEvent(key, await c.challenge(), relay.url)), [true, '']);
            assert.deepEqual(await c.auth(authEvent(newKey(), await c.challenge(), `${relay.url}/`)), [true, '']);
        } finally {
            await c.close();
        }
        const nt = await connectNostrTools(relay.url);
        try {
            const key = newKey();
            const deadline = Date.now() + 10000;
            while (!nt.challenge && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
            const msg = await nt.auth((t) => finalizeEvent(t, key.sk));
            assert.equal(msg, '');
        } finally {
            nt.close();
        }
    });

    test('a wrong challenge, relay tag, kind or created_at is refused with invalid:', async () => {
        const c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            const ch = await c.challenge();
            const cases = [
                [authEvent(key, 'f'.repeat(32), relay.url), /^invalid: .*challenge/],
                [authEvent(key, ch, relay.url, { tags: [['relay', relay.url]] }), /^invalid: .*no "challenge"/],
                [authEvent(key, ch, 'https://127.0.0.1/'), /^invalid: .*"relay" tag/],
                [authEvent(key, ch, 'wss://'), /^invalid: .*"relay" tag/],
                [authEvent(key, ch, relay.url, { tags: [['challenge', ch]] }), /^invalid: .*no "relay"/],
                [authEvent(key, ch, relay.url, { created_at: nowSec() - 700 }), /^invalid: .*10 minutes/],
                [authEvent(key, ch, relay.url, { kind: 1 }), /^invalid: .*kind 22242/],
            ];
            for (const [ev, want] of cases) {
                const [ok, msg] = await c.auth(ev);
                assert.equal(ok, false);
                assert.match(msg, want);
            }
            // A bad signature is caught by the normal validation.
            const forged = { ...authEvent(key, ch, relay.url), sig: 'a'.repeat(128) };
            const [ok, msg] = await c.auth(forged);
            assert.equal(ok, false);
            assert.match(msg, /^invalid: /);
            // The challenge of one connection does not work on another.
            const d = await RawClient.open(relay.url);
            try {
                const [ok2, msg2] = await d.auth(authEvent(key, ch, relay.url));
                assert.equal(ok2, false);
                assert.match(msg2, /challenge/);
            } finally {
                await d.close();
            }
            assert.deepEqual(await c.auth(authEvent(key, ch, relay.url)), [true, ''], 'still usable');
        } finally {
            await c.close();
        }
    });

    test('a kind 22242 event sent with EVENT is refused and never stored', async () => {
        const c = await RawClient.open(relay.url);
        try {
            const ev = authEvent(newKey(), await c.challenge(), relay.url);
            const [ok, msg] = await c.publish(ev);
            assert.equal(ok, false);
            assert.match(msg, /^invalid: kind 22242/);
        } finally {
            await c.close();
        }
    });

    test('NIP-70: a protected event needs its author authenticated', async () => {
        const author = newKey();
        const other = newKey();
        const anon = await RawClient.open(relay.url);
        const wrong = await openAuthed(relay, other);
        const right = await openAuthed(relay, other, author);
        try {
            const ev = signed(author, { tags: [['-']], content: 'members only' });
            const want = [false, 'auth-required: this event may only be published by its author'];
            assert.deepEqual(await anon.publish(ev), want);
            assert.deepEqual(await wrong.publish(ev), want);
            assert.deepEqual(await right.publish(ev), [true, '']);
            const { events } = await anon.query('p', { ids: [ev.id] });
            assert.deepEqual(events, [ev]);
            // Unprotected events need no authentication.
            assert.deepEqual(await anon.publish(signed(author, { content: 'public' })), [true, '']);
        } finally {
            await closeAll(anon, wrong, right);
        }
    });

    test('DMs: REQ naming kind 4 or 1059 without AUTH is CLOSED auth-required', async () => {
        const c = await RawClient.open(relay.url);
        try {
            assert.match(await closedReason(c, ['REQ', 'dm', { kinds: [4] }]), /^auth-required: /);
            assert.match(await closedReason(c, ['REQ', 'gw', { kinds: [1, 1059] }]), /^auth-required: /);
            await c.query('ok', { kinds: [1], limit: 1 });
        } finally {
            await c.close();
        }
    });

    test('DMs: stored ones reach only their author and recipients', async () => {
        const alice = newKey();
        const bob = newKey();
        const eve = newKey();
        const dm = signed(alice, { kind: 4, tags: [['p', bob.pk]], content: 'secret?iv=x' });
        const wrap = signed(newKey(), { kind: 1059, tags: [['p', bob.pk]], content: 'wrapped' });
        const note = signed(alice, { kind: 1, content: 'public note' });
        const pub = await RawClient.open(relay.url);
        const ca = await openAuthed(relay, alice);
        const cb = await openAuthed(relay, bob);
        const ce = await openAuthed(relay, eve);
        try {
            for (const ev of [dm, wrap, note]) assert.deepEqual(await pub.publish(ev), [true, '']);
            const byIds = { ids: [dm.id, wrap.id, note.id] };
            const sorted = (evs) => evs.map((e) => e.id).sort();
            assert.deepEqual(sorted((await pub.query('a', byIds)).events), [note.id]);
            assert.deepEqual(sorted((await ce.query('e', byIds)).events), [note.id]);
            assert.deepEqual(sorted((await ca.query('a', byIds)).events), [dm.id, note.id].sort());
            assert.deepEqual(sorted((await cb.query('b', byIds)).events), [dm.id, wrap.id, note.id].sort());
            assert.deepEqual(sorted((await ce.query('k', { kinds: [4], authors: [alice.pk] })).events), []);
            assert.deepEqual(sorted((await cb.query('k', { kinds: [4], '#p': [bob.pk] })).events), [dm.id]);
        } finally {
            await closeAll(pub, ca, cb, ce);
        }
    });

    test('DMs: live ones reach only their author and recipients', async () => {
        const alice = newKey();
        const bob = newKey();
        const pub = await RawClient.open(relay.url);
        const cb = await openAuthed(relay, bob);
        const ce = await openAuthed(relay, newKey());
        try {
            for (const c of [pub, cb, ce]) await c.req('live', { authors: [alice.pk] });
            const dm = signed(alice, { kind: 4, tags: [['p', bob.pk]], content: 'live secret' });
            const barrier = signed(alice, { kind: 1, content: 'barrier' });
            assert.deepEqual(await pub.publish(dm), [true, '']);
            assert.deepEqual(await pub.publish(barrier), [true, '']);
            const got = async (c) => {
                const ids = [];
                for (;;) {
                    const f = await c.take((m) => m[0] === 'EVENT' && m[1] === 'live', 'a live event');
                    ids.push(f.msg[2].id);
                    if (f.msg[2].id === barrier.id) return ids;
                }
            };
            assert.deepEqual(await got(cb), [dm.id, barrier.id]);
            assert.deepEqual(await got(pub), [barrier.id]);
            assert.deepEqual(await got(ce), [barrier.id]);
        } finally {
            await closeAll(pub, cb, ce);
        }
    });

    test('DMs: COUNT that could include them must keep to the own keys', async () => {
        const alice = newKey();
        const bob = newKey();
        const pub = await RawClient.open(relay.url);
        const cb = await openAuthed(relay, bob);
        try {
            assert.deepEqual(await pub.publish(signed(alice, { kind: 4, tags: [['p', bob.pk]], content: 'x' })), [true, '']);
            assert.match(await closedReason(pub, ['COUNT', 'c1', { kinds: [4] }]), /^auth-required: /);
            assert.match(await closedReason(pub, ['COUNT', 'c2', { authors: [alice.pk] }]), /^auth-required: /);
            assert.match(await closedReason(cb, ['COUNT', 'c3', { kinds: [4] }]), /^restricted: /);
            cb.send(['COUNT', 'c4', { kinds: [4], '#p': [bob.pk] }]);
            const f = await cb.take((m) => m[1] === 'c4', 'COUNT c4');
            // One "#p" value: NIP-45 registers come with the count.
            assert.deepEqual(f.msg.slice(0, 2), ['COUNT', 'c4']);
            assert.equal(f.msg[2].count, 1);
            assert.equal(f.msg[2].hll.length, 512);
            pub.send(['COUNT', 'c5', { kinds: [1], authors: [alice.pk] }]);
            const g = await pub.take((m) => m[1] === 'c5', 'COUNT c5');
            assert.deepEqual(g.msg, ['COUNT', 'c5', { count: 0 }]);
        } finally {
            await closeAll(pub, cb);
        }
    });
});

describe('NIP-42 [auth] requirements', { timeout: TEST_TIMEOUT_MS }, () => {
    const allowed = newKey();
    let writeRelay, readRelay, allowRelay, urlRelay;

    before(async () => {
        writeRelay = await startAuthRelay('auth-w', { required_for_write: true });
        readRelay = await startAuthRelay('auth-r', { required_for_read: true, allow_pubkeys: [allowed.pk] });
        allowRelay = await startAuthRelay('auth-a', { allow_pubkeys: [allowed.pk] });
        urlRelay = await startAuthRelay('auth-u', { relay_url: 'wss://relay.example.org/' });
    });

    after(async () => {
        for (const r of [writeRelay, readRelay, allowRelay, urlRelay]) await stopRelayClean(r);
    });

    test('required_for_write: EVENT needs AUTH first', async () => {
        const doc = await nip11(writeRelay);
        assert.equal(doc.limitation.auth_required, true);
        assert.equal(doc.limitation.restricted_writes, true);
        const key = newKey();
        const c = await RawClient.open(writeRelay.url);
        try {
            const ev = signed(key, { content: 'needs auth' });
            const [ok, msg] = await c.publish(ev);
            assert.equal(ok, false);
            assert.match(msg, /^auth-required: /);
            await c.query('r', { kinds: [1], limit: 1 });
            assert.deepEqual(await c.auth(authEvent(newKey(), await c.challenge(), writeRelay.url)), [true, '']);
            assert.deepEqual(await c.publish(ev), [true, '']);
        } finally {
            await c.close();
        }
    });

    test('required_for_read: REQ and COUNT need AUTH by an allowed key', async () => {
        const doc = await nip11(readRelay);
        assert.equal(doc.limitation.auth_required, true);
        const c = await RawClient.open(readRelay.url);
        try {
            assert.match(await closedReason(c, ['REQ', 'r', { kinds: [1] }]), /^auth-required: /);
            assert.match(await closedReason(c, ['COUNT', 'n', { kinds: [1] }]), /^auth-required: /);
            assert.deepEqual(await c.auth(authEvent(newKey(), await c.challenge(), readRelay.url)), [true, '']);
            assert.match(await closedReason(c, ['REQ', 'r', { kinds: [1] }]), /^restricted: /);
            assert.deepEqual(await c.auth(authEvent(allowed, await c.challenge(), readRelay.url)), [true, '']);
            await c.query('r', { kinds: [1] });
        } finally {
            await c.close();
        }
    });

    test('allow_pubkeys: other keys get restricted:, unauthenticated auth-required:', async () => {
        const doc = await nip11(allowRelay);
        assert.equal(doc.limitation.auth_required, false);
        assert.equal(doc.limitation.restricted_writes, true);
        const c = await RawClient.open(allowRelay.url);
        try {
            const ev = signed(newKey(), { content: 'who may write' });
            assert.match((await c.publish(ev))[1], /^auth-required: /);
            assert.deepEqual(await c.auth(authEvent(newKey(), await c.challenge(), allowRelay.url)), [true, '']);
            assert.match((await c.publish(ev))[1], /^restricted: /);
            assert.deepEqual(await c.auth(authEvent(allowed, await c.challenge(), allowRelay.url)), [true, '']);
            assert.deepEqual(await c.publish(ev), [true, '']);
            await c.query('r', { ids: [ev.id] });
        } finally {
            await c.close();
        }
    });

    test('relay_url: the relay tag must name the configured URL, leniently', async () => {
        const c = await RawClient.open(urlRelay.url);
        try {
            const ch = await c.challenge();
            for (const url of ['wss://relay.example.org', 'ws://RELAY.example.org:80/', 'wss://relay.example.org:443//']) {
                assert.deepEqual(await c.auth(authEvent(newKey(), ch, url)), [true, ''], url);
            }
            for (const url of [urlRelay.url, 'wss://relay.example.org:8443/', 'wss://other.example.org/', 'wss://relay.example.org/x']) {
                const [ok, msg] = await c.auth(authEvent(newKey(), ch, url));
                assert.equal(ok, false, url);
                assert.match(msg, /^invalid: .*"relay" tag/);
            }
        } finally {
            await c.close();
        }
    });
});
