// NIP-13 proof of work and NIP-40 expiration against the real relay: events
// mined with nostr-tools' nip13 helpers pass a configured minimum, events
// short of it (in bits or in their committed target) are refused with both
// numbers in the reason, expired events are refused on publish, and an
// event that expires while stored stops being returned.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
    httpRequest,
    makeTempDir,
    startRelay,
    stopRelayClean,
    writeConfig,
    DEADLINE_MS,
    TEST_TIMEOUT_MS,
} from './relay.mjs';
import { RawClient, closeAll, getEventHash, newKey, nowSec, signed } from './client.mjs';

const nip13 = await import('nostr-tools/nip13');

const MIN_POW = 8;

// A plain signed event from a template whose id is already final (mined).
function signMined(key, template) {
    return signed(key, { ...template, tags: template.tags.map((t) => [...t]) });
}

// Loops the nonce of ["nonce", n, target] until the id's leading zero bits
// satisfy want(bits). Returns the signed event.
function mineUntil(key, target, want, content) {
    const created_at = nowSec();
    for (let n = 0; ; n++) {
        const template = {
            kind: 1,
            created_at,
            tags: [['nonce', String(n), String(target)]],
            content,
            pubkey: key.pk,
        };
        const bits = nip13.getPow(getEventHash(template));
        if (want(bits)) {
            return signMined(key, template);
        }
    }
}

describe('NIP-13 proof of work', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;
    const key = newKey();

    before(async () => {
        const dir = makeTempDir('pow');
        writeConfig(dir, { limits: { min_pow_difficulty: MIN_POW } });
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('NIP-11 lists 13 and 40 and states the minimum difficulty', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        assert.equal(res.status, 200);
        const doc = JSON.parse(res.body);
        assert.ok(doc.supported_nips.includes(13), 'supports NIP-13');
        assert.ok(doc.supported_nips.includes(40), 'supports NIP-40');
        assert.equal(doc.limitation.min_pow_difficulty, MIN_POW);
    });

    test('an event mined with nostr-tools to the minimum is accepted and stored', async () => {
        const template = nip13.minePow(
            { kind: 1, created_at: nowSec(), tags: [], content: 'mined', pubkey: key.pk },
            MIN_POW
        );
        const ev = signMined(key, template);
        assert.ok(nip13.getPow(ev.id) >= MIN_POW);
        assert.deepEqual(await raw.publish(ev), [true, '']);
        const { events } = await raw.query('pow-stored', { ids: [ev.id] });
        assert.deepEqual(events, [ev]);
    });

    test('an event below the minimum is refused with both numbers', async () => {
        let ev;
        do {
            ev = signed(key, { content: `unmined ${Math.random()}` });
        } while (nip13.getPow(ev.id) >= MIN_POW);
        const bits = nip13.getPow(ev.id);
        assert.deepEqual(await raw.publish(ev), [false, `pow: difficulty ${bits} is less than ${MIN_POW}`]);
        const { events } = await raw.query('pow-refused', { ids: [ev.id] });
        assert.deepEqual(events, []);
    });

    test('enough bits with a committed target below the minimum are refused', async () => {
        const ev = mineUntil(key, MIN_POW - 4, (bits) => bits >= MIN_POW, 'lucky low target');
        assert.deepEqual(await raw.publish(ev), [
            false,
            `pow: committed target difficulty ${MIN_POW - 4} is less than ${MIN_POW}`,
        ]);
    });

    test('a committed target at the minimum with enough bits is accepted', async () => {
        const ev = mineUntil(key, MIN_POW, (bits) => bits >= MIN_POW, 'honest target');
        assert.deepEqual(await raw.publish(ev), [true, '']);
    });
});

describe('NIP-40 expiration', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;
    const key = newKey();

    before(async () => {
        const dir = makeTempDir('expiration');
        writeConfig(dir, { storage: { expiration_purge_interval_s: 1 } });
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('an event that has expired is refused on publish', async () => {
        for (const expiration of [nowSec() - 1, nowSec(), 1]) {
            const ev = signed(key, { tags: [['expiration', String(expiration)]], content: `exp ${expiration}` });
            assert.deepEqual(await raw.publish(ev), [false, 'invalid: event has expired']);
            const { events } = await raw.query('expired-refused', { ids: [ev.id] });
            assert.deepEqual(events, []);
        }
    });

    test('an expiration that is not a timestamp is refused as invalid', async () => {
        const ev = signed(key, { tags: [['expiration', 'tomorrow']] });
        const [ok, msg] = await raw.publish(ev);
        assert.equal(ok, false);
        assert.equal(msg, 'invalid: "expiration" tag value must be a Unix timestamp in seconds');
    });

    test('an event expiring later is returned until it expires, then never', async () => {
        const expiration = nowSec() + 2;
        const ev = signed(key, { tags: [['expiration', String(expiration)], ['t', 'soon']], content: 'brief' });
        const keep = signed(key, { tags: [['t', 'soon']], content: 'stays' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        assert.deepEqual(await raw.publish(keep), [true, '']);
        // Published before its expiration, so the first query sees it unless
        // the whole exchange took two seconds.
        const first = await raw.query('alive', { '#t': ['soon'] });
        if (nowSec() < expiration) {
            assert.deepEqual(
                first.events.map((e) => e.id).sort(),
                [ev.id, keep.id].sort()
            );
        }
        // Wait for the condition, with a deadline: the expired event is gone
        // from queries while the other stays.
        const deadline = Date.now() + DEADLINE_MS;
        let ids;
        for (;;) {
            const { events } = await raw.query('later', { '#t': ['soon'] });
            ids = events.map((e) => e.id);
            if (!ids.includes(ev.id) || Date.now() > deadline) {
                break;
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.deepEqual(ids, [keep.id]);
        assert.ok(nowSec() >= expiration, 'hidden only once expired');
        // Asked for by id too.
        const byId = await raw.query('by-id', { ids: [ev.id, keep.id] });
        assert.deepEqual(byId.events.map((e) => e.id), [keep.id]);
    });
});
