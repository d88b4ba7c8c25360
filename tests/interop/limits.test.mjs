// Configured limits, each tested on both sides of its boundary, on a relay
// started with small values so that the boundaries are cheap to reach.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, ids, newKey, nowSec, ntPublish, signed } from './client.mjs';

const LIMITS = {
    max_message_bytes: 1024,
    max_event_tags: 2,
    max_content_bytes: 64,
    max_subscriptions: 3,
    max_filters: 2,
    max_limit: 4,
    default_limit: 3,
};

// A prefix from NIP-01's list, a colon, a space and a message.
const REASON = /^(duplicate|pow|blocked|rate-limited|invalid|error|unsupported|restricted|auth-required): \S/;

describe('configured limits', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let nt;
    const key = newKey();

    before(async () => {
        const dir = makeTempDir('limits');
        writeConfig(dir, { limits: LIMITS });
        relay = await startRelay(dir);
        nt = await connectNostrTools(relay.url);
    });

    after(async () => {
        nt?.close();
        await stopRelayClean(relay);
    });

    test('NIP-11 limitation shows the small limits', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        const l = JSON.parse(res.body).limitation;
        assert.equal(l.max_message_length, 1024);
        assert.equal(l.max_event_tags, 2);
        assert.equal(l.max_content_length, 64);
        assert.equal(l.max_subscriptions, 3);
        assert.equal(l.max_filters, 2);
        assert.equal(l.max_limit, 4);
        assert.equal(l.default_limit, 3);
    });

    test('max_event_tags: 2 tags are accepted, 3 tags are invalid', async () => {
        const two = signed(key, { tags: [['t', 'a'], ['t', 'b']], content: 'two tags' });
        assert.deepEqual(await ntPublish(nt, two), [true, '']);
        const three = signed(key, { tags: [['t', 'a'], ['t', 'b'], ['t', 'c']], content: 'three tags' });
        const [ok, msg] = await ntPublish(nt, three);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
    });

    test('max_content_bytes: 64 bytes are accepted, 65 bytes are invalid', async () => {
        assert.deepEqual(await ntPublish(nt, signed(key, { content: 'x'.repeat(64) })), [true, '']);
        const [ok, msg] = await ntPublish(nt, signed(key, { content: 'y'.repeat(65) }));
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
    });

    test('max_message_bytes: a message of exactly the limit is served, one byte more gets a NOTICE', async () => {
        const c = await RawClient.open(relay.url);
        try {
            const head = '["REQ","pad",{"limit":0}';
            const exact = head + ' '.repeat(1024 - head.length - 1) + ']';
            assert.equal(Buffer.byteLength(exact), 1024);
            c.send(exact);
            await c.collect('pad');

            const over = head + ' '.repeat(1024 - head.length) + ']';
            assert.equal(Buffer.byteLength(over), 1025);
            c.send(over);
            const n = await c.takeNotice();
            assert.match(n.msg[1], /^invalid: /);
            assert.deepEqual(c.unread('pad'), [], 'the oversized REQ was not served');

            // The same connection still works.
            const { events } = await c.req('after', { ids: ['0'.repeat(64)] });
            assert.deepEqual(events, []);
        } finally {
            await c.close();
        }
    });

    test('max_message_bytes: an oversized EVENT is refused and the connection stays usable', async () => {
        const c = await RawClient.open(relay.url);
        try {
            const ev = signed(key, { content: 'z'.repeat(60), tags: [['t', 'q'.repeat(900)]] });
            assert.ok(JSON.stringify(['EVENT', ev]).length > 1024);
            c.send(['EVENT', ev]);
            const f = await c.take((m) => m[0] === 'NOTICE' || (m[0] === 'OK' && m[1] === ev.id), 'NOTICE or OK');
            if (f.msg[0] === 'NOTICE') {
                assert.match(f.msg[1], /^invalid: /);
            } else {
                assert.equal(f.msg[2], false);
                assert.match(f.msg[3], /^invalid: /);
            }
            const small = signed(key, { content: 'small one' });
            assert.deepEqual(await c.publish(small), [true, '']);
        } finally {
            await c.close();
        }
    });

    test('max_filters: 2 filters are served, 3 are CLOSED invalid', async () => {
        const c = await RawClient.open(relay.url);
        try {
            await c.req('f2', { kinds: [1], limit: 1 }, { kinds: [2], limit: 1 });
            c.send(['REQ', 'f3', { kinds: [1] }, { kinds: [2] }, { kinds: [3] }]);
            const f = await c.take((m) => m[1] === 'f3', 'an answer to f3');
            assert.equal(f.msg[0], 'CLOSED');
            assert.match(f.msg[2], /^invalid: /);
        } finally {
            await c.close();
        }
    });

    test('max_subscriptions: 3 are open, the 4th is CLOSED, a freed slot can be reused', async () => {
        const c = await RawClient.open(relay.url);
        try {
            for (const s of ['s1', 's2', 's3']) {
                await c.req(s, { authors: [key.pk], limit: 0 });
            }
            c.send(['REQ', 's4', { authors: [key.pk], limit: 0 }]);
            const f = await c.take((m) => m[1] === 's4', 'an answer to s4');
            assert.equal(f.msg[0], 'CLOSED');
            assert.match(f.msg[2], REASON);

            // Reusing an open id replaces that subscription: no new slot.
            await c.req('s2', { authors: [key.pk], limit: 0 });

            c.send(['CLOSE', 's1']);
            await c.req('s5', { authors: [key.pk], limit: 0 });

            // s2, s3 and s5 are open; s1 and s4 are not.
            const ev = signed(key, { content: 'to open subs' });
            assert.deepEqual(await ntPublish(nt, ev), [true, '']);
            const got = [];
            for (let i = 0; i < 3; i++) {
                const e = await c.take((m) => m[0] === 'EVENT' && m[2].id === ev.id, 'a live event');
                got.push(e.msg[1]);
            }
            assert.deepEqual(got.sort(), ['s2', 's3', 's5']);
            // A second event works as a barrier: had s1 or s4 been live, their
            // copies of the first event would have come before it.
            const ev2 = signed(key, { content: 'barrier' });
            assert.deepEqual(await ntPublish(nt, ev2), [true, '']);
            await c.take((m) => m[0] === 'EVENT' && m[1] === 's5' && m[2].id === ev2.id, 'the barrier on s5');
            assert.deepEqual(
                c.unread().filter((f2) => f2.msg[0] === 'EVENT' && f2.msg[2].id === ev.id),
                [],
                'no copy of the event for closed subscriptions'
            );
        } finally {
            await c.close();
        }
    });

    test('max_limit clamps a larger limit; default_limit applies without one', async () => {
        const author = newKey();
        const base = nowSec() - 1000;
        const evs = [];
        for (let i = 0; i < 6; i++) {
            const ev = signed(author, { content: `clamp ${i}`, created_at: base + i });
            assert.deepEqual(await ntPublish(nt, ev), [true, '']);
            evs.push(ev);
        }
        const newest = evs.slice().reverse();
        const c = await RawClient.open(relay.url);
        try {
            let r = await c.req('big', { authors: [author.pk], limit: 10 });
            assert.deepEqual(ids(r.events), ids(newest.slice(0, 4)), 'clamped to max_limit');
            r = await c.req('nolimit', { authors: [author.pk] });
            assert.deepEqual(ids(r.events), ids(newest.slice(0, 3)), 'default_limit');
            r = await c.req('two', { authors: [author.pk], limit: 2 });
            assert.deepEqual(ids(r.events), ids(newest.slice(0, 2)));
        } finally {
            await c.close();
        }
    });
});
