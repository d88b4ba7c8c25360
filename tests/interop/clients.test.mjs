// Five client libraries publish, query and subscribe against the relay:
// nostr-tools (throughout the suite), NDK, rx-nostr, nostrify and
// applesauce. Each one's own message parsing must accept what the relay
// sends (a library that rejects a frame usually just hangs, so every step
// waits against a deadline).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS, DEADLINE_MS } from './relay.mjs';
import { finalizeEvent, generateSecretKey, getPublicKey, nowSec } from './client.mjs';
import { WebSocket, ndkModule, rxNostr, rxNostrCrypto, rxjs, nostrify, applesauceRelay } from './deps.mjs';

// Several libraries look for a global WebSocket, as in a browser.
globalThis.WebSocket ??= WebSocket;

function within(promise, what, ms = DEADLINE_MS) {
    let timer;
    const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    });
    return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Resolves once check() is true, polling on the event loop.
async function until(check, what) {
    const end = Date.now() + DEADLINE_MS;
    while (!check()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

const hex = (bytes) => Buffer.from(bytes).toString('hex');

describe('client libraries', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;

    before(async () => {
        const dir = makeTempDir('clients');
        writeConfig(dir);
        relay = await startRelay(dir);
    });

    after(async () => {
        await stopRelayClean(relay);
        // Some of these libraries keep reconnect timers running after their
        // relay is gone, which would keep this test process alive forever.
        // Once everything here has finished, leave with the runner's verdict.
        setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
    });

    test('NDK publishes, fetches, replaces a profile and receives live events', async () => {
        const { default: NDK, NDKEvent, NDKPrivateKeySigner } = ndkModule;
        const signer = NDKPrivateKeySigner.generate();
        const ndk = new NDK({ explicitRelayUrls: [relay.url], signer });
        // NDK's connect resolves when its timeout passes even once connected,
        // so give it a short one; publishing below waits for the connection.
        await ndk.connect(1000);
        const user = await signer.user();
        const live = [];
        const sub = ndk.subscribe({ kinds: [1], authors: [user.pubkey] }, { closeOnEose: false });
        sub.on('event', (e) => live.push(e.id));
        const note = new NDKEvent(ndk, { kind: 1, content: 'from NDK é 🦚 "quoted"', tags: [['t', 'ndk']] });
        const published = await within(note.publish(), 'NDK publish');
        assert.equal(published.size, 1, 'NDK sees the relay accept the note');
        const got = await within(ndk.fetchEvents({ kinds: [1], authors: [user.pubkey] }), 'NDK fetch');
        assert.deepEqual([...got].map((e) => e.content), ['from NDK é 🦚 "quoted"']);
        for (const name of ['first', 'second']) {
            const profile = new NDKEvent(ndk, { kind: 0, content: JSON.stringify({ name }), created_at: nowSec() - (name === 'first' ? 10 : 0) });
            await within(profile.publish(), 'NDK profile publish');
        }
        const profile = await within(ndk.fetchEvent({ kinds: [0], authors: [user.pubkey] }), 'NDK profile fetch');
        assert.equal(JSON.parse(profile.content).name, 'second', 'the newer profile replaced the older');
        await until(() => live.includes(note.id), 'the live note');
        sub.stop();
        for (const r of ndk.pool.relays.values()) r.disconnect();
    });

    test('rx-nostr sends, queries backward and receives forward', async () => {
        const { createRxNostr, createRxBackwardReq, createRxForwardReq } = rxNostr;
        const { verifier, seckeySigner } = rxNostrCrypto;
        const sk = hex(generateSecretKey());
        const pk = getPublicKey(Buffer.from(sk, 'hex'));
        const rx = createRxNostr({ verifier, signer: seckeySigner(sk), websocketCtor: WebSocket });
        rx.setDefaultRelays([relay.url]);
        const live = [];
        const fwd = createRxForwardReq();
        const liveSub = rx.use(fwd).subscribe((p) => live.push(p.event.id));
        fwd.emit({ kinds: [1], authors: [pk] });
        const oks = await within(
            new Promise((resolve, reject) => {
                const out = [];
                rx.send({ kind: 1, content: 'from rx-nostr', tags: [] }).subscribe({ next: (p) => out.push(p), complete: () => resolve(out), error: reject });
            }),
            'rx-nostr send'
        );
        assert.deepEqual(oks.map((p) => [p.ok, p.notice ?? '']), [[true, '']]);
        const back = createRxBackwardReq();
        const got = await within(
            new Promise((resolve) => {
                const out = [];
                rx.use(back).subscribe({ next: (p) => out.push(p.event.content), complete: () => resolve(out) });
                back.emit({ kinds: [1], authors: [pk] });
                back.over();
            }),
            'rx-nostr backward query'
        );
        assert.deepEqual(got, ['from rx-nostr']);
        await until(() => live.length === 1, 'the forward (live) event');
        liveSub.unsubscribe();
        rx.dispose();
    });

    test('nostrify publishes, queries, streams live events and counts', async () => {
        const { NRelay1, NSecSigner } = nostrify;
        const signer = new NSecSigner(generateSecretKey());
        const pk = await signer.getPublicKey();
        const r = new NRelay1(relay.url);
        const first = await signer.signEvent({ kind: 1, content: 'from nostrify', tags: [['t', 'x']], created_at: nowSec() });
        await within(r.event(first), 'nostrify publish');
        const got = await within(r.query([{ kinds: [1], authors: [pk] }]), 'nostrify query');
        assert.deepEqual(got.map((e) => e.id), [first.id]);
        const ctrl = new AbortController();
        const live = [];
        const streaming = (async () => {
            for await (const msg of r.req([{ kinds: [1], authors: [pk], limit: 0 }], { signal: ctrl.signal })) {
                if (msg[0] === 'EVENT') {
                    live.push(msg[2].id);
                    ctrl.abort();
                }
            }
        })().catch(() => {});
        // The REQ is open once its EOSE has arrived; a barrier query on the
        // same connection is answered after it.
        await within(r.query([{ ids: [first.id] }]), 'nostrify barrier query');
        const second = await signer.signEvent({ kind: 1, content: 'live for nostrify', tags: [], created_at: nowSec() });
        await within(r.event(second), 'nostrify second publish');
        await within(streaming, 'nostrify live event');
        assert.deepEqual(live, [second.id]);
        const count = await within(r.count([{ kinds: [1], authors: [pk] }]), 'nostrify count');
        assert.equal(count.count, 2);
        await r.close();
    });

    test('applesauce publishes, requests and subscribes', async () => {
        const { Relay, onlyEvents } = applesauceRelay;
        const { lastValueFrom, toArray } = rxjs;
        const sk = generateSecretKey();
        const pk = getPublicKey(sk);
        const r = new Relay(relay.url);
        const live = [];
        const liveSub = r.subscription({ kinds: [1], authors: [pk] }).pipe(onlyEvents()).subscribe((e) => live.push(e.id));
        const ev = finalizeEvent({ kind: 1, content: 'from applesauce', tags: [], created_at: nowSec() }, sk);
        const res = await within(r.publish(ev), 'applesauce publish');
        assert.equal(res.ok, true, `applesauce publish: ${JSON.stringify(res)}`);
        const got = await within(lastValueFrom(r.request({ kinds: [1], authors: [pk] }).pipe(toArray())), 'applesauce request');
        assert.deepEqual(got.map((e) => e.id), [ev.id]);
        await until(() => live.includes(ev.id), 'the applesauce live event');
        liveSub.unsubscribe();
        r.close?.();
    });
});
