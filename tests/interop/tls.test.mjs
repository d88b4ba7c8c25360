// wss:// and https:// with a self-signed certificate made by openssl. The
// clients trust exactly that certificate (no verification is switched off).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, makeCertificate, makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, closeAll, connectNostrTools, newKey, ntPublish, signed } from './client.mjs';

describe('TLS', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let tls;

    before(async () => {
        const dir = makeTempDir('tls');
        tls = makeCertificate(dir);
        writeConfig(dir, { relay: { name: 'tls relay', tls_cert: tls.cert, tls_key: tls.key } });
        relay = await startRelay(dir);
    });

    after(async () => {
        await stopRelayClean(relay);
    });

    test('the relay announces wss://', () => {
        assert.equal(relay.isTls, true);
        assert.match(relay.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    });

    test('publish and subscribe over wss with nostr-tools', async () => {
        const key = newKey();
        const pub = await connectNostrTools(relay.url, { ca: tls.ca });
        const subr = await connectNostrTools(relay.url, { ca: tls.ca });
        try {
            const stored = signed(key, { content: 'stored over tls', created_at: Math.floor(Date.now() / 1000) - 5 });
            assert.deepEqual(await ntPublish(pub, stored), [true, '']);
            const seen = [];
            let onEose;
            const eose = new Promise((resolve) => {
                onEose = resolve;
            });
            let onLive;
            const live = new Promise((resolve) => {
                onLive = resolve;
            });
            const s = subr.subscribe([{ authors: [key.pk] }], {
                onevent: (e) => {
                    seen.push(e.id);
                    if (seen.length === 2) onLive();
                },
                oneose: onEose,
                eoseTimeout: 10 * 60 * 1000,
            });
            await eose;
            assert.deepEqual(seen, [stored.id]);
            const next = signed(key, { content: 'live over tls' });
            assert.deepEqual(await ntPublish(pub, next), [true, '']);
            await live;
            assert.deepEqual(seen, [stored.id, next.id]);
            s.close();
            const [ok, msg] = await ntPublish(pub, stored);
            assert.equal(ok, true);
            assert.match(msg, /^duplicate: /);
        } finally {
            pub.close();
            subr.close();
        }
    });

    test('raw frames over wss: refusals and large events', async () => {
        const c = await RawClient.open(relay.url, { ca: tls.ca });
        try {
            c.send('[not json');
            assert.match((await c.takeNotice()).msg[1], /^invalid: /);
            const key = newKey();
            const big = signed(key, { content: 'b'.repeat(60000) });
            assert.deepEqual(await c.publish(big), [true, '']);
            const { events } = await c.req('big', { ids: [big.id] });
            assert.deepEqual(events, [big]);
        } finally {
            await closeAll(c);
        }
    });

    test('a client that does not trust the certificate cannot connect', async () => {
        await assert.rejects(RawClient.open(relay.url), /self[- ]signed|certificate/i);
    });

    test('NIP-11 over https', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' }, ca: tls.ca });
        assert.equal(res.status, 200);
        assert.equal(res.headers['access-control-allow-origin'], '*');
        const doc = JSON.parse(res.body);
        assert.equal(doc.name, 'tls relay');
        assert.ok(doc.supported_nips.includes(11));
        const page = await httpRequest(relay.httpUrl, { ca: tls.ca });
        assert.equal(page.status, 200);
        assert.match(page.headers['content-type'], /^text\/html/);
        assert.ok(page.body.includes('tls relay'));
    });
});
