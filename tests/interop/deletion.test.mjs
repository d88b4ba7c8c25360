// NIP-09 deletion requests and NIP-62 requests to vanish against the real
// relay, with events signed by nostr-tools: deletion by "e" and by "a", the
// deletion request kept and returned, republishing refused with OK false,
// someone else's deletion ignored, vanish by "ALL_RELAYS" and by this
// relay's configured URL ([auth] relay_url), a vanish naming another relay
// ignored, and NIP-11 listing both NIPs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, newKey, nowSec, ntPublish, signed } from './client.mjs';

const PUBLIC_URL = 'wss://relay.example.com';
const DELETED = 'blocked: this event was deleted by its author';
const VANISHED = 'blocked: the author of this event asked to vanish from this relay';

describe('NIP-09 deletion and NIP-62 vanish', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;
    let nt;

    before(async () => {
        const dir = makeTempDir('deletion');
        const file = writeConfig(dir);
        fs.appendFileSync(path.join(dir, path.basename(file)), `\n[auth]\nrelay_url = "${PUBLIC_URL}"\n`);
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
        nt = await connectNostrTools(relay.url);
    });

    after(async () => {
        nt?.close();
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    async function stored(subId, filter) {
        const { events } = await raw.query(subId, filter);
        return events;
    }

    test('NIP-11 lists 9 and 62', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        const doc = JSON.parse(res.body);
        assert.ok(doc.supported_nips.includes(9), 'supports NIP-09');
        assert.ok(doc.supported_nips.includes(62), 'supports NIP-62');
    });

    test('an "e" deletion removes the event, keeps the request and refuses a republish', async () => {
        const key = newKey();
        const note = signed(key, { content: 'to delete', created_at: nowSec() - 10 });
        const kept = signed(key, { content: 'to keep', created_at: nowSec() - 10 });
        assert.deepEqual(await ntPublish(nt, note), [true, '']);
        assert.deepEqual(await ntPublish(nt, kept), [true, '']);
        const del = signed(key, { kind: 5, tags: [['e', note.id], ['k', '1']], content: 'oops' });
        assert.deepEqual(await ntPublish(nt, del), [true, '']);

        assert.deepEqual(await stored('e-gone', { ids: [note.id] }), []);
        assert.deepEqual(await stored('e-kept', { ids: [kept.id] }), [kept]);
        assert.deepEqual(await stored('e-req', { kinds: [5], authors: [key.pk] }), [del]);

        assert.deepEqual(await raw.publish(note), [false, DELETED]);
        assert.deepEqual(await ntPublish(nt, note), [false, DELETED]);
        assert.deepEqual(await stored('e-still-gone', { ids: [note.id] }), []);
    });

    test('an "a" deletion removes versions up to its time; a newer version is accepted', async () => {
        const key = newKey();
        const now = nowSec();
        const v1 = signed(key, { kind: 30023, created_at: now - 20, tags: [['d', 'post']], content: 'v1' });
        const other = signed(key, { kind: 30023, created_at: now - 20, tags: [['d', 'other']] });
        assert.deepEqual(await raw.publish(v1), [true, '']);
        assert.deepEqual(await raw.publish(other), [true, '']);
        const del = signed(key, { kind: 5, created_at: now - 10, tags: [['a', `30023:${key.pk}:post`], ['k', '30023']] });
        assert.deepEqual(await ntPublish(nt, del), [true, '']);

        assert.deepEqual(await stored('a-gone', { kinds: [30023], authors: [key.pk], '#d': ['post'] }), []);
        assert.deepEqual(await stored('a-other', { kinds: [30023], authors: [key.pk], '#d': ['other'] }), [other]);
        assert.deepEqual(await stored('a-req', { ids: [del.id] }), [del]);

        assert.deepEqual(await raw.publish(v1), [false, DELETED]);
        const atDeletion = signed(key, { kind: 30023, created_at: now - 10, tags: [['d', 'post']], content: 'same second' });
        assert.deepEqual(await raw.publish(atDeletion), [false, DELETED]);
        const newer = signed(key, { kind: 30023, created_at: now - 5, tags: [['d', 'post']], content: 'v2' });
        assert.deepEqual(await ntPublish(nt, newer), [true, '']);
        assert.deepEqual(await stored('a-newer', { kinds: [30023], authors: [key.pk], '#d': ['post'] }), [newer]);
    });

    test("someone else's deletion changes nothing and is stored as a normal event", async () => {
        const author = newKey();
        const stranger = newKey();
        const note = signed(author, { content: 'mine', created_at: nowSec() - 10 });
        const addr = signed(author, { kind: 30023, created_at: nowSec() - 10, tags: [['d', 'x']] });
        assert.deepEqual(await raw.publish(note), [true, '']);
        assert.deepEqual(await raw.publish(addr), [true, '']);
        const del = signed(stranger, {
            kind: 5,
            tags: [
                ['e', note.id],
                ['a', `30023:${author.pk}:x`],
            ],
        });
        assert.deepEqual(await ntPublish(nt, del), [true, '']);
        assert.deepEqual(await stored('other-note', { ids: [note.id] }), [note]);
        assert.deepEqual(await stored('other-addr', { ids: [addr.id] }), [addr]);
        assert.deepEqual(await stored('other-req', { ids: [del.id] }), [del]);
    });

    test('a deletion of a deletion has no effect', async () => {
        const key = newKey();
        const note = signed(key, { created_at: nowSec() - 10 });
        assert.deepEqual(await raw.publish(note), [true, '']);
        const del = signed(key, { kind: 5, created_at: nowSec() - 5, tags: [['e', note.id]] });
        assert.deepEqual(await raw.publish(del), [true, '']);
        const undel = signed(key, { kind: 5, tags: [['e', del.id]] });
        assert.deepEqual(await raw.publish(undel), [true, '']);
        assert.deepEqual(await stored('dd-first', { ids: [del.id] }), [del]);
        assert.deepEqual(await raw.publish(note), [false, DELETED]);
    });

    async function checkVanish(tag, relayValue) {
        const key = newKey();
        const bystander = newKey();
        const now = nowSec();
        const note = signed(key, { created_at: now - 20 });
        const addr = signed(key, { kind: 30023, created_at: now - 20, tags: [['d', 'x']] });
        const del = signed(key, { kind: 5, created_at: now - 15, tags: [['e', '0'.repeat(64)]] });
        const theirs = signed(bystander, { created_at: now - 20 });
        for (const ev of [note, addr, del, theirs]) {
            assert.deepEqual(await raw.publish(ev), [true, '']);
        }
        const vanish = signed(key, { kind: 62, created_at: now - 10, tags: [['relay', relayValue]], content: 'bye' });
        assert.deepEqual(await ntPublish(nt, vanish), [true, '']);

        assert.deepEqual(await stored(`${tag}-gone`, { authors: [key.pk] }), [vanish]);
        assert.deepEqual(await stored(`${tag}-bystander`, { authors: [bystander.pk] }), [theirs]);
        assert.deepEqual(await raw.publish(note), [false, VANISHED]);
        assert.deepEqual(await raw.publish(signed(key, { created_at: now - 10 })), [false, VANISHED]);
        const later = signed(key, { created_at: now - 5 });
        assert.deepEqual(await raw.publish(later), [true, '']);
        assert.deepEqual(await stored(`${tag}-later`, { authors: [key.pk] }), [later, vanish]);
    }

    test('a vanish request for ALL_RELAYS deletes the author and refuses older events', async () => {
        await checkVanish('vanish-all', 'ALL_RELAYS');
    });

    test("a vanish request naming this relay's URL does the same", async () => {
        await checkVanish('vanish-url', `${PUBLIC_URL}/`);
    });

    test('a vanish request naming another relay does nothing', async () => {
        const key = newKey();
        const note = signed(key, { created_at: nowSec() - 20 });
        assert.deepEqual(await raw.publish(note), [true, '']);
        const vanish = signed(key, { kind: 62, created_at: nowSec() - 10, tags: [['relay', 'wss://other.example.org']] });
        assert.deepEqual(await ntPublish(nt, vanish), [true, '']);
        assert.deepEqual(await stored('vanish-other', { authors: [key.pk] }), [vanish, note]);
        const older = signed(key, { created_at: nowSec() - 15 });
        assert.deepEqual(await raw.publish(older), [true, '']);
    });
});
