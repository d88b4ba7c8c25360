// Several publishers and subscribers at once. Each subscriber must receive
// every event that matches its filters exactly once and nothing else, both
// when it subscribed before the publishing started and when its REQ lands
// in the middle of it (the stored/live boundary at EOSE).
//
// Completion is detected with a sentinel: every subscriber also asks for a
// tag that only one final event carries, published after every other event
// was acknowledged. The relay broadcasts in storage order, so once the
// sentinel has arrived every earlier match has arrived too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, matches, newKey, nowSec, ntPublish, signed } from './client.mjs';

const PUBLISHERS = 4;
const PER_PUBLISHER = 200;
const WINDOW = 25; // events in flight per publisher

// Counts acknowledgements and lets callers wait for a number of them.
class Progress {
    constructor() {
        this.n = 0;
        this.waiters = [];
    }
    bump() {
        this.n++;
        this.waiters = this.waiters.filter((w) => (this.n >= w.at ? (w.resolve(), false) : true));
    }
    reached(at) {
        return this.n >= at ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ at, resolve }));
    }
}

async function publishAll(relay, events, progress) {
    const results = new Map();
    let next = 0;
    async function lane() {
        while (next < events.length) {
            const ev = events[next++];
            results.set(ev.id, await ntPublish(relay, ev));
            progress.bump();
        }
    }
    await Promise.all(Array.from({ length: WINDOW }, lane));
    return results;
}

// The events of one run: four authors, two kinds, "even"/"odd" tags,
// created_at spread over 200 seconds.
function makeRun() {
    const keys = Array.from({ length: PUBLISHERS }, newKey);
    const base = nowSec() - 5000;
    const perPublisher = keys.map((key) =>
        Array.from({ length: PER_PUBLISHER }, (_, i) =>
            signed(key, {
                kind: i % 2 ? 7 : 1,
                created_at: base + i,
                tags: [['t', i % 3 === 0 ? 'even' : 'odd']],
                content: `publisher ${key.pk.slice(0, 6)} event ${i}`,
            })
        )
    );
    const pks = keys.map((k) => k.pk);
    const sentinelTag = `sentinel-${pks[0].slice(0, 16)}`;
    const filterSets = [
        [{ authors: [pks[0]] }],
        [{ kinds: [7], authors: pks }],
        [{ '#t': ['even'], authors: pks }],
        [{ authors: [pks[1], pks[2]], kinds: [1] }],
        [{ authors: [pks[3]] }, { '#t': ['even'], authors: pks }],
        [{ authors: pks, since: base + 50, until: base + 149 }],
    ].map((fs) => [...fs, { '#t': [sentinelTag] }]);
    const sentinel = signed(newKey(), { tags: [['t', sentinelTag]], content: 'sentinel' });
    return { keys, perPublisher, filterSets, sentinel };
}

// Reads one subscriber's frames once the sentinel is in, and checks them.
async function checkSubscriber(client, subId, filters, all, sentinel) {
    await client.take((m) => m[0] === 'EVENT' && m[1] === subId && m[2].id === sentinel.id, `the sentinel on ${subId}`);
    const frames = client.unread(subId);
    const got = frames.filter((f) => f.msg[0] === 'EVENT').map((f) => f.msg[2]);
    const others = frames.filter((f) => f.msg[0] !== 'EVENT' && f.msg[0] !== 'EOSE');
    assert.deepEqual(others.map((f) => f.text), [], `${subId}: only EVENT and EOSE frames`);
    const counts = new Map();
    for (const e of got) counts.set(e.id, (counts.get(e.id) || 0) + 1);
    const dups = [...counts].filter(([, n]) => n > 1);
    assert.deepEqual(dups, [], `${subId}: no event delivered twice`);
    const stray = got.filter((e) => !filters.some((f) => matches(f, e)));
    assert.deepEqual(stray.map((e) => e.id), [], `${subId}: nothing that does not match`);
    const want = all.filter((e) => filters.some((f) => matches(f, e)) && e.id !== sentinel.id).map((e) => e.id);
    const gotIds = new Set(counts.keys());
    const missing = want.filter((id) => !gotIds.has(id));
    assert.deepEqual(missing, [], `${subId}: every match delivered (${want.length} expected, ${gotIds.size} received)`);
    assert.equal(gotIds.size, want.length, `${subId}: exactly the matches`);
}

