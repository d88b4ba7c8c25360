// Durability: every event acknowledged with OK true is still there after
// SIGTERM and a restart on the same database, including events that were
// in flight when the signal arrived.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, connectNostrTools, ids, newKey, nowSec, ntPublish, signed } from './client.mjs';

describe('durability across restarts', { timeout: TEST_TIMEOUT_MS }, () => {
    const dir = makeTempDir('durability');
    writeConfig(dir, { storage: { batch_size: 64, batch_wait_ms: 5 } });
    let relay;

    after(async () => {
        // Only reached with a relay still running when a test failed.
        await relay?.stop();
    });

    async function storedIds(url, filter) {
        const c = await RawClient.open(url);
        try {
            return ids((await c.req('all', filter)).events).sort();
        } finally {
            await c.close();
        }
    }

    test('acknowledged events survive SIGTERM and restart', async () => {
        const key = newKey();
        relay = await startRelay(dir);
        const nt = await connectNostrTools(relay.url);
        const base = nowSec() - 1000;
        const evs = Array.from({ length: 300 }, (_, i) => signed(key, { content: `durable ${i}`, created_at: base + i }));
        const meta = [
            signed(key, { kind: 0, created_at: base, content: '{"name":"old"}' }),
            signed(key, { kind: 0, created_at: base + 1, content: '{"name":"new"}' }),
        ];
        const results = await Promise.all(evs.map((e) => ntPublish(nt, e)));
        assert.deepEqual(results, evs.map(() => [true, '']));
        for (const m of meta) assert.deepEqual(await ntPublish(nt, m), [true, '']);
        nt.close();
        await stopRelayClean(relay);

        relay = await startRelay(dir);
        const got = await storedIds(relay.url, { authors: [key.pk], kinds: [1], limit: 1000 });
        assert.deepEqual(got, ids(evs).sort());
        assert.deepEqual(await storedIds(relay.url, { authors: [key.pk], kinds: [0] }), [meta[1].id]);
        await stopRelayClean(relay);
    });

    test('events acknowledged while SIGTERM arrives are not lost', async (t) => {
        const key = newKey();
        relay = await startRelay(dir);
        const c = await RawClient.open(relay.url);
        const base = nowSec() - 2000;
        const evs = Array.from({ length: 400 }, (_, i) => signed(key, { content: `in flight ${i}`, created_at: base + i }));
        // Wait until the relay has acknowledged a first event, so the signal
        // lands while the rest are being validated and stored.
        c.send(['EVENT', evs[0]]);
        assert.deepEqual((await c.takeOk(evs[0].id)).msg, ['OK', evs[0].id, true, '']);
        for (const e of evs.slice(1)) c.send(['EVENT', e]);
        const res = await relay.stop();
        assert.deepEqual(
            { code: res.code, signal: res.signal, timedOut: res.timedOut },
            { code: 0, signal: null, timedOut: undefined },
            `clean exit after SIGTERM\n${relay.stderr()}`
        );
        // Let the socket deliver whatever the relay flushed before closing.
        await c.take(() => false, 'the connection to close').catch(() => {});
        // It said goodbye: a close frame "going away" with its reason.
        assert.deepEqual(c.closed, { code: 1001, reason: 'relay is shutting down' });
        const oks = c.log.filter((f) => f.msg?.[0] === 'OK');
        const accepted = oks.filter((f) => f.msg[2] === true).map((f) => f.msg[1]);
        for (const f of oks.filter((f2) => f2.msg[2] !== true)) {
            assert.match(f.msg[3], /^(error|rate-limited): /, `a refusal during shutdown says why: ${f.text}`);
        }
        assert.ok(accepted.length >= 1);
        t.diagnostic(`${evs.length} sent, ${oks.length} answered, ${accepted.length} accepted before the relay stopped`);

        relay = await startRelay(dir);
        const got = new Set(await storedIds(relay.url, { authors: [key.pk], limit: 1000 }));
        const lost = accepted.filter((id) => !got.has(id));
        assert.deepEqual(lost, [], `${accepted.length} acknowledged, ${lost.length} lost`);
        await stopRelayClean(relay);
        relay = undefined;
    });
});
