// SIGHUP reloads the config file without dropping connections: limits and
// the [auth] lists take effect at once (for open connections too), the
// NIP-11 document follows, options that need a restart are named in the
// log and left as they were, and a broken file changes nothing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, newKey, signed } from './client.mjs';

async function waitForLog(relay, re, from = 0) {
    const end = Date.now() + DEADLINE_MS;
    while (!re.test(relay.stderr().slice(from))) {
        if (Date.now() > end) {
            throw new Error(`no log line matching ${re}:\n${relay.stderr()}`);
        }
        await new Promise((r) => setTimeout(r, 20));
    }
}

async function nip11(relay) {
    const res = await httpRequest(relay.httpUrl, { headers: { accept: 'application/nostr+json' } });
    return JSON.parse(res.body);
}

describe('SIGHUP reload', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    after(async () => {
        await relay?.stop();
    });

    test('applies limits and auth lists to a running relay and keeps its connections', async () => {
        const dir = makeTempDir('reload');
        writeConfig(dir, { limits: { max_filters: 4 } });
        relay = await startRelay(dir);
        const listener = await RawClient.open(relay.url);
        const publisher = await RawClient.open(relay.url);
        await listener.req('live', { kinds: [1] });
        assert.equal((await nip11(relay)).limitation.max_filters, 4);
        const key = newKey();
        assert.deepEqual(await publisher.publish(signed(key, { content: 'before' })), [true, '']);

        // Fewer filters, an allow list, a new name (needs a restart).
        const allowed = newKey();
        writeConfig(dir, { limits: { max_filters: 2 }, relay: { name: 'renamed' } });
        fs.appendFileSync(path.join(dir, 'ostrich.toml'), '\n[rate_limit]\nexempt_loopback = false\nreqs_burst = 1\nreqs_per_second = 1\n');
        const file = path.join(dir, 'ostrich.toml');
        fs.appendFileSync(file, `\n[auth]\nallow_pubkeys = ["${allowed.pk}"]\n`);
        let mark = relay.stderr().length;
        process.kill(relay.pid, 'SIGHUP');
        await waitForLog(relay, /config reload: applied 5 changes/, mark);
        assert.match(relay.stderr().slice(mark), /config reload: relay\.name changed; the change takes effect after a restart/);

        const doc = await nip11(relay);
        assert.equal(doc.limitation.max_filters, 2);
        assert.equal(doc.name, 'test relay');
        assert.equal(doc.limitation.restricted_writes, true);
        // The open connection has the new filter limit too.
        publisher.send(['REQ', 'three', { kinds: [1] }, { kinds: [2] }, { kinds: [3] }]);
        const closed = await publisher.take((m) => m[1] === 'three', 'an answer to the REQ');
        assert.deepEqual(closed.msg, ['CLOSED', 'three', "invalid: too many filters in REQ (over the relay's limit)"]);
        // A new connection gets the new rate limits (a burst of one REQ,
        // loopback no longer exempt).
        const fresh = await RawClient.open(relay.url);
        await fresh.query('first', { kinds: [1] });
        fresh.send(['REQ', 'second', { kinds: [1] }]);
        const limited = await fresh.take((m) => m[0] === 'CLOSED' && m[1] === 'second', 'a rate-limited REQ');
        assert.match(limited.msg[2], /^rate-limited: /);
        await closeAll(fresh);
        const [ok, reason] = await publisher.publish(signed(key, { content: 'after' }));
        assert.equal(ok, false);
        assert.match(reason, /^auth-required: /);
        // The subscription opened before the reload is still open.
        assert.equal(listener.unread('live').some((f) => f.msg[0] === 'CLOSED'), false);

        // A broken file changes nothing.
        fs.writeFileSync(file, '[limits]\nmax_filters = "many"\n');
        mark = relay.stderr().length;
        process.kill(relay.pid, 'SIGHUP');
        await waitForLog(relay, /config reload failed: .*limits\.max_filters: expected an integer.*keeping the running configuration/, mark);
        assert.equal((await nip11(relay)).limitation.max_filters, 2);

        await closeAll(listener, publisher);
        await stopRelayClean(relay);
        relay = null;
    });

    test('live events reach a subscription across a reload', async () => {
        const dir = makeTempDir('reload-live');
        writeConfig(dir);
        relay = await startRelay(dir);
        const listener = await RawClient.open(relay.url);
        const publisher = await RawClient.open(relay.url);
        await listener.req('live', { kinds: [1] });
        writeConfig(dir, { limits: { max_subscriptions: 10 } });
        const mark = relay.stderr().length;
        process.kill(relay.pid, 'SIGHUP');
        await waitForLog(relay, /config reload: applied 1 change from/, mark);
        const ev = signed(newKey(), { content: 'across the reload' });
        assert.deepEqual(await publisher.publish(ev), [true, '']);
        const got = await listener.take((m) => m[0] === 'EVENT' && m[1] === 'live', 'the live event');
        assert.deepEqual(got.msg[2], ev);
        assert.equal((await nip11(relay)).limitation.max_subscriptions, 10);
        await closeAll(listener, publisher);
        await stopRelayClean(relay);
        relay = null;
    });
});
