// kill -9 in the middle of a publish stream, many times over: every event
// the relay acknowledged with OK true must be there after a restart on the
// same database, and be returned by REQ. SIGKILL gives the relay no chance
// to flush anything, so this checks that OK true is only ever sent for an
// event whose commit has reached the log (the storage pipeline: commit on
// the storage thread, fsync and answer on the sync thread).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, nowSec, signed } from './client.mjs';

const CYCLES = Number(process.env.OSTRICH_KILL9_CYCLES || 10); // per config
const PER_CYCLE = 240; // events offered per cycle
const CONNS = 4;
const WINDOW = 24; // unanswered EVENTs per connection

// Publishes evs over CONNS connections, at most WINDOW unanswered per
// connection, until all are answered or the relay dies; calls onOk after
// each OK. Resolves with the ids answered OK true.
async function stream(url, evs, onOk) {
    const clients = await Promise.all(Array.from({ length: CONNS }, () => RawClient.open(url)));
    const accepted = [];
    let next = 0;
    async function worker(c) {
        const inflight = new Map();
        const send = () => {
            while (inflight.size < WINDOW && next < evs.length) {
                const ev = evs[next++];
                inflight.set(ev.id, ev);
                c.send(['EVENT', ev]);
            }
        };
        send();
        while (inflight.size > 0) {
            let f;
            try {
                f = await c.take((m) => m[0] === 'OK' && inflight.has(m[1]), 'an OK', 20000);
            } catch {
                return; // the relay is gone
            }
            inflight.delete(f.msg[1]);
            if (f.msg[2] === true) {
                accepted.push(f.msg[1]);
            } else {
                assert.match(f.msg[3], /^(error|rate-limited): /, `a refusal says why: ${f.text}`);
            }
            onOk(accepted.length);
            send();
        }
    }
    await Promise.all(clients.map(worker));
    await closeAll(...clients);
    return accepted;
}

async function storedOf(url, idList) {
    const c = await RawClient.open(url);
    const got = new Set();
    try {
        for (let i = 0; i < idList.length; i += 200) {
            const { events } = await c.req(`chk${i}`, { ids: idList.slice(i, i + 200) });
            for (const e of events) got.add(e.id);
        }
    } finally {
        await closeAll(c);
    }
    return got;
}

function cycles(name, storage) {
    test(`${name}: ${CYCLES} kill -9 cycles lose no acknowledged event`, async (t) => {
        const dir = makeTempDir('kill9');
        writeConfig(dir, { storage });
        const key = newKey();
        const base = nowSec() - 100000;
        const all = [];
        let relay;
        let n = 0;
        try {
            for (let cycle = 0; cycle < CYCLES; cycle++) {
                relay = await startRelay(dir);
                const evs = Array.from({ length: PER_CYCLE }, () =>
                    signed(key, { content: `kill9 ${cycle} ${n}`, created_at: base + n++ })
                );
                // SIGKILL once a random number of events has been acknowledged,
                // so the kill lands with events in every stage of the pipeline.
                const killAt = 1 + Math.floor(Math.random() * (PER_CYCLE / 2));
                let killed = false;
                const victim = relay;
                const accepted = await stream(relay.url, evs, (count) => {
                    if (!killed && count >= killAt) {
                        killed = true;
                        process.kill(victim.pid, 'SIGKILL');
                    }
                });
                const res = await relay.exited;
                assert.equal(res.signal, 'SIGKILL', `cycle ${cycle}: the relay was killed\n${relay.stderr()}`);
                all.push(...accepted);
                relay = await startRelay(dir);
                const got = await storedOf(relay.url, accepted);
                const lost = accepted.filter((id) => !got.has(id));
                assert.deepEqual(lost, [], `cycle ${cycle}: ${accepted.length} acknowledged, ${lost.length} lost`);
                await stopRelayClean(relay);
                relay = undefined;
            }
            relay = await startRelay(dir);
            const got = await storedOf(relay.url, all);
            assert.equal(all.filter((id) => !got.has(id)).length, 0, 'every cycle\'s events are still there');
            t.diagnostic(`${CYCLES} cycles, ${all.length} events acknowledged, all found after restarts`);
            await stopRelayClean(relay);
            relay = undefined;
        } finally {
            await relay?.stop();
        }
    });
}

describe('kill -9 during a publish stream', { timeout: 2 * TEST_TIMEOUT_MS }, () => {
    cycles('default storage settings', {});
    cycles('the largest batches', { batch_size: 65536, batch_wait_ms: 50 });
});
