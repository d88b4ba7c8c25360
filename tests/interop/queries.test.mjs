// NIP-01 queries against a stored data set: every filter field, inclusive
// time bounds, limit order, ORed filters, limit 0, byte-exact JSON, and a
// differential run of seeded random REQs against a naive matcher.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import {
    RawClient,
    closeAll,
    connectNostrTools,
    expectedFor,
    ids,
    matches,
    newKey,
    newestFirst,
    nowSec,
    ntPublish,
    signed,
} from './client.mjs';
import { filterModule, pure } from './deps.mjs';

// Small seeded generator (mulberry32), so a failing run can be repeated
// with OSTRICH_TEST_SEED.
function rng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const SEED = Number(process.env.OSTRICH_TEST_SEED || Math.floor(Math.random() * 2 ** 31));
const TOPICS = ['nostr', 'relay', 'ostrich', 'c', 'sqlite'];
const KINDS = [1, 7, 1111];

// JSON text for an event written the unusual but valid way: keys in
// another order, whitespace between tokens, and strings escaped with \uXXXX
// (upper- and lowercase hex), "\/" and surrogate pairs. The id and sig stay
// valid because NIP-01 hashes the canonical form of the decoded event.
function unusualString(s) {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const ch = s[i];
        if (ch === '"') out += '\\"';
        else if (ch === '\\') out += '\\\\';
        else if (ch === '/') out += '\\/';
        else if (c < 0x20 || c > 0x7e) {
            const hex = c.toString(16).padStart(4, '0');
            out += '\\u' + (i % 2 ? hex.toUpperCase() : hex);
        } else out += ch;
    }
    return out + '"';
}

function unusualJson(ev) {
    const tags = ev.tags.map((t) => '[ ' + t.map(unusualString).join(' ,') + ' ]').join(',\n  ');
    return (
        '{\n  "sig" : "' + ev.sig + '",\n  "tags": [' + tags + '],\t"kind":' + ev.kind +
        ' , "pubkey":"' + ev.pubkey + '", "content" :' + unusualString(ev.content) +
        ', "created_at": ' + ev.created_at + ',"id":"' + ev.id + '"\r\n}'
    );
}

