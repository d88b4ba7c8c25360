// Raw WebSocket frames the relay must refuse without dropping the
// connection: each refusal is asserted with its exact frame type and reason
// prefix, then the same connection must still answer a valid REQ.
import { after, before, beforeEach, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';
import { RawClient, newKey, signed } from './client.mjs';

const HEX = 'ab'.repeat(32);

describe('malformed and refused frames', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    let c;
    let probes = 0;

    // The connection still serves: a REQ gets its EOSE.
    async function stillServes() {
        const sub = `probe-${++probes}`;
        const { events } = await c.query(sub, { ids: [HEX] });
        assert.deepEqual(events, []);
    }

    async function expectNotice(frame, send = (f) => c.send(f)) {
        send(frame);
        const n = await c.takeNotice(`a NOTICE for ${String(frame).slice(0, 60)}`);
        assert.equal(n.msg.length, 2);
        assert.match(n.msg[1], /^invalid: \S/);
        await stillServes();
        return n.msg[1];
    }

    async function expectClosed(subId, frame) {
        c.send(frame);
        const f = await c.take((m) => m[1] === subId, `an answer to ${subId}`);
        assert.equal(f.msg[0], 'CLOSED', f.text);
        assert.equal(f.msg.length, 3);
        assert.match(f.msg[2], /^invalid: \S/);
        await stillServes();
    }

    before(async () => {
        const dir = makeTempDir('frames');
        writeConfig(dir, { limits: { max_message_bytes: 131072 } });
        relay = await startRelay(dir);
    });

    beforeEach(async () => {
        c = await RawClient.open(relay.url);
    });

    afterEach(async () => {
        const left = c.inbox.map((f) => f.text);
        await c.close();
        assert.deepEqual(left, [], 'no unexpected frames');
    });

    after(async () => {
        await stopRelayClean(relay);
    });

    test('malformed JSON gets NOTICE invalid', async () => {
        await expectNotice('["REQ", "x", {');
        await expectNotice('not json at all');
        await expectNotice('');
        await expectNotice('["EVENT", {"id": "1"}] trailing');
    });

    test('a 10,000-deep nested array gets NOTICE invalid', async () => {
        const depth = 10000;
        await expectNotice('['.repeat(depth) + ']'.repeat(depth));
        // Inside a REQ the refusal may name the subscription (CLOSED).
        c.send('["REQ","deep",{"kinds":' + '['.repeat(depth) + ']'.repeat(depth) + '}]');
        const f = await c.take((m) => m[0] === 'NOTICE' || (m[0] === 'CLOSED' && m[1] === 'deep'), 'a refusal');
        assert.match(f.msg[f.msg.length - 1], /^invalid: \S/);
        await stillServes();
    });

    test('a JSON value that is not an array gets NOTICE invalid', async () => {
        await expectNotice('{"REQ":"x"}');
        await expectNotice('"REQ"');
        await expectNotice('[]');
        await expectNotice('[1, 2]');
    });

    test('an unknown message type gets NOTICE invalid', async () => {
        await expectNotice('["HELLO","x"]');
        await expectNotice('["req","x",{}]');
    });

    test('a binary frame gets NOTICE invalid', async () => {
        await expectNotice(Buffer.from('["REQ","bin",{}]'), (b) => c.sendBinary(b));
    });

    test('a message over max_message_bytes gets NOTICE invalid', async () => {
        const big = '["REQ","big",{"#t":["' + 'a'.repeat(140000) + '"]}]';
        await expectNotice(big);
    });

    test('a message split over continuation frames is reassembled', async () => {
        const msg = JSON.stringify(['REQ', 'frag', { ids: [HEX] }]);
        c.sendFragments([msg.slice(0, 3), msg.slice(3, 10), msg.slice(10, 11), msg.slice(11)]);
        assert.deepEqual((await c.collect('frag')).events, []);
        c.send(['CLOSE', 'frag']);
        const ev = signed(newKey(), { content: 'sent in pieces ' + 'p'.repeat(3000) });
        const evMsg = JSON.stringify(['EVENT', ev]);
        const parts = [];
        for (let i = 0; i < evMsg.length; i += 700) parts.push(evMsg.slice(i, i + 700));
        c.sendFragments(parts);
        assert.deepEqual((await c.takeOk(ev.id)).msg, ['OK', ev.id, true, '']);
        await stillServes();
    });

    test('fragments adding up to more than max_message_bytes get NOTICE invalid', async () => {
        const head = '["REQ","fragbig",{"#t":["';
        const parts = [head];
        for (let i = 0; i < 10; i++) parts.push('a'.repeat(20000));
        parts.push('"]}]');
        c.sendFragments(parts);
        const n = await c.takeNotice();
        assert.match(n.msg[1], /^invalid: \S/);
        assert.deepEqual(c.unread('fragbig'), []);
        await stillServes();
    });

    test('a binary message in fragments gets one NOTICE invalid', async () => {
        c.sendFragments([Buffer.from('["REQ",'), Buffer.from('"b",{}]')], { binary: true });
        assert.match((await c.takeNotice()).msg[1], /^invalid: \S/);
        await stillServes();
    });

    test('EVENT whose payload is not an event object gets NOTICE invalid', async () => {
        await expectNotice('["EVENT"]');
        await expectNotice('["EVENT", 1]');
        await expectNotice('["EVENT", "x"]');
    });

    test('an EVENT with a readable id but a missing field gets OK false invalid', async () => {
        const ev = signed(newKey(), { content: 'no sig' });
        const { sig, ...noSig } = ev;
        assert.ok(sig);
        c.send(['EVENT', noSig]);
        const f = await c.take((m) => m[0] === 'OK' || m[0] === 'NOTICE', 'OK or NOTICE');
        if (f.msg[0] === 'OK') {
            assert.deepEqual(f.msg.slice(0, 3), ['OK', ev.id, false]);
            assert.match(f.msg[3], /^invalid: \S/);
        } else {
            assert.match(f.msg[1], /^invalid: \S/);
        }
        await stillServes();
    });

    test('REQ with an id that is not 64 hex characters is CLOSED invalid', async () => {
        await expectClosed('bad-ids', ['REQ', 'bad-ids', { ids: ['abc'] }]);
        await expectClosed('upper-ids', ['REQ', 'upper-ids', { ids: [HEX.toUpperCase()] }]);
        await expectClosed('short-ids', ['REQ', 'short-ids', { ids: [HEX.slice(1)] }]);
        await expectClosed('num-ids', ['REQ', 'num-ids', { ids: [1] }]);
        await expectClosed('str-ids', ['REQ', 'str-ids', { ids: HEX }]);
    });

    test('REQ with bad authors is CLOSED invalid', async () => {
        await expectClosed('upper-authors', ['REQ', 'upper-authors', { authors: [HEX.toUpperCase()] }]);
        await expectClosed('long-authors', ['REQ', 'long-authors', { authors: [HEX + '00'] }]);
    });

    test('REQ with bad kinds, since, until or limit is CLOSED invalid', async () => {
        await expectClosed('kinds-x', ['REQ', 'kinds-x', { kinds: ['x'] }]);
        await expectClosed('kinds-neg', ['REQ', 'kinds-neg', { kinds: [-1] }]);
        await expectClosed('kinds-big', ['REQ', 'kinds-big', { kinds: [65536] }]);
        await expectClosed('kinds-frac', ['REQ', 'kinds-frac', { kinds: [1.5] }]);
        await expectClosed('since-str', ['REQ', 'since-str', { since: '100' }]);
        await expectClosed('until-neg', ['REQ', 'until-neg', { until: -5 }]);
        await expectClosed('limit-neg', ['REQ', 'limit-neg', { limit: -1 }]);
    });

    test('REQ with a tag filter that is not an array of strings is CLOSED invalid', async () => {
        await expectClosed('tag-num', ['REQ', 'tag-num', { '#t': [1] }]);
        await expectClosed('tag-str', ['REQ', 'tag-str', { '#t': 'x' }]);
    });

    test('REQ with a filter that is not an object is CLOSED invalid', async () => {
        await expectClosed('filter-arr', ['REQ', 'filter-arr', [1]]);
        await expectClosed('filter-str', ['REQ', 'filter-str', 'x']);
    });

    test('REQ with no filter is refused', async () => {
        c.send(['REQ', 'nofilter']);
        const f = await c.take((m) => m[0] === 'CLOSED' || m[0] === 'NOTICE', 'CLOSED or NOTICE');
        assert.match(f.msg[f.msg.length - 1], /^invalid: \S/);
        if (f.msg[0] === 'CLOSED') {
            assert.equal(f.msg[1], 'nofilter');
        }
        await stillServes();
    });

    test('a subscription id of 64 characters is served, 65 is refused as invalid', async () => {
        const id64 = 's'.repeat(64);
        const { events } = await c.query(id64, { ids: [HEX] });
        assert.deepEqual(events, []);
        const id65 = 's'.repeat(65);
        c.send(['REQ', id65, { ids: [HEX] }]);
        const f = await c.take((m) => m[0] === 'NOTICE' || m[0] === 'CLOSED' || m[0] === 'EOSE', 'a refusal');
        assert.notEqual(f.msg[0], 'EOSE', 'a 65-character subscription id must not be served');
        assert.match(f.msg[f.msg.length - 1], /^invalid: \S/);
        await stillServes();
    });

    test('by default EOSE has exactly two elements (the NIP-67 hint is off)', async () => {
        const { eose } = await c.query('plain-eose', { ids: [HEX] });
        assert.deepEqual(eose, ['EOSE', 'plain-eose']);
    });

    test('the 64-character limit counts characters, not UTF-8 bytes', async () => {
        // NIP-01: "max length 64 chars". 'é' is one character, two bytes.
        const id64 = 'é'.repeat(64);
        c.send(['REQ', id64, { ids: [HEX] }]);
        const f = await c.take((m) => m[1] === id64 || m[0] === 'NOTICE', `an answer to a 64-character id`);
        assert.deepEqual(f.msg.slice(0, 2), ['EOSE', id64], `a 64-character id is served: got ${f.text}`);
        c.send(['CLOSE', id64]);
        const id65 = 'é'.repeat(65);
        c.send(['REQ', id65, { ids: [HEX] }]);
        const g = await c.take((m) => m[0] === 'NOTICE' || m[0] === 'CLOSED' || m[0] === 'EOSE', 'a refusal');
        assert.notEqual(g.msg[0], 'EOSE', 'a 65-character subscription id must not be served');
        assert.match(g.msg[g.msg.length - 1], /^invalid: \S/);
        await stillServes();
    });

    test('a subscription id with quotes, backslashes and control characters is echoed exactly', async () => {
        const id = 'q"\\/é\n\t\u0001 🦚';
        const { events } = await c.query(id, { ids: [HEX] });
        assert.deepEqual(events, []);
        await stillServes();
    });

    test('an empty or non-string subscription id is refused as invalid', async () => {
        for (const bad of ['', 5, null]) {
            c.send(['REQ', bad, { ids: [HEX] }]);
            const f = await c.take((m) => m[0] === 'NOTICE' || m[0] === 'CLOSED' || m[0] === 'EOSE', 'a refusal');
            assert.notEqual(f.msg[0], 'EOSE', `subscription id ${JSON.stringify(bad)} must not be served`);
            assert.match(f.msg[f.msg.length - 1], /^invalid: \S/);
        }
        await stillServes();
    });

    test('CLOSE of an unknown subscription is harmless', async () => {
        c.send(['CLOSE', 'never-opened']);
        await stillServes();
    });

    test('many refusals in a row leave the connection usable', async () => {
        for (let i = 0; i < 50; i++) {
            c.send(`{bad ${i}`);
        }
        for (let i = 0; i < 50; i++) {
            const n = await c.takeNotice();
            assert.match(n.msg[1], /^invalid: \S/);
        }
        await stillServes();
    });
});
