// NIP-45 COUNT against the real relay: the count equals the number of
// events a REQ with the same filters returns (ids, authors, kinds, tags,
// since/until, overlapping filters), expired events are not counted, and
// the "hll" registers come with exactly the shapes that get them, equal to
// registers computed here from NIP-45's definition over the pubkeys that
// published the counted events. Every filter names its kinds: the relay
// refuses counts that could include direct messages (NIP-42).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, nowSec, signed } from './client.mjs';

// NIP-45: the 64-character hex string a tag value stands for, its
// character 32 read as a hex digit, plus 8.
function hllOffset(value) {
    let hex;
    if (/^[0-9a-f]{64}$/.test(value)) {
        hex = value;
    } else if (/^[0-9]+:[0-9a-f]{64}:/.test(value)) {
        hex = value.split(':')[1];
    } else {
        hex = createHash('sha256').update(value, 'utf8').digest('hex');
    }
    return parseInt(hex[32], 16) + 8;
}

// NIP-45: byte `offset` of each pubkey picks a register, which keeps the
// largest count of leading zero bits from byte offset + 1 on, plus 1.
function hllRegisters(offset, pubkeys) {
    const regs = new Uint8Array(256);
    for (const pk of pubkeys) {
        const bytes = Buffer.from(pk, 'hex');
        let zeros = 0;
        for (let i = offset + 1; i < 32; i++) {
            if (bytes[i] === 0) {
                zeros += 8;
                continue;
            }
            zeros += Math.clz32(bytes[i]) - 24;
            break;
        }
        const ri = bytes[offset];
        regs[ri] = Math.max(regs[ri], zeros + 1);
    }
    return Buffer.from(regs).toString('hex');
}