describe('NIP-01 queries', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let nt;
    let c;
    const authors = [newKey(), newKey(), newKey()];
    const published = []; // every event this file got OK true for
    let dataset = [];
    const base = nowSec() - 100000;
    let subs = 0;
    const sub = () => `q${++subs}`;

    before(async () => {
        const dir = makeTempDir('queries');
        // NIP-67's hint is off by default; this file checks it, so it turns it on.
        writeConfig(dir, { relay: { eose_finish_hint: true } });
        relay = await startRelay(dir);
        nt = await connectNostrTools(relay.url);
        c = await RawClient.open(relay.url);

        // 90 events; created_at goes up by one every three events, so each
        // timestamp is shared by three events and limits cut through ties.
        const r = rng(SEED);
        for (let i = 0; i < 90; i++) {
            const author = authors[i % 3];
            const tags = [['t', TOPICS[Math.floor(r() * TOPICS.length)]]];
            if (i > 0 && r() < 0.5) tags.push(['e', dataset[Math.floor(r() * dataset.length)].id]);
            if (r() < 0.5) tags.push(['p', authors[Math.floor(r() * 3)].pk, 'wss://relay.example']);
            if (r() < 0.2) tags.push(['t', TOPICS[Math.floor(r() * TOPICS.length)].toUpperCase()]);
            const kind = KINDS[Math.floor(r() * KINDS.length)];
            dataset.push(signed(author, { kind, created_at: base + Math.floor(i / 3), tags, content: `event ${i}` }));
        }
        const results = await Promise.all(dataset.map((e) => ntPublish(nt, e)));
        assert.deepEqual(results, dataset.map(() => [true, '']), `all of the data set is accepted (seed ${SEED})`);
        published.push(...dataset);
    });

    after(async () => {
        nt?.close();
        await closeAll(c);
        await stopRelayClean(relay);
    });

    // Runs one REQ and compares it with the reference: exact order when every
    // filter has a limit (NIP-01: newest first, ties by lowest id), the same
    // set otherwise; never a duplicate.
    async function check(...filters) {
        const { events } = await c.query(sub(), ...filters);
        const got = ids(events);
        assert.equal(new Set(got).size, got.length, `no duplicates for ${JSON.stringify(filters)} (seed ${SEED})`);
        const want = new Map();
        for (const f of filters) for (const e of expectedFor(f, published)) want.set(e.id, e);
        if (filters.length === 1 && filters[0].limit !== undefined) {
            assert.deepEqual(got, ids(expectedFor(filters[0], published)), `order for ${JSON.stringify(filters)} (seed ${SEED})`);
        } else {
            assert.deepEqual(got.slice().sort(), [...want.keys()].sort(), `set for ${JSON.stringify(filters)} (seed ${SEED})`);
        }
        for (const e of events) {
            assert.deepEqual(e, want.get(e.id), 'the event comes back unchanged');
        }
        return events;
    }

    test('ids', async () => {
        const pick = [dataset[3], dataset[40], dataset[89]];
        const events = await check({ ids: [...ids(pick), 'f'.repeat(64)] });
        assert.equal(events.length, 3);
    });

    test('authors', async () => {
        const events = await check({ authors: [authors[1].pk] });
        assert.equal(events.length, 30);
        await check({ authors: [authors[0].pk, authors[2].pk] });
    });

    test('kinds', async () => {
        for (const k of KINDS) await check({ kinds: [k] });
        await check({ kinds: [7, 1111] });
        assert.deepEqual((await c.query(sub(), { kinds: [4242] })).events, []);
    });

    test('#e, #p and #t tag filters', async () => {
        const referenced = dataset.find((e) => e.tags.some((t) => t[0] === 'e')).tags.find((t) => t[0] === 'e')[1];
        assert.ok((await check({ '#e': [referenced] })).length >= 1);
        assert.ok((await check({ '#p': [authors[2].pk] })).length >= 1);
        await check({ '#t': ['relay'] });
        await check({ '#t': ['RELAY', 'nostr'] });
        await check({ '#t': ['relay'], '#p': [authors[0].pk] });
    });

    test('tag filters match the second element of a tag only', async () => {
        // "wss://relay.example" is the third element of p tags.
        assert.deepEqual((await c.query(sub(), { '#p': ['wss://relay.example'] })).events, []);
        assert.deepEqual((await c.query(sub(), { '#t': ['t'] })).events, []);
    });

    test('tag letters are case-sensitive: #T and #t are different filters', async () => {
        const key = newKey();
        const ev = signed(key, { tags: [['T', 'Upper'], ['t', 'lower']], content: 'case' });
        assert.deepEqual(await ntPublish(nt, ev), [true, '']);
        published.push(ev);
        assert.deepEqual((await c.query(sub(), { '#T': ['Upper'] })).events, [ev]);
        assert.deepEqual((await c.query(sub(), { '#t': ['Upper'] })).events, []);
        assert.deepEqual((await c.query(sub(), { '#T': ['lower'] })).events, []);
        assert.deepEqual((await c.query(sub(), { '#t': ['lower'], '#T': ['Upper'] })).events, [ev]);
    });

    test('since and until are inclusive', async () => {
        const lo = base + 5;
        const hi = base + 9;
        const events = await check({ since: lo, until: hi });
        assert.equal(events.length, 15, 'five timestamps, three events each');
        assert.ok(events.some((e) => e.created_at === lo), 'created_at == since matches');
        assert.ok(events.some((e) => e.created_at === hi), 'created_at == until matches');
        const exact = await check({ since: base + 7, until: base + 7 });
        assert.equal(exact.length, 3);
        await check({ since: base + 29 });
        await check({ until: base });
        assert.deepEqual((await c.query(sub(), { since: base + 8, until: base + 7 })).events, []);
    });

    test('all fields of one filter must match', async () => {
        await check({ authors: [authors[0].pk], kinds: [1], since: base + 3, until: base + 25 });
        await check({ authors: [authors[1].pk], '#t': ['nostr', 'c'], kinds: [1, 7] });
    });

    test('limit returns the newest events, ties ordered by id', async () => {
        await check({ limit: 1 });
        await check({ limit: 4 });
        await check({ limit: 10, authors: [authors[0].pk, authors[1].pk] });
        await check({ limit: 5, until: base + 20 });
        await check({ limit: 2, since: base + 10, until: base + 10 });
        await check({ limit: 1000 });
    });

    test('several filters are ORed and no event is sent twice', async () => {
        const events = await check({ authors: [authors[0].pk] }, { kinds: [7] }, { '#t': ['relay'] });
        assert.ok(events.length > 30);
        await check({ ids: [dataset[0].id] }, { ids: [dataset[0].id] });
        await check({ limit: 3 }, { authors: [authors[2].pk], limit: 5 });
    });

    test('random REQs agree with a naive matcher', async () => {
        const r = rng(SEED ^ 0x5eed);
        const pickSome = (arr, max) => {
            const n = 1 + Math.floor(r() * max);
            return Array.from({ length: n }, () => arr[Math.floor(r() * arr.length)]);
        };
        const randomFilter = () => {
            const f = {};
            if (r() < 0.2) f.ids = pickSome(ids(dataset), 6);
            if (r() < 0.4) f.authors = pickSome(authors.map((a) => a.pk), 2);
            if (r() < 0.4) f.kinds = pickSome(KINDS, 2);
            if (r() < 0.3) f['#t'] = pickSome(TOPICS, 2);
            if (r() < 0.15) f['#p'] = pickSome(authors.map((a) => a.pk), 1);
            if (r() < 0.1) f['#e'] = pickSome(ids(dataset), 3);
            if (r() < 0.3) f.since = base + Math.floor(r() * 30);
            if (r() < 0.3) f.until = base + Math.floor(r() * 30);
            if (r() < 0.5) f.limit = Math.floor(r() * 12);
            return f;
        };
        for (let i = 0; i < 60; i++) {
            const n = r() < 0.7 ? 1 : 2 + Math.floor(r() * 2);
            await check(...Array.from({ length: n }, randomFilter));
        }
    });

    test('NIP-67: EOSE says "finish" only when no filter was cut by its limit', async () => {
        const a = authors[0].pk;
        const mine = published.filter((e) => e.pubkey === a).length;
        const cases = [
            { filters: [{ authors: [a], limit: mine + 1 }], finish: true },
            { filters: [{ authors: [a], limit: mine }], finish: false }, // exactly the limit: maybe more
            { filters: [{ authors: [a], limit: 5 }], finish: false },
            { filters: [{ authors: [a], limit: 0 }], finish: false },
            { filters: [{ ids: ['ab'.repeat(32)] }], finish: true }, // nothing matches
            { filters: [{ authors: [a], limit: mine + 1 }, { kinds: [1], limit: 1 }], finish: false },
        ];
        for (const k of cases) {
            const { events, eose } = await c.query(sub(), ...k.filters);
            const what = `${JSON.stringify(k.filters)} (${events.length} events): ${JSON.stringify(eose)}`;
            if (k.finish) {
                assert.deepEqual(eose.slice(2), [['finish']], `finish for ${what}`);
            } else {
                assert.equal(eose.length, 2, `no hint for ${what}`);
            }
        }
    });

    test('limit 0 sends only EOSE, then live events', async () => {
        const key = newKey();
        const old = signed(key, { content: 'before the REQ' });
        assert.deepEqual(await ntPublish(nt, old), [true, '']);
        published.push(old);
        const s = sub();
        const { events } = await c.req(s, { authors: [key.pk], limit: 0 });
        assert.deepEqual(events, []);
        const live = signed(key, { content: 'after EOSE' });
        assert.deepEqual(await ntPublish(nt, live), [true, '']);
        published.push(live);
        const f = await c.take((m) => m[0] === 'EVENT' && m[1] === s, 'the live event');
        assert.deepEqual(f.msg[2], live);
        c.send(['CLOSE', s]);
    });

    test('stored and live events keep the exact JSON bytes that were published', async () => {
        const key = newKey();
        const topic = `café-${SEED}`;
        const content = 'café / "quoted" \\ back\ttab\nline 🦚 </script> done';
        const ev = signed(key, { content, tags: [['t', topic], ['e', dataset[0].id, '', 'root']] });
        const raw = unusualJson(ev);
        assert.deepEqual(JSON.parse(raw), ev, 'the hand-written JSON decodes to the signed event');

        const live = sub();
        await c.req(live, { authors: [key.pk] });
        const publisher = await RawClient.open(relay.url);
        try {
            assert.deepEqual(await publisher.publish(raw), [true, '']);
        } finally {
            await publisher.close();
        }
        published.push(ev);

        const liveFrame = await c.take((m) => m[0] === 'EVENT' && m[1] === live, 'the live event');
        assert.equal(liveFrame.text, `["EVENT","${live}",${raw}]`);
        c.send(['CLOSE', live]);

        const byId = sub();
        const got = await c.query(byId, { ids: [ev.id] });
        assert.deepEqual(got.frames, [`["EVENT","${byId}",${raw}]`]);

        // Tag values are matched after decoding their escapes.
        const byTag = sub();
        const tagged = await c.query(byTag, { '#t': [topic] });
        assert.deepEqual(tagged.frames, [`["EVENT","${byTag}",${raw}]`]);
    });

    test('the canonical form escapes only what NIP-01 lists', async () => {
        // Characters JSON.stringify leaves verbatim in content; the id would
        // not verify if the relay hashed them escaped.
        const key = newKey();
        const ev = signed(key, { content: 'slash / unicode é 漢字 emoji 🦚 \u2028 \u007f' });
        assert.deepEqual(await ntPublish(nt, ev), [true, '']);
        published.push(ev);
        const { events } = await c.query(sub(), { ids: [ev.id] });
        assert.deepEqual(events, [ev]);
    });

    test('nostr-tools subscribe sees the stored events then live ones', async () => {
        const key = newKey();
        const stored = signed(key, { content: 'stored for nostr-tools', created_at: nowSec() - 5 });
        assert.deepEqual(await ntPublish(nt, stored), [true, '']);
        published.push(stored);
        const reader = await connectNostrTools(relay.url);
        try {
            const seen = [];
            let eosed;
            const eose = new Promise((resolve) => {
                eosed = resolve;
            });
            let gotLive;
            const liveSeen = new Promise((resolve) => {
                gotLive = resolve;
            });
            const s = reader.subscribe([{ authors: [key.pk] }], {
                onevent: (e) => {
                    seen.push({ id: e.id, afterEose: s.eosed });
                    if (s.eosed) gotLive();
                },
                oneose: eosed,
                eoseTimeout: 10 * 60 * 1000,
            });
            await eose;
            const live = signed(key, { content: 'live for nostr-tools' });
            assert.deepEqual(await ntPublish(nt, live), [true, '']);
            published.push(live);
            await liveSeen;
            assert.deepEqual(seen, [
                { id: stored.id, afterEose: false },
                { id: live.id, afterEose: true },
            ]);
            s.close();
        } finally {
            reader.close();
        }
    });

    test('the reference matcher agrees with nostr-tools on the data set', async () => {
        // Guards the reference itself: a bug there would hide relay bugs.
        const filters = [{ kinds: [1] }, { '#t': ['relay'] }, { since: base + 3, until: base + 4 }, { authors: [authors[0].pk], '#p': [authors[1].pk] }];
        for (const f of filters) {
            for (const e of dataset) {
                assert.equal(matches(f, e), filterModule.matchFilter(f, e), JSON.stringify(f));
            }
        }
        assert.deepEqual(ids(dataset.slice().sort(newestFirst)), ids(pure.sortEvents(dataset.slice())));
    });
});
