// NIP-50 search against the real relay: REQ with "search" returns the
// stored notes whose content holds every word (case-insensitive), most
// relevant first, combined with the other fields; live notes that match
// arrive after EOSE; COUNT counts matches (naming its kinds, as NIP-42's
// direct-message rule wants); key:value extensions are
// ignored; nostr-tools queries with search work; a relay with
// [search] enabled = false refuses search filters with CLOSED and leaves
// 50 out of NIP-11.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, newKey, nowSec, signed, sortedIds } from './client.mjs';

async function supportedNips(relay) {
    const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
    return JSON.parse(res.body).supported_nips;
}

describe('NIP-50 search', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;
    const alice = newKey();
    const bob = newKey();
    const now = nowSec();
    const notes = [
        signed(alice, { content: 'Ostrich is a fast nostr relay', created_at: now - 50 }),
        signed(bob, { content: 'ostrich ostrich OSTRICH', created_at: now - 40 }),
        signed(alice, { kind: 30023, tags: [['d', 'a']], content: 'An article about the ostrich', created_at: now - 30 }),
        signed(bob, { content: 'Nothing to see here', created_at: now - 20 }),
    ];

    before(async () => {
        const dir = makeTempDir('search');
        writeConfig(dir);
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
        for (const ev of notes) {
            assert.deepEqual(await raw.publish(ev), [true, '']);
        }
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('NIP-11 lists 50 by default', async () => {
        assert.ok((await supportedNips(relay)).includes(50));
    });

    test('REQ with search returns the matching notes, most relevant first', async () => {
        const { events } = await raw.query('s1', { search: 'OSTRICH' });
        assert.equal(events.length, 3);
        assert.equal(events[0].id, notes[1].id, 'the note saying it three times comes first');
        assert.deepEqual(sortedIds(events), sortedIds(notes.slice(0, 3)));
        const two = await raw.query('s2', { search: 'fast relay' });
        assert.deepEqual(two.events.map((e) => e.id), [notes[0].id]);
        const none = await raw.query('s3', { search: 'ostrich article missing' });
        assert.deepEqual(none.events, []);
    });

    test('search combines with kinds, authors and limit', async () => {
        const art = await raw.query('k1', { search: 'ostrich', kinds: [30023] });
        assert.deepEqual(art.events.map((e) => e.id), [notes[2].id]);
        const bobs = await raw.query('k2', { search: 'ostrich', authors: [bob.pk] });
        assert.deepEqual(bobs.events.map((e) => e.id), [notes[1].id]);
        const one = await raw.query('k3', { search: 'ostrich', limit: 1 });
        assert.deepEqual(one.events.map((e) => e.id), [notes[1].id]);
    });

    test('extensions are ignored and FTS5 syntax is only words', async () => {
        const ext = await raw.query('e1', { search: 'fast include:spam language:en nsfw:true', kinds: [1] });
        assert.deepEqual(ext.events.map((e) => e.id), [notes[0].id]);
        const onlyExt = await raw.query('e2', { search: 'domain:example.com', authors: [bob.pk] });
        assert.deepEqual(sortedIds(onlyExt.events), sortedIds([notes[1], notes[3]]));
        for (const q of ['"ostrich', 'ostrich*', 'NEAR(ostrich relay)', '{content}: ostrich', 'ostrich OR', '(((']) {
            const { events } = await raw.query('e3', { search: q });
            assert.ok(Array.isArray(events), `search ${q} answered`);
        }
    });

    test('COUNT with search counts matches', async () => {
        raw.send(['COUNT', 'c1', { search: 'ostrich', kinds: [1, 30023] }]);
        const f = await raw.take((m) => (m[0] === 'COUNT' || m[0] === 'CLOSED') && m[1] === 'c1', 'COUNT c1');
        assert.equal(f.msg[0], 'COUNT', f.text);
        assert.equal(f.msg[2].count, 3);
    });

    test('a search longer than the limit is refused', async () => {
        raw.send(['REQ', 'long', { search: 'x'.repeat(257) }]);
        const f = await raw.take((m) => (m[0] === 'CLOSED' || m[0] === 'EOSE') && m[1] === 'long', 'CLOSED long');
        assert.deepEqual(f.msg, ['CLOSED', 'long', "invalid: search query too long (over the relay's limit)"]);
        const ok = await raw.query('long2', { search: 'x'.repeat(256) });
        assert.deepEqual(ok.events, []);
    });

    test('live notes that match arrive after EOSE; others do not', async () => {
        const sub = await raw.req('live', { search: 'penguin', kinds: [1] });
        assert.deepEqual(sub.events, []);
        const miss = signed(alice, { content: 'an emu, not a bird of the south' });
        const hit = signed(bob, { content: 'A PENGUIN walks in' });
        assert.deepEqual(await raw.publish(miss), [true, '']);
        assert.deepEqual(await raw.publish(hit), [true, '']);
        const f = await raw.take((m) => m[0] === 'EVENT' && m[1] === 'live', 'live EVENT');
        assert.equal(f.msg[2].id, hit.id);
        raw.send(['CLOSE', 'live']);
    });

    test('nostr-tools queries with search', async () => {
        const nt = await connectNostrTools(relay.url);
        try {
            const got = await new Promise((resolve, reject) => {
                const events = [];
                const timer = setTimeout(() => reject(new Error('no EOSE')), DEADLINE_MS);
                const sub = nt.subscribe([{ search: 'ostrich', kinds: [1] }], {
                    onevent: (ev) => events.push(ev),
                    oneose: () => {
                        clearTimeout(timer);
                        sub.close();
                        resolve(events);
                    },
                });
            });
            assert.deepEqual(sortedIds(got), sortedIds(notes.slice(0, 2)));
        } finally {
            nt.close();
        }
    });
});

describe('NIP-50 search disabled', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;

    before(async () => {
        const dir = makeTempDir('search-off');
        writeConfig(dir, { search: { enabled: false } });
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('NIP-11 leaves 50 out', async () => {
        assert.ok(!(await supportedNips(relay)).includes(50));
    });

    test('REQ and COUNT with search are CLOSED unsupported, and the connection still serves', async () => {
        const reason = 'unsupported: search is disabled on this relay';
        raw.send(['REQ', 'off', { kinds: [1] }, { search: 'ostrich' }]);
        let f = await raw.take((m) => (m[0] === 'CLOSED' || m[0] === 'EOSE') && m[1] === 'off', 'CLOSED off');
        assert.deepEqual(f.msg, ['CLOSED', 'off', reason]);
        raw.send(['COUNT', 'offc', { search: 'ostrich' }]);
        f = await raw.take((m) => (m[0] === 'CLOSED' || m[0] === 'COUNT') && m[1] === 'offc', 'CLOSED offc');
        assert.deepEqual(f.msg, ['CLOSED', 'offc', reason]);
        const { events } = await raw.query('after', { kinds: [1] });
        assert.deepEqual(events, []);
    });
});
