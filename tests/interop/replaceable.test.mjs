// NIP-01 replaceable (0, 3, 10000-19999) and addressable (30000-39999)
// events: the newest version wins, a tie on created_at goes to the lowest
// id, and an older version arriving late is refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, ids, newKey, nowSec, ntPublish, signed } from './client.mjs';

// An OK false message: a NIP-01 prefix, a colon, a space and a message.
const REASON = /^(duplicate|pow|blocked|rate-limited|invalid|error): \S/;

describe('replaceable and addressable events', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let nt;
    let c;
    let subs = 0;
    const sub = () => `r${++subs}`;

    before(async () => {
        const dir = makeTempDir('replaceable');
        writeConfig(dir);
        relay = await startRelay(dir);
        nt = await connectNostrTools(relay.url);
        c = await RawClient.open(relay.url);
    });

    after(async () => {
        nt?.close();
        await closeAll(c);
        await stopRelayClean(relay);
    });

    async function stored(filter) {
        return (await c.query(sub(), filter)).events;
    }

    // Two events of `kind` by `key` with the same created_at, as [lower id, higher id].
    function tiePair(key, kind, t, extraTags = []) {
        const a = signed(key, { kind, created_at: t, tags: extraTags, content: 'tie A' });
        const b = signed(key, { kind, created_at: t, tags: extraTags, content: 'tie B' });
        return a.id < b.id ? [a, b] : [b, a];
    }

    for (const kind of [0, 3, 10002]) {
        test(`kind ${kind}: the newest version wins, an older late arrival is refused`, async () => {
            const key = newKey();
            const t = nowSec() - 1000;
            const v1 = signed(key, { kind, created_at: t, content: 'v1' });
            const v2 = signed(key, { kind, created_at: t + 10, content: 'v2' });
            assert.deepEqual(await ntPublish(nt, v1), [true, '']);
            assert.deepEqual(await ntPublish(nt, v2), [true, '']);
            assert.deepEqual(await stored({ kinds: [kind], authors: [key.pk] }), [v2]);

            const v0 = signed(key, { kind, created_at: t - 10, content: 'v0' });
            const [ok, msg] = await ntPublish(nt, v0);
            assert.equal(ok, false, 'an older version is refused');
            assert.match(msg, REASON);
            assert.deepEqual(await stored({ kinds: [kind], authors: [key.pk] }), [v2]);
            assert.deepEqual(await stored({ kinds: [kind], authors: [key.pk], limit: 10 }), [v2]);
            assert.deepEqual(await stored({ ids: [v0.id] }), [], 'the refused version is not stored');
        });

        test(`kind ${kind}: on equal created_at the lowest id wins, in either arrival order`, async () => {
            const t = nowSec() - 500;
            // Higher id first: the lower one replaces it.
            const k1 = newKey();
            const [low1, high1] = tiePair(k1, kind, t);
            assert.deepEqual(await ntPublish(nt, high1), [true, '']);
            assert.deepEqual(await ntPublish(nt, low1), [true, '']);
            assert.deepEqual(await stored({ kinds: [kind], authors: [k1.pk] }), [low1]);

            // Lower id first: the higher one is refused.
            const k2 = newKey();
            const [low2, high2] = tiePair(k2, kind, t);
            assert.deepEqual(await ntPublish(nt, low2), [true, '']);
            const [ok, msg] = await ntPublish(nt, high2);
            assert.equal(ok, false, 'the higher id loses the tie');
            assert.match(msg, REASON);
            assert.deepEqual(await stored({ kinds: [kind], authors: [k2.pk] }), [low2]);
        });
    }

    test('replaceable kinds are kept apart per kind and per author', async () => {
        const a = newKey();
        const b = newKey();
        const t = nowSec() - 300;
        const evs = [
            signed(a, { kind: 0, created_at: t, content: '{"name":"a"}' }),
            signed(a, { kind: 3, created_at: t + 1 }),
            signed(a, { kind: 10002, created_at: t + 2, tags: [['r', 'wss://relay.example']] }),
            signed(b, { kind: 0, created_at: t + 3, content: '{"name":"b"}' }),
        ];
        for (const e of evs) assert.deepEqual(await ntPublish(nt, e), [true, '']);
        const got = await stored({ authors: [a.pk, b.pk], kinds: [0, 3, 10002] });
        assert.deepEqual(ids(got).sort(), ids(evs).sort());
    });

    test('regular events with the same created_at are all kept', async () => {
        const key = newKey();
        const t = nowSec() - 200;
        const [x, y] = tiePair(key, 1, t);
        assert.deepEqual(await ntPublish(nt, x), [true, '']);
        assert.deepEqual(await ntPublish(nt, y), [true, '']);
        assert.deepEqual(ids(await stored({ authors: [key.pk] })).sort(), [x.id, y.id].sort());
    });

    test('kind 30023: one version per d tag value', async () => {
        const key = newKey();
        const other = newKey();
        const t = nowSec() - 800;
        const a1 = signed(key, { kind: 30023, created_at: t, tags: [['d', 'a']], content: 'a v1' });
        const a2 = signed(key, { kind: 30023, created_at: t + 5, tags: [['d', 'a']], content: 'a v2' });
        const b1 = signed(key, { kind: 30023, created_at: t + 1, tags: [['d', 'b']], content: 'b v1' });
        const oa = signed(other, { kind: 30023, created_at: t + 2, tags: [['d', 'a']], content: 'other a' });
        for (const e of [a1, b1, a2, oa]) assert.deepEqual(await ntPublish(nt, e), [true, '']);

        assert.deepEqual(ids(await stored({ kinds: [30023], authors: [key.pk] })).sort(), [a2.id, b1.id].sort());
        assert.deepEqual(await stored({ kinds: [30023], authors: [key.pk], '#d': ['a'] }), [a2]);
        assert.deepEqual(await stored({ kinds: [30023], authors: [other.pk] }), [oa]);

        const a0 = signed(key, { kind: 30023, created_at: t - 5, tags: [['d', 'a']], content: 'a v0' });
        const [ok, msg] = await ntPublish(nt, a0);
        assert.equal(ok, false, 'an older version of the same address is refused');
        assert.match(msg, REASON);
        assert.deepEqual(await stored({ kinds: [30023], authors: [key.pk], '#d': ['a'] }), [a2]);

        // A new d value is a new address even when older than the others.
        const c0 = signed(key, { kind: 30023, created_at: t - 50, tags: [['d', 'c']], content: 'c v1' });
        assert.deepEqual(await ntPublish(nt, c0), [true, '']);
        assert.deepEqual(ids(await stored({ kinds: [30023], authors: [key.pk] })).sort(), [a2.id, b1.id, c0.id].sort());
    });

    test('kind 30023: on equal created_at the lowest id wins', async () => {
        const key = newKey();
        const t = nowSec() - 700;
        const [low, high] = tiePair(key, 30023, t, [['d', 'tie']]);
        assert.deepEqual(await ntPublish(nt, high), [true, '']);
        assert.deepEqual(await ntPublish(nt, low), [true, '']);
        assert.deepEqual(await stored({ kinds: [30023], authors: [key.pk] }), [low]);
    });

    test('a live subscriber gets each newer version but not a refused older one', async () => {
        const key = newKey();
        const t = nowSec() - 100;
        const v1 = signed(key, { kind: 0, created_at: t, content: '{"name":"one"}' });
        assert.deepEqual(await ntPublish(nt, v1), [true, '']);
        const s = sub();
        assert.deepEqual((await c.req(s, { authors: [key.pk] })).events, [v1]);

        const v2 = signed(key, { kind: 0, created_at: t + 1, content: '{"name":"two"}' });
        assert.deepEqual(await ntPublish(nt, v2), [true, '']);
        assert.deepEqual((await c.take((m) => m[0] === 'EVENT' && m[1] === s, 'v2 live')).msg[2], v2);

        const old = signed(key, { kind: 0, created_at: t - 1, content: '{"name":"old"}' });
        assert.equal((await ntPublish(nt, old))[0], false);
        // A later note by the same author is the barrier: had the refused
        // version been broadcast, it would have arrived first.
        const note = signed(key, { kind: 1, created_at: t + 2, content: 'barrier' });
        assert.deepEqual(await ntPublish(nt, note), [true, '']);
        assert.deepEqual((await c.take((m) => m[0] === 'EVENT' && m[1] === s, 'the barrier')).msg[2], note);
        c.send(['CLOSE', s]);
    });
});