describe('NIP-45 COUNT', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let raw;
    const keys = Array.from({ length: 12 }, () => newKey());
    const author = keys[0];
    const now = nowSec();
    const target = signed(author, { content: 'the note everyone reacts to', created_at: now - 100 });
    const events = [target];
    const reactors = keys.slice(1);

    async function count(subId, ...filters) {
        raw.send(['COUNT', subId, ...filters]);
        const f = await raw.take((m) => (m[0] === 'COUNT' || m[0] === 'CLOSED') && m[1] === subId, `COUNT ${subId}`);
        assert.equal(f.msg[0], 'COUNT', `COUNT ${subId} answered ${f.text}`);
        return f.msg[2];
    }

    before(async () => {
        const dir = makeTempDir('count');
        writeConfig(dir);
        relay = await startRelay(dir);
        raw = await RawClient.open(relay.url);
        reactors.forEach((k, i) => {
            events.push(signed(k, { kind: 7, content: '+', tags: [['e', target.id], ['p', author.pk]], created_at: now - 50 + i }));
            events.push(signed(k, { kind: 3, tags: [['p', author.pk]], created_at: now - 40 + i }));
            events.push(signed(k, { kind: 1, content: `reply ${i}`, tags: [['e', target.id], ['t', 'ostrich-count']], created_at: now - 30 + i }));
        });
        events.push(signed(author, { kind: 30023, tags: [['d', 'article']], content: 'long', created_at: now - 20 }));
        const addr = `30023:${author.pk}:article`;
        for (const k of reactors.slice(0, 5)) {
            events.push(signed(k, { kind: 7, content: '+', tags: [['a', addr]], created_at: now - 10 }));
        }
        for (const ev of events) {
            assert.deepEqual(await raw.publish(ev), [true, '']);
        }
    });

    after(async () => {
        await closeAll(raw);
        await stopRelayClean(relay);
    });

    test('NIP-11 lists 45', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        assert.ok(JSON.parse(res.body).supported_nips.includes(45));
    });

    test('COUNT equals the number of events REQ returns, for many shapes', async () => {
        const pk = author.pk;
        const shapes = [
            [{ ids: [target.id, events[1].id, events[2].id], kinds: [1, 3, 7] }],
            [{ authors: [pk], kinds: [1, 30023] }],
            [{ authors: reactors.slice(0, 3).map((k) => k.pk), kinds: [1, 7] }],
            [{ kinds: [7] }],
            [{ kinds: [3], '#p': [pk] }],
            [{ '#t': ['ostrich-count'], kinds: [1] }],
            [{ '#e': [target.id], kinds: [1] }],
            [{ '#e': [target.id], kinds: [1, 7], since: now - 45, until: now - 25 }],
            [{ kinds: [1], since: now - 25 }],
            [{ kinds: [7] }, { '#e': [target.id], kinds: [1, 7] }, { authors: [pk], kinds: [1] }],
            [{ kinds: [7], '#e': [target.id] }, { kinds: [7] }],
        ];
        let i = 0;
        for (const filters of shapes) {
            const { events: got } = await raw.query(`q${i}`, ...filters.map((f) => ({ ...f, limit: 1000 })));
            const res = await count(`c${i}`, ...filters);
            assert.equal(res.count, got.length, `count for ${JSON.stringify(filters)}`);
            assert.ok(got.length > 0, `shape ${JSON.stringify(filters)} matches something`);
            i++;
        }
    });

    test('expired events are not counted', async () => {
        const key = newKey();
        const soon = nowSec() + 2;
        const ev = signed(key, { tags: [['expiration', String(soon)], ['t', 'count-exp']] });
        const keep = signed(key, { tags: [['t', 'count-exp']] });
        assert.deepEqual(await raw.publish(ev), [true, '']);
        assert.deepEqual(await raw.publish(keep), [true, '']);
        const deadline = Date.now() + DEADLINE_MS;
        let res;
        for (;;) {
            res = await count('exp', { '#t': ['count-exp'], kinds: [1] });
            if (res.count === 1 || Date.now() > deadline) break;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.equal(res.count, 1);
        assert.ok(nowSec() >= soon, 'left out only once expired');
        const { events: got } = await raw.query('exp-req', { '#t': ['count-exp'], kinds: [1] });
        assert.deepEqual(got.map((e) => e.id), [keep.id]);
    });

    test('the shapes NIP-45 names get hll registers matching the pubkeys', async () => {
        const addr = `30023:${author.pk}:article`;
        const cases = [
            [{ '#e': [target.id], kinds: [7] }, target.id, reactors],
            [{ '#p': [author.pk], kinds: [3] }, author.pk, reactors],
            [{ '#e': [target.id], kinds: [1] }, target.id, reactors],
            [{ '#a': [addr], kinds: [7] }, addr, reactors.slice(0, 5)],
            [{ '#t': ['ostrich-count'], kinds: [1] }, 'ostrich-count', reactors],
        ];
        let i = 0;
        for (const [filter, value, who] of cases) {
            const res = await count(`h${i++}`, filter);
            assert.equal(res.count, who.length);
            assert.equal(typeof res.hll, 'string', `hll for ${JSON.stringify(filter)}`);
            assert.equal(res.hll.length, 512);
            assert.equal(res.hll, hllRegisters(hllOffset(value), who.map((k) => k.pk)));
        }
        // A value that matches nothing gives all-zero registers.
        const none = await count('h-none', { '#e': ['f'.repeat(64)], kinds: [7] });
        assert.equal(none.count, 0);
        assert.equal(none.hll, '00'.repeat(256));
    });

    test('other shapes get no hll', async () => {
        const cases = [
            [{ kinds: [7] }],
            [{ authors: [author.pk], kinds: [1] }],
            [{ '#e': [target.id, events[1].id], kinds: [1, 7] }],
            [{ '#e': [target.id], '#p': [author.pk], kinds: [7] }],
            [{ '#e': [target.id], kinds: [7] }, { '#p': [author.pk], kinds: [3] }],
        ];
        let i = 0;
        for (const filters of cases) {
            const res = await count(`n${i++}`, ...filters);
            assert.ok(res.count > 0);
            assert.equal(res.hll, undefined, `no hll for ${JSON.stringify(filters)}`);
        }
    });
});
