// permessage-deflate: a client that asks for it gets it ([relay]
// compression, on by default); its events arrive compressed (fewer bytes
// on the socket than in the messages) and whole, live and stored, while
// small answers stay uncompressed; what it sends compressed is understood.
// A client that limits the relay's window, or a relay with compression
// off, gets plain frames.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, DEADLINE_MS, TEST_TIMEOUT_MS } from './relay.mjs';
import { newKey, signed } from './client.mjs';
import { WebSocket } from './deps.mjs';

// A raw `ws` client with the given perMessageDeflate option: the
// negotiated extension header, parsed messages, and the bytes read.
async function open(url, perMessageDeflate) {
    const ws = new WebSocket(url, { perMessageDeflate });
    const msgs = [];
    let textBytes = 0;
    let extensions = null;
    ws.on('upgrade', (res) => {
        extensions = res.headers['sec-websocket-extensions'] ?? '';
    });
    ws.on('message', (data) => {
        textBytes += data.length;
        msgs.push(JSON.parse(data.toString()));
    });
    await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
    });
    const take = async (pred, what) => {
        const end = Date.now() + DEADLINE_MS;
        for (;;) {
            const i = msgs.findIndex(pred);
            if (i >= 0) {
                return msgs.splice(i, 1)[0];
            }
            if (Date.now() > end) {
                throw new Error(`no ${what}; got ${JSON.stringify(msgs).slice(0, 400)}`);
            }
            await new Promise((r) => setTimeout(r, 10));
        }
    };
    return {
        ws,
        take,
        extensions: () => extensions,
        socketBytes: () => ws._socket.bytesRead,
        textBytes: () => textBytes,
        send: (m) => ws.send(JSON.stringify(m)),
        close: () => new Promise((r) => (ws.readyState === WebSocket.CLOSED ? r() : (ws.once('close', r), ws.close()))),
    };
}

// A big, very compressible event.
function bigEvent(key, n) {
    return signed(key, { content: `${'nostr is a protocol '.repeat(400)} #${n}` });
}

describe('permessage-deflate', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    after(async () => {
        await relay?.stop();
    });

    test('events go out compressed to a client that asks, and arrive whole', async () => {
        const dir = makeTempDir('deflate');
        writeConfig(dir);
        relay = await startRelay(dir);
        const sub = await open(relay.url, true);
        assert.match(sub.extensions(), /^permessage-deflate/);
        const pub = await open(relay.url, { threshold: 0 }); // its own frames compressed too
        sub.send(['REQ', 'live', { kinds: [1] }]);
        await sub.take((m) => m[0] === 'EOSE', 'EOSE');
        const key = newKey();
        const evs = [bigEvent(key, 1), bigEvent(key, 2), bigEvent(key, 3)];
        const before = { socket: sub.socketBytes(), text: sub.textBytes() };
        for (const ev of evs) {
            pub.send(['EVENT', ev]);
            assert.deepEqual((await pub.take((m) => m[0] === 'OK' && m[1] === ev.id, 'OK')), ['OK', ev.id, true, '']);
        }
        for (const ev of evs) {
            const got = await sub.take((m) => m[0] === 'EVENT' && m[2].id === ev.id, 'the live event');
            assert.deepEqual(got, ['EVENT', 'live', ev]);
        }
        const live = { socket: sub.socketBytes() - before.socket, text: sub.textBytes() - before.text };
        assert.ok(live.socket * 4 < live.text, `live: ${live.socket} bytes on the socket for ${live.text} of messages`);

        // Stored events, for a REQ, the same way.
        const mark = { socket: sub.socketBytes(), text: sub.textBytes() };
        sub.send(['REQ', 'stored', { ids: evs.map((e) => e.id) }]);
        await sub.take((m) => m[0] === 'EOSE' && m[1] === 'stored', 'EOSE');
        const stored = [];
        for (const ev of evs) {
            stored.push(await sub.take((m) => m[0] === 'EVENT' && m[1] === 'stored' && m[2].id === ev.id, 'a stored event'));
        }
        assert.deepEqual(stored.map((m) => m[2]), evs);
        const req = { socket: sub.socketBytes() - mark.socket, text: sub.textBytes() - mark.text };
        assert.ok(req.socket * 4 < req.text, `REQ: ${req.socket} bytes on the socket for ${req.text} of messages`);
        await sub.close();
        await pub.close();
        await stopRelayClean(relay);
        relay = null;
    });

    test('plain frames when the client limits the window or the relay has compression off', async () => {
        for (const [config, option, wantExt] of [
            [{}, { serverMaxWindowBits: 10 }, true],
            [{ relay: { compression: false } }, true, false],
        ]) {
            const dir = makeTempDir('deflate-off');
            writeConfig(dir, config);
            relay = await startRelay(dir);
            const c = await open(relay.url, option);
            assert.equal(/permessage-deflate/.test(c.extensions()), wantExt, c.extensions());
            const ev = bigEvent(newKey(), 9);
            c.send(['EVENT', ev]);
            await c.take((m) => m[0] === 'OK', 'OK');
            const mark = { socket: c.socketBytes(), text: c.textBytes() };
            c.send(['REQ', 's', { ids: [ev.id] }]);
            const got = await c.take((m) => m[0] === 'EVENT', 'the event');
            assert.deepEqual(got[2], ev);
            await c.take((m) => m[0] === 'EOSE', 'EOSE');
            assert.ok(c.socketBytes() - mark.socket >= c.textBytes() - mark.text, 'not compressed');
            await c.close();
            await stopRelayClean(relay);
            relay = null;
        }
    });
});
