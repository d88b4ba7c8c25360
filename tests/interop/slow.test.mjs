// A subscriber that stops reading is cut off once its outbound queue passes
// limits.max_outbound_bytes; the publisher and the other subscribers carry
// on unaffected. The publisher paces itself on the reading subscriber (at
// most WINDOW events ahead of it), so the reading subscriber's queue stays
// far below the limit while the other one's grows without bound.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, newKey, nowSec, ntPublish, signed } from './client.mjs';

const EVENTS = 400;
const CONTENT = 60000; // bytes per event: 24 MB in all, far beyond socket buffers
const WINDOW = 4;

describe('slow subscribers', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;

    before(async () => {
        const dir = makeTempDir('slow');
        writeConfig(dir, { limits: { max_outbound_bytes: 1048576 } });
        relay = await startRelay(dir);
    });

    after(async () => {
        await stopRelayClean(relay);
    });

    test('a subscriber that does not read is disconnected; others get everything', async (t) => {
        const key = newKey();
        // Without compression: its frames are what fills the socket buffers.
        const slow = await RawClient.open(relay.url, { perMessageDeflate: false });
        const fast = await RawClient.open(relay.url);
        const pub = await connectNostrTools(relay.url);
        try {
            await slow.req('all', { authors: [key.pk] });
            await fast.req('all', { authors: [key.pk] });
            slow.ws._socket.pause();

            const base = nowSec() - 1000;
            const evs = Array.from({ length: EVENTS }, (_, i) =>
                signed(key, { created_at: base + i, content: `${i} `.padEnd(CONTENT, 'x') })
            );
            const seen = new Set();
            const nextFast = async () => {
                const f = await fast.take((m) => m[0] === 'EVENT' && m[1] === 'all', 'the fast subscriber events');
                assert.ok(!seen.has(f.msg[2].id), 'no duplicate');
                seen.add(f.msg[2].id);
            };
            const oks = [];
            for (let i = 0; i < EVENTS; i++) {
                if (i >= WINDOW) await nextFast();
                oks.push(ntPublish(pub, evs[i]));
            }
            assert.deepEqual(await Promise.all(oks), evs.map(() => [true, '']), 'every event accepted');
            while (seen.size < EVENTS) await nextFast();

            slow.ws._socket.resume();
            const deadline = Date.now() + DEADLINE_MS;
            while (!slow.closed && Date.now() < deadline) {
                await slow.take(() => false, 'the close', deadline - Date.now()).catch(() => {});
            }
            assert.ok(slow.closed, 'the relay closed the slow connection');
            assert.ok([1006, 1008].includes(slow.closed.code), `close code ${slow.closed.code}`);
            const got = slow.log.filter((f) => f.msg?.[0] === 'EVENT').length;
            assert.ok(got < EVENTS, `the slow subscriber was cut off (${got} of ${EVENTS} events)`);
            t.diagnostic(`the slow subscriber got ${got} of ${EVENTS} events, then close code ${slow.closed.code}`);

            // The relay still serves new connections.
            const again = await RawClient.open(relay.url);
            const { events } = await again.query('count', { authors: [key.pk], limit: 5 });
            assert.equal(events.length, 5);
            await again.close();
        } finally {
            slow.ws._socket.resume();
            pub.close();
            await closeAll(slow, fast);
        }
    });
});