describe('concurrent publishers and subscribers', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;

    before(async () => {
        const dir = makeTempDir('concurrency');
        writeConfig(dir);
        relay = await startRelay(dir);
    });

    after(async () => {
        await stopRelayClean(relay);
    });

    test('4 publishers x 200 events, 6 subscribers: every match exactly once', async () => {
        const run = makeRun();
        const subscribers = [];
        const publishers = [];
        try {
            for (let i = 0; i < run.filterSets.length; i++) {
                const c = await RawClient.open(relay.url);
                subscribers.push(c);
                const { events } = await c.req(`s${i}`, ...run.filterSets[i]);
                assert.deepEqual(events, [], 'fresh authors: nothing stored yet');
            }
            for (let i = 0; i < PUBLISHERS; i++) publishers.push(await connectNostrTools(relay.url));
            const progress = new Progress();
            const results = await Promise.all(publishers.map((p, i) => publishAll(p, run.perPublisher[i], progress)));
            const all = run.perPublisher.flat();
            for (const r of results) for (const [id, res] of r) assert.deepEqual(res, [true, ''], `OK for ${id}`);
            assert.deepEqual(await ntPublish(publishers[0], run.sentinel), [true, '']);
            for (let i = 0; i < subscribers.length; i++) {
                await checkSubscriber(subscribers[i], `s${i}`, run.filterSets[i], all, run.sentinel);
            }
        } finally {
            for (const p of publishers) p.close();
            await closeAll(subscribers);
        }
    });

    test('subscribers whose REQ lands during publishing get each match once across stored and live', async () => {
        const run = makeRun();
        const subscribers = [];
        const publishers = [];
        try {
            for (let i = 0; i < PUBLISHERS; i++) publishers.push(await connectNostrTools(relay.url));
            for (let i = 0; i < run.filterSets.length; i++) subscribers.push(await RawClient.open(relay.url));
            const progress = new Progress();
            const publishing = Promise.all(publishers.map((p, i) => publishAll(p, run.perPublisher[i], progress)));
            // Subscriber i sends its REQ once i * 130 events are acknowledged,
            // so the REQs are spread over the whole run.
            const total = PUBLISHERS * PER_PUBLISHER;
            const reqs = subscribers.map(async (c, i) => {
                await progress.reached(Math.min(total - 1, 10 + i * 130));
                c.send(['REQ', `s${i}`, ...run.filterSets[i]]);
                await c.take((m) => m[0] === 'EOSE' && m[1] === `s${i}`, `EOSE for s${i}`);
            });
            const results = await publishing;
            await Promise.all(reqs);
            const all = run.perPublisher.flat();
            for (const r of results) for (const [id, res] of r) assert.deepEqual(res, [true, ''], `OK for ${id}`);
            assert.deepEqual(await ntPublish(publishers[0], run.sentinel), [true, '']);
            for (let i = 0; i < subscribers.length; i++) {
                await checkSubscriber(subscribers[i], `s${i}`, run.filterSets[i], all, run.sentinel);
            }
        } finally {
            for (const p of publishers) p.close();
            await closeAll(subscribers);
        }
    });

    test('the same events published on four connections at once are stored and broadcast once', async () => {
        const key = newKey();
        const evs = Array.from({ length: 60 }, (_, i) => signed(key, { content: `raced ${i}`, created_at: nowSec() - 300 + i }));
        const sentinel = signed(key, { tags: [['t', 'race-sentinel']], content: 'sentinel' });
        const pubs = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(relay.url)));
        const watcher = await RawClient.open(relay.url);
        try {
            await watcher.req('w', { authors: [key.pk] });
            for (const ev of evs) for (const p of pubs) p.send(['EVENT', ev]);
            const oks = await Promise.all(pubs.map((p) => Promise.all(evs.map(async (ev) => (await p.takeOk(ev.id)).msg))));
            for (const ev of evs) {
                const answers = oks.map((perPub) => perPub.find((m) => m[1] === ev.id));
                for (const m of answers) {
                    assert.equal(m[2], true, `OK true for every copy: ${JSON.stringify(m)}`);
                    assert.ok(m[3] === '' || m[3].startsWith('duplicate: '), JSON.stringify(m));
                }
                const fresh = answers.filter((m) => m[3] === '').length;
                assert.equal(fresh, 1, `exactly one publisher stored ${ev.id}: ${JSON.stringify(answers)}`);
            }
            assert.deepEqual(await pubs[0].publish(sentinel), [true, '']);
            await watcher.take((m) => m[0] === 'EVENT' && m[2].id === sentinel.id, 'the sentinel');
            const got = watcher.unread('w').filter((f) => f.msg[0] === 'EVENT').map((f) => f.msg[2].id);
            assert.deepEqual(got.slice().sort(), evs.map((e) => e.id).sort(), 'each event broadcast exactly once');
            const { events } = await watcher.query('stored', { authors: [key.pk], limit: 1000 });
            assert.equal(events.length, evs.length + 1, 'each event stored once');
        } finally {
            await closeAll(pubs, watcher);
        }
    });

    test('replaceable versions published concurrently leave only the winner stored', async () => {
        const keys = Array.from({ length: 3 }, newKey);
        const t = nowSec() - 1000;
        const versions = [];
        for (const key of keys) {
            // 40 versions per author, with repeated created_at values so that
            // ties (lowest id wins) are decided under concurrency too.
            for (let i = 0; i < 40; i++) {
                versions.push(signed(key, { kind: 10002, created_at: t + (i % 13), content: `v${i}`, tags: [['r', `wss://r${i}.example`]] }));
            }
        }
        const pubs = await Promise.all(Array.from({ length: 4 }, () => connectNostrTools(relay.url)));
        try {
            await Promise.all(versions.map((v, i) => ntPublish(pubs[i % 4], v)));
            const c = await RawClient.open(relay.url);
            try {
                for (const key of keys) {
                    const mine = versions.filter((v) => v.pubkey === key.pk);
                    const winner = mine.slice().sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))[0];
                    const { events } = await c.query('winner', { kinds: [10002], authors: [key.pk] });
                    assert.deepEqual(events, [winner]);
                }
            } finally {
                await c.close();
            }
        } finally {
            for (const p of pubs) p.close();
        }
    });

    test('many connections open and close while events flow', async () => {
        const key = newKey();
        const pub = await connectNostrTools(relay.url);
        const watcher = await RawClient.open(relay.url);
        try {
            await watcher.req('w', { authors: [key.pk] });
            const evs = Array.from({ length: 100 }, (_, i) => signed(key, { content: `churn ${i}`, created_at: nowSec() - 100 + i }));
            const churn = (async () => {
                for (let round = 0; round < 10; round++) {
                    const cs = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(relay.url)));
                    cs.forEach((c, i) => c.send(['REQ', `c${i}`, { authors: [key.pk] }]));
                    // Half of them leave without waiting for anything.
                    await Promise.all(cs.map((c, i) => (i % 2 ? c.close() : c.collect(`c${i}`).then(() => c.close()))));
                }
            })();
            const results = await Promise.all(evs.map((e) => ntPublish(pub, e)));
            await churn;
            assert.deepEqual(results, evs.map(() => [true, '']));
            const seen = new Set();
            while (seen.size < evs.length) {
                const f = await watcher.take((m) => m[0] === 'EVENT' && m[1] === 'w', 'the watcher events');
                assert.ok(!seen.has(f.msg[2].id), 'no duplicate');
                seen.add(f.msg[2].id);
            }
        } finally {
            pub.close();
            await watcher.close();
        }
    });
});
