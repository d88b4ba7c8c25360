// Publishing with nostr-tools: acceptance, duplicates, and the validation
// failures a client sees as OK false "invalid: ...".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, newKey, nowSec, ntPublish, signed } from './client.mjs';

describe('publishing events', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let nt;
    let raw;
    const key = newKey();

    before(async () => {
        const dir = makeTempDir('publish');
        writeConfig(dir);
        relay = await startRelay(dir);
        nt = await connectNostrTools(relay.url);
        raw = await RawClient.open(relay.url);
    });

    after(async () => {
        nt?.close();
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('a valid event is accepted with OK true', async () => {
        const ev = signed(key, { content: 'hello from nostr-tools' });
        const [ok, msg] = await ntPublish(nt, ev);
        assert.equal(ok, true, msg);
        assert.equal(typeof msg, 'string');
        assert.ok(!msg.startsWith('duplicate:'), `first publish is not a duplicate: ${msg}`);
        const { events } = await raw.req('check-stored', { ids: [ev.id] });
        assert.deepEqual(events, [ev]);
    });

    test('the same event again is OK true with a "duplicate:" message', async () => {
        const ev = signed(key, { content: 'twice' });
        assert.deepEqual(await ntPublish(nt, ev), [true, '']);
        const [ok, msg] = await ntPublish(nt, ev);
        assert.equal(ok, true, msg);
        assert.match(msg, /^duplicate: /);
        const { events } = await raw.req('dup-once', { ids: [ev.id] });
        assert.equal(events.length, 1, 'stored once');
    });

    test('an OK frame carries the event id, true and a string message', async () => {
        const ev = signed(key, { content: 'raw publish' });
        raw.send(['EVENT', ev]);
        const f = await raw.takeOk(ev.id);
        assert.equal(f.msg.length, 4);
        assert.deepEqual(f.msg, ['OK', ev.id, true, '']);
    });

    test('a tampered signature is rejected as invalid', async () => {
        const ev = signed(key, { content: 'tampered sig' });
        const last = ev.sig[ev.sig.length - 1];
        const bad = { ...ev, sig: ev.sig.slice(0, -1) + (last === '0' ? '1' : '0') };
        const [ok, msg] = await ntPublish(nt, bad);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
        const { events } = await raw.req('no-bad-sig', { ids: [ev.id] });
        assert.deepEqual(events, []);
    });

    test('a signature made by another key is rejected as invalid', async () => {
        const ev = signed(key, { content: 'whose signature' });
        const other = signed(newKey(), { content: 'whose signature', created_at: ev.created_at });
        const [ok, msg] = await ntPublish(nt, { ...ev, sig: other.sig });
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
    });

    test('an id that is not the hash of the event is rejected as invalid', async () => {
        const ev = signed(key, { content: 'id check' });
        // The content changed after signing: id and sig belong to the old one.
        const bad = { ...ev, content: 'id check!' };
        const [ok, msg] = await ntPublish(nt, bad);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
        const { events } = await raw.req('no-bad-id', { ids: [ev.id] });
        assert.deepEqual(events, []);
    });

    test('an id that is not 64 lowercase hex characters is rejected as invalid', async () => {
        const ev = signed(key, { content: 'uppercase id' });
        raw.send(['EVENT', { ...ev, id: ev.id.toUpperCase() }]);
        const f = await raw.take(
            (m) => (m[0] === 'OK' && m[1].toLowerCase() === ev.id) || m[0] === 'NOTICE',
            'OK false or NOTICE for an uppercase id'
        );
        if (f.msg[0] === 'OK') {
            assert.equal(f.msg[2], false);
            assert.match(f.msg[3], /^invalid: /);
        } else {
            assert.match(f.msg[1], /^invalid: /);
        }
    });

    test('created_at one hour in the future is rejected as invalid', async () => {
        const ev = signed(key, { content: 'from the future', created_at: nowSec() + 3600 });
        const [ok, msg] = await ntPublish(nt, ev);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
    });

    test('created_at a little in the future, within created_at_upper_limit, is accepted', async () => {
        const ev = signed(key, { content: 'soon', created_at: nowSec() + 600 });
        assert.deepEqual(await ntPublish(nt, ev), [true, '']);
    });

    test('an old created_at is accepted when no lower limit is configured', async () => {
        const ev = signed(key, { content: 'ancient', created_at: 1000 });
        assert.deepEqual(await ntPublish(nt, ev), [true, '']);
    });

    test('kinds 0 and 65535 are accepted; 65536 is rejected as invalid', async () => {
        assert.deepEqual(await ntPublish(nt, signed(key, { kind: 65535, content: 'top kind' })), [true, '']);
        assert.deepEqual(await ntPublish(nt, signed(key, { kind: 0, content: '{}' })), [true, '']);
        const big = signed(key, { kind: 65536, content: 'kind out of range' });
        const [ok, msg] = await raw.publish(big);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
    });

    test('tags that are not arrays of strings are rejected as invalid', async () => {
        const ev = signed(key, { content: 'tag shapes', tags: [['t', 'x']] });
        const bad = { ...ev, tags: [['t', 5]] };
        const [ok, msg] = await raw.publish(bad);
        assert.equal(ok, false);
        assert.match(msg, /^invalid: /);
    });

    test('many events published at once all get OK true', async () => {
        const base = nowSec() - 100;
        const evs = Array.from({ length: 50 }, (_, i) => signed(key, { content: `burst ${i}`, created_at: base + i }));
        const results = await Promise.all(evs.map((e) => ntPublish(nt, e)));
        assert.deepEqual(results, evs.map(() => [true, '']));
        const { events } = await raw.req('burst', { ids: evs.map((e) => e.id) });
        assert.equal(events.length, 50);
    });
});
