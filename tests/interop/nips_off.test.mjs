// Every [nips] switch off, against the real relay: NIP-11 lists none of
// them, kind 5 and kind 62 events are stored as ordinary events and delete
// nothing, an expired event is accepted and returned, no AUTH challenge is
// sent and AUTH is answered with a NOTICE, COUNT is CLOSED, a protected
// event is accepted from an unauthenticated connection, and proof of work
// is not checked. The default-config tests cover each NIP switched on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
    httpRequest,
    makeTempDir,
    relayBinary,
    startRelay,
    stopRelayClean,
    writeConfig,
    TEST_TIMEOUT_MS,
} from './relay.mjs';
import { RawClient, closeAll, newKey, nowSec, signed } from './client.mjs';

const ALL_OFF = {
    nip09: false,
    nip13: false,
    nip40: false,
    nip42: false,
    nip45: false,
    nip62: false,
    nip70: false,
};

describe('[nips] all switched off', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;

    before(async () => {
        const dir = makeTempDir('nips-off');
        // Protected direct messages need NIP-42: the config must say so.
        writeConfig(dir, {
            auth: { protect_dms: false },
            nips: ALL_OFF,
            storage: { expiration_purge_interval_s: 1 },
        });
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    async function stored(subId, filter) {
        return (await raw.query(subId, filter)).events;
    }

    test('NIP-11 lists only the NIPs left on and states no proof of work', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        assert.equal(res.status, 200);
        const doc = JSON.parse(res.body);
        assert.deepEqual(doc.supported_nips, [1, 11, 50]);
        assert.equal(doc.limitation.min_pow_difficulty, 0);
        assert.equal(doc.limitation.auth_required, false);
    });

    test('a kind 5 event is stored and deletes nothing', async () => {
        const key = newKey();
        const note = signed(key, { content: 'kept', created_at: nowSec() - 10 });
        assert.deepEqual(await raw.publish(note), [true, '']);
        const del = signed(key, { kind: 5, tags: [['e', note.id], ['k', '1']] });
        assert.deepEqual(await raw.publish(del), [true, '']);
        assert.deepEqual(await stored('del-note', { ids: [note.id] }), [note]);
        assert.deepEqual(await stored('del-req', { kinds: [5], authors: [key.pk] }), [del]);
        // Nothing was recorded either: the event may be published again.
        assert.deepEqual(await raw.publish(note), [true, 'duplicate: already have this event']);
    });

    test('a kind 62 event is stored and deletes nothing', async () => {
        const key = newKey();
        const note = signed(key, { content: 'still here', created_at: nowSec() - 20 });
        assert.deepEqual(await raw.publish(note), [true, '']);
        const vanish = signed(key, { kind: 62, created_at: nowSec() - 10, tags: [['relay', 'ALL_RELAYS']] });
        assert.deepEqual(await raw.publish(vanish), [true, '']);
        assert.deepEqual(await stored('vanish-all', { authors: [key.pk] }), [vanish, note]);
        const older = signed(key, { content: 'older than the request', created_at: nowSec() - 15 });
        assert.deepEqual(await raw.publish(older), [true, '']);
    });

    test('an expired event is accepted and returned', async () => {
        const key = newKey();
        const ev = signed(key, { tags: [['expiration', String(nowSec() - 60)]], content: 'expired' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        assert.deepEqual(await stored('expired', { ids: [ev.id] }), [ev]);
    });

    test('no AUTH challenge on connect; AUTH gets a NOTICE', async () => {
        const c = await RawClient.open(relay.url);
        try {
            // A challenge would be the first frame: after a whole REQ round
            // trip, none has come.
            await c.query('first', { limit: 0 });
            assert.deepEqual(c.challenges, []);
            assert.equal(c.log[0].msg[0], 'EOSE');
            const key = newKey();
            const ev = signed(key, {
                kind: 22242,
                tags: [['relay', relay.url], ['challenge', 'x'.repeat(32)]],
            });
            c.send(['AUTH', ev]);
            const f = await c.takeNotice('the NOTICE for AUTH');
            assert.deepEqual(f.msg, ['NOTICE', 'unsupported: authentication is disabled on this relay']);
            assert.deepEqual(c.unread(), []);
        } finally {
            await c.close();
        }
    });

    test('COUNT is CLOSED as unsupported', async () => {
        raw.send(['COUNT', 'cnt', { kinds: [1] }]);
        const f = await raw.take((m) => (m[0] === 'COUNT' || m[0] === 'CLOSED') && m[1] === 'cnt', 'COUNT cnt');
        assert.deepEqual(f.msg, ['CLOSED', 'cnt', 'unsupported: COUNT is disabled on this relay']);
    });

    test('a protected event is accepted from an unauthenticated connection', async () => {
        const author = newKey();
        const ev = signed(author, { tags: [['-']], content: 'members only' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        assert.deepEqual(await stored('protected', { ids: [ev.id] }), [ev]);
    });

    test('proof of work is not checked', async () => {
        // NIP-13 off allows no minimum (see --check-config below), so what
        // is left to see is an event whose id falls far short of the target
        // its nonce tag commits to being accepted like any other.
        const key = newKey();
        const ev = signed(key, { tags: [['nonce', '0', '256']], content: 'no work' });
        assert.deepEqual(await raw.publish(ev), [true, '']);
    });
});

describe('[nips] conflicts in --check-config', { timeout: TEST_TIMEOUT_MS }, () => {
    test('a minimum proof of work with NIP-13 off is refused', () => {
        const dir = makeTempDir('nips-check');
        const file = path.join(dir, 'bad.toml');
        fs.writeFileSync(file, '[limits]\nmin_pow_difficulty = 8\n\n[nips]\nnip13 = false\n');
        const res = spawnSync(relayBinary(), ['--check-config', file], { encoding: 'utf8' });
        assert.notEqual(res.status, 0);
        assert.ok(
            res.stderr.includes(`${file}:5: nips.nip13: limits.min_pow_difficulty above 0 needs nips.nip13 = true`),
            res.stderr
        );
    });
});
