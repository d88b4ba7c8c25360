// Copies of recently stored events are answered "duplicate:" before any
// validation (relay/recent.h). The relay's own counters tell whether an
// EVENT went through validation: ostrich_validation_seconds_count counts
// every event a validation worker checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, nowSec, signed } from './client.mjs';

const DUPLICATE = 'duplicate: already have this event';

async function counter(relay, series) {
    const res = await httpRequest(new URL('/metrics', relay.httpUrl).href);
    assert.equal(res.status, 200, res.body);
    const line = res.body.split('\n').find((l) => l.startsWith(`${series} `));
    assert.ok(line, `no series ${series}`);
    return Number(line.slice(series.length + 1));
}

const validated = (relay) => counter(relay, 'ostrich_validation_seconds_count');

describe('copies of recently stored events', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let dir;
    let raw;
    const key = newKey();

    before(async () => {
        dir = makeTempDir('recent');
        writeConfig(dir);
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('a copy is answered "duplicate:" without being validated again', async () => {
        const ev = signed(key, { content: 'once and again' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        const before = await validated(relay);
        const dups = await counter(relay, 'ostrich_events_duplicate_total');
        assert.deepEqual(await raw.publish(ev), [true, DUPLICATE]);
        const other = await RawClient.open(relay.url);
        try {
            assert.deepEqual(await other.publish(ev), [true, DUPLICATE]);
        } finally {
            await closeAll(other);
        }
        assert.equal(await validated(relay), before, 'copies skip validation');
        assert.equal(await counter(relay, 'ostrich_events_duplicate_total'), dups + 2);
        const { events } = await raw.req('once', { ids: [ev.id] });
        assert.deepEqual(events, [ev]);
    });

    test('the same id with another signature is validated and refused', async () => {
        const ev = signed(key, { content: 'signed once' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        const before = await validated(relay);
        const last = ev.sig[ev.sig.length - 1];
        const bad = { ...ev, sig: ev.sig.slice(0, -1) + (last === '0' ? '1' : '0') };
        const [ok, msg] = await raw.publish(bad);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
        assert.equal(await validated(relay), before + 1);
    });

    test('an event never stored is validated, whatever its id looks like', async () => {
        const ev = signed(key, { content: 'new' });
        const before = await validated(relay);
        assert.deepEqual(await raw.publish(ev), [true, '']);
        assert.equal(await validated(relay), before + 1);
    });

    test('a replaceable event\'s copy is a duplicate until a newer version replaces it', async () => {
        const profile = signed(key, { kind: 0, content: '{"name":"ostrich"}' });
        assert.deepEqual(await raw.publish(profile), [true, '']);
        const before = await validated(relay);
        assert.deepEqual(await raw.publish(profile), [true, DUPLICATE]);
        assert.equal(await validated(relay), before, 'the current version\'s copy skips validation');
        const newer = signed(key, { kind: 0, created_at: profile.created_at + 1, content: '{}' });
        assert.deepEqual(await raw.publish(newer), [true, '']);
        const [ok, msg] = await raw.publish(profile);
        assert.equal(ok, false);
        assert.match(msg, /^duplicate: a newer version/);
        assert.equal(await validated(relay), before + 2, 'the replaced version goes to the store again');
        assert.deepEqual(await raw.publish(newer), [true, DUPLICATE]);
        assert.equal(await validated(relay), before + 2);
    });

    test('an addressable event deleted by address is refused, not answered "duplicate:"', async () => {
        const art = signed(key, { kind: 30023, created_at: nowSec() - 5, tags: [['d', 'caf\u00e9 "x"']], content: 'v1' });
        assert.deepEqual(await raw.publish(art), [true, '']);
        assert.deepEqual(await raw.publish(art), [true, DUPLICATE]);
        const del = signed(key, { kind: 5, tags: [['a', `30023:${key.pk}:caf\u00e9 "x"`]] });
        assert.deepEqual(await raw.publish(del), [true, '']);
        const [ok, msg] = await raw.publish(art);
        assert.equal(ok, false);
        assert.match(msg, /^blocked: /);
    });

    test('a deleted event\'s copy is refused, not answered "duplicate:"', async () => {
        const note = signed(key, { content: 'to delete', created_at: nowSec() - 5 });
        assert.deepEqual(await raw.publish(note), [true, '']);
        assert.deepEqual(await raw.publish(note), [true, DUPLICATE]);
        const del = signed(key, { kind: 5, tags: [['e', note.id]] });
        assert.deepEqual(await raw.publish(del), [true, '']);
        const [ok, msg] = await raw.publish(note);
        assert.equal(ok, false);
        assert.match(msg, /^blocked: /);
    });

    test('an event with an expiration is validated again (it may have expired)', async () => {
        const ev = signed(key, { content: 'brief', tags: [['expiration', String(nowSec() + 3600)]] });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        const before = await validated(relay);
        assert.deepEqual(await raw.publish(ev), [true, DUPLICATE]);
        assert.equal(await validated(relay), before + 1);
    });

    test('a config reload forgets the set; the store still answers "duplicate:"', async () => {
        const ev = signed(key, { content: 'before the reload' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        const mark = relay.stderr().length;
        writeConfig(dir, { limits: { max_filters: 12 } });
        process.kill(relay.pid, 'SIGHUP');
        const end = Date.now() + 10000;
        while (!/config reload: applied/.test(relay.stderr().slice(mark))) {
            assert.ok(Date.now() < end, 'no reload line in the log');
            await new Promise((r) => setTimeout(r, 20));
        }
        const before = await validated(relay);
        assert.deepEqual(await raw.publish(ev), [true, DUPLICATE]);
        assert.equal(await validated(relay), before + 1);
        // Now remembered again.
        assert.deepEqual(await raw.publish(ev), [true, DUPLICATE]);
        assert.equal(await validated(relay), before + 1);
    });

    test('a flood of copies is answered in order and stored once', async () => {
        const evs = [];
        for (let i = 0; i < 50; i++) {
            evs.push(signed(key, { content: `flood ${i}` }));
        }
        for (const ev of evs) {
            raw.send(['EVENT', ev]);
        }
        for (const ev of evs) {
            assert.deepEqual((await raw.takeOk(ev.id)).msg, ['OK', ev.id, true, '']);
        }
        const before = await validated(relay);
        for (let round = 0; round < 10; round++) {
            for (const ev of evs) {
                raw.send(['EVENT', ev]);
            }
        }
        for (let round = 0; round < 10; round++) {
            for (const ev of evs) {
                assert.deepEqual((await raw.takeOk(ev.id)).msg, ['OK', ev.id, true, DUPLICATE]);
            }
        }
        assert.equal(await validated(relay), before);
        const { events } = await raw.req('flood', { ids: evs.map((e) => e.id) });
        assert.equal(events.length, evs.length);
    });
});
