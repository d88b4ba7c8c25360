// Subscriptions: live delivery after EOSE, replacing a subscription by
// reusing its id, CLOSE, per-connection ids, the subscription limit, and
// ephemeral events (delivered live, never stored).
//
// "Nothing was delivered" is shown with a barrier rather than a wait: the
// relay broadcasts events in the order it stored them, so once a later
// event arrives on a subscription still open on the same connection, any
// copy of an earlier event would already have arrived.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, nowSec, signed } from './client.mjs';

const REASON = /^(duplicate|pow|blocked|rate-limited|invalid|error): \S/;

describe('subscriptions', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let pub; // publishes
    let c; // subscribes

    before(async () => {
        const dir = makeTempDir('subs');
        writeConfig(dir, { limits: { max_subscriptions: 64 } });
        relay = await startRelay(dir);
        pub = await RawClient.open(relay.url);
    });

    after(async () => {
        await closeAll(pub);
        await stopRelayClean(relay);
    });

    async function publishOk(ev) {
        assert.deepEqual(await pub.publish(ev), [true, ''], `publish ${ev.id}`);
        return ev;
    }

    function takeEvent(client, subId, id) {
        return client.take((m) => m[0] === 'EVENT' && m[1] === subId && (id === undefined || m[2].id === id), `EVENT ${id ?? ''} on ${subId}`);
    }

    function eventsOn(client, subId) {
        return client.unread(subId).filter((f) => f.msg[0] === 'EVENT');
    }

    test('events published after EOSE are delivered live, in order', async () => {
        c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            const before1 = await publishOk(signed(key, { content: 'stored', created_at: nowSec() - 10 }));
            const { events } = await c.req('live', { authors: [key.pk] });
            assert.deepEqual(events, [before1]);
            const live = [];
            for (let i = 0; i < 5; i++) live.push(await publishOk(signed(key, { content: `live ${i}` })));
            for (const ev of live) {
                const f = await takeEvent(c, 'live');
                assert.deepEqual(f.msg[2], ev);
            }
            // An event by someone else does not match and is not delivered.
            await publishOk(signed(newKey(), { content: 'not for this filter' }));
            const barrier = await publishOk(signed(key, { content: 'barrier' }));
            await takeEvent(c, 'live', barrier.id);
            assert.deepEqual(c.unread(), []);
        } finally {
            await c.close();
        }
    });

    test('a REQ with an open subscription id replaces its filters', async () => {
        c = await RawClient.open(relay.url);
        try {
            const a = newKey();
            const b = newKey();
            const storedB = await publishOk(signed(b, { content: 'stored b', created_at: nowSec() - 10 }));
            assert.deepEqual((await c.req('same', { authors: [a.pk] })).events, []);
            assert.deepEqual((await c.req('same', { authors: [b.pk] })).events, [storedB]);
            await publishOk(signed(a, { content: 'a: the old filter' }));
            const evB = await publishOk(signed(b, { content: 'b: the new filter' }));
            await takeEvent(c, 'same', evB.id);
            assert.deepEqual(eventsOn(c, 'same'), [], 'nothing for the replaced filter');
        } finally {
            await c.close();
        }
    });

    test('CLOSE stops delivery on that subscription only', async () => {
        c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            await c.req('gone', { authors: [key.pk] });
            await c.req('kept', { authors: [key.pk] });
            c.send(['CLOSE', 'gone']);
            // The REQ after the CLOSE is answered only once the CLOSE is done.
            await c.req('sync', { ids: ['0'.repeat(64)] });
            const ev = await publishOk(signed(key, { content: 'after close' }));
            await takeEvent(c, 'kept', ev.id);
            const ev2 = await publishOk(signed(key, { content: 'second' }));
            await takeEvent(c, 'kept', ev2.id);
            assert.deepEqual(eventsOn(c, 'gone'), []);
            assert.deepEqual(c.unread(), []);
        } finally {
            await c.close();
        }
    });

    test('REQ immediately followed by CLOSE: nothing live after the CLOSE', async () => {
        c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            for (let i = 0; i < 20; i++) await publishOk(signed(key, { content: `stored ${i}`, created_at: nowSec() - 100 + i }));
            // The CLOSE arrives while the stored-event query may still run.
            c.send(['REQ', 'brief', { authors: [key.pk] }]);
            c.send(['CLOSE', 'brief']);
            await c.req('watch', { authors: [key.pk], limit: 0 });
            const ev = await publishOk(signed(key, { content: 'live after close' }));
            await takeEvent(c, 'watch', ev.id);
            const barrier = await publishOk(signed(key, { content: 'barrier' }));
            await takeEvent(c, 'watch', barrier.id);
            const late = c.unread('brief').filter((f) => f.msg[0] === 'EVENT' && f.msg[2].id === ev.id);
            assert.deepEqual(late, [], 'no live event on a closed subscription');
            // Whatever stored events were sent before the CLOSE took effect
            // are the author's, each at most once.
            const early = c.unread('brief').filter((f) => f.msg[0] === 'EVENT').map((f) => f.msg[2]);
            assert.ok(early.every((e) => e.pubkey === key.pk));
            assert.equal(new Set(early.map((e) => e.id)).size, early.length);
        } finally {
            await c.close();
        }
    });

    test('REQ replaced while its stored-event query runs: only the new filter afterwards', async () => {
        c = await RawClient.open(relay.url);
        try {
            const a = newKey();
            const b = newKey();
            for (let i = 0; i < 50; i++) await publishOk(signed(a, { content: `a ${i}`, created_at: nowSec() - 200 + i }));
            const storedB = await publishOk(signed(b, { content: 'b stored', created_at: nowSec() - 50 }));
            c.send(['REQ', 'swap', { authors: [a.pk] }]);
            c.send(['REQ', 'swap', { authors: [b.pk] }]);
            // Read up to the EOSE that carries storedB's query: the last EOSE.
            await c.req('sync', { ids: ['0'.repeat(64)] });
            const liveB = await publishOk(signed(b, { content: 'b live' }));
            const liveA = await publishOk(signed(a, { content: 'a live' }));
            const barrier = await publishOk(signed(b, { content: 'b barrier' }));
            await takeEvent(c, 'swap', barrier.id);
            const frames = c.unread('swap');
            const after = frames.slice(frames.map((f) => f.msg[0]).lastIndexOf('EOSE') + 1);
            const afterIds = after.filter((f) => f.msg[0] === 'EVENT').map((f) => f.msg[2].id);
            assert.deepEqual(afterIds, [liveB.id], 'after the last EOSE only the new filter delivers');
            const allB = frames.filter((f) => f.msg[0] === 'EVENT' && f.msg[2].pubkey === b.pk).map((f) => f.msg[2].id);
            assert.deepEqual(allB, [storedB.id, liveB.id], 'the new filter: stored once, then live');
            assert.ok(!frames.some((f) => f.msg[0] === 'EVENT' && f.msg[2].id === liveA.id), 'no live event for the old filter');
        } finally {
            await c.close();
        }
    });

    test('subscription ids are compared after decoding JSON escapes', async () => {
        c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            c.send(`["REQ","abc/d",{"authors":["${key.pk}"]}]`);
            await c.collect('abc/d');
            // The same id, written with a \u escape and an escaped slash.
            c.send('["CLOSE","\\u0061bc\\/d"]');
            await c.req('watch', { authors: [key.pk], limit: 0 });
            const ev = await publishOk(signed(key, { content: 'after an escaped CLOSE' }));
            await takeEvent(c, 'watch', ev.id);
            const barrier = await publishOk(signed(key, { content: 'barrier' }));
            await takeEvent(c, 'watch', barrier.id);
            assert.deepEqual(eventsOn(c, 'abc/d'), [], 'the escaped CLOSE closed "abc/d"');
            // An escaped REQ id is echoed decoded.
            c.send(`["REQ","\\u0078\\/y",{"ids":["${ev.id}"]}]`);
            const { events } = await c.collect('x/y');
            assert.deepEqual(events, [ev]);
        } finally {
            await c.close();
        }
    });

    test('subscription ids are per connection', async () => {
        c = await RawClient.open(relay.url);
        const d = await RawClient.open(relay.url);
        try {
            const a = newKey();
            const b = newKey();
            await c.req('shared', { authors: [a.pk] });
            await d.req('shared', { authors: [b.pk] });
            const evA = await publishOk(signed(a, { content: 'for c' }));
            const evB = await publishOk(signed(b, { content: 'for d' }));
            assert.deepEqual((await takeEvent(c, 'shared')).msg[2], evA);
            assert.deepEqual((await takeEvent(d, 'shared')).msg[2], evB);
            d.send(['CLOSE', 'shared']);
            await d.req('sync', { ids: ['0'.repeat(64)] });
            const evA2 = await publishOk(signed(a, { content: 'c still open' }));
            assert.deepEqual((await takeEvent(c, 'shared')).msg[2], evA2);
            assert.deepEqual(c.unread(), []);
            assert.deepEqual(d.unread(), []);
        } finally {
            await closeAll(c, d);
        }
    });

    test('one event matching several subscriptions of a connection reaches each once', async () => {
        c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            await c.req('by-author', { authors: [key.pk] });
            await c.req('by-tag', { '#t': [`multi-${key.pk.slice(0, 8)}`] });
            await c.req('both', { authors: [key.pk] }, { '#t': [`multi-${key.pk.slice(0, 8)}`] });
            const ev = await publishOk(signed(key, { tags: [['t', `multi-${key.pk.slice(0, 8)}`]], content: 'x' }));
            for (const s of ['by-author', 'by-tag', 'both']) await takeEvent(c, s, ev.id);
            const barrier = await publishOk(signed(key, { content: 'barrier' }));
            await takeEvent(c, 'both', barrier.id);
            await takeEvent(c, 'by-author', barrier.id);
            assert.deepEqual(c.unread(), []);
        } finally {
            await c.close();
        }
    });

    test('max_subscriptions (64): the 65th REQ is CLOSED with a reason', async () => {
        c = await RawClient.open(relay.url);
        try {
            for (let i = 0; i < 64; i++) c.send(['REQ', `m${i}`, { ids: ['0'.repeat(64)] }]);
            for (let i = 0; i < 64; i++) await c.take((m) => m[0] === 'EOSE' && m[1] === `m${i}`, `EOSE m${i}`);
            c.send(['REQ', 'm64', { ids: ['0'.repeat(64)] }]);
            const f = await c.take((m) => m[1] === 'm64', 'an answer to m64');
            assert.equal(f.msg[0], 'CLOSED');
            assert.match(f.msg[2], REASON);
            c.send(['CLOSE', 'm0']);
            await c.req('m65', { ids: ['0'.repeat(64)] });
            assert.deepEqual(c.unread(), []);
        } finally {
            await c.close();
        }
    });

    test('ephemeral events: OK true, delivered live, never stored', async () => {
        c = await RawClient.open(relay.url);
        try {
            const key = newKey();
            await c.req('eph', { kinds: [20001], authors: [key.pk] });
            const ev = signed(key, { kind: 20001, content: 'here and gone' });
            assert.deepEqual(await pub.publish(ev), [true, '']);
            assert.deepEqual((await takeEvent(c, 'eph')).msg[2], ev);
            c.send(['CLOSE', 'eph']);
            assert.deepEqual((await c.req('eph-ids', { ids: [ev.id] })).events, []);
            assert.deepEqual((await c.req('eph-author', { authors: [key.pk] })).events, []);
            assert.deepEqual((await c.req('eph-kind', { kinds: [20001], authors: [key.pk], limit: 10 })).events, []);
        } finally {
            await c.close();
        }
    });

    test('a closed connection stops its subscriptions and the relay keeps serving', async () => {
        const gone = await RawClient.open(relay.url);
        const key = newKey();
        await gone.req('g', { authors: [key.pk] });
        await gone.close();
        c = await RawClient.open(relay.url);
        try {
            await c.req('after', { authors: [key.pk], limit: 0 });
            const ev = await publishOk(signed(key, { content: 'after a disconnect' }));
            assert.deepEqual((await takeEvent(c, 'after')).msg[2], ev);
        } finally {
            await c.close();
        }
    });
});
