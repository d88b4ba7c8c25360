// NIP-11: the relay information document, its CORS headers, and the plain
// page served to browsers at the same URL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { httpRequest, makeTempDir, startRelay, stopRelayClean, writeConfig, TEST_TIMEOUT_MS } from './relay.mjs';

const NAME = 'Interop <Test> & Relay';
const LIMITS = {
    max_message_bytes: 100000,
    max_subscriptions: 33,
    max_filters: 7,
    max_limit: 4321,
    default_limit: 123,
    max_event_tags: 1500,
    max_content_bytes: 40000,
    created_at_upper_limit: 900,
};

describe('NIP-11 relay information document', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;

    before(async () => {
        const dir = makeTempDir('nip11');
        writeConfig(dir, {
            relay: { name: NAME, description: 'checks NIP-11', contact: 'mailto:ops@example.org' },
            limits: LIMITS,
        });
        relay = await startRelay(dir);
    });

    after(async () => {
        await stopRelayClean(relay);
    });

    test('GET / with Accept: application/nostr+json returns the document', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        assert.equal(res.status, 200);
        assert.match(res.headers['content-type'], /^application\/(nostr\+)?json/);
        assert.equal(res.headers['access-control-allow-origin'], '*');
        const doc = JSON.parse(res.body);
        assert.equal(doc.name, NAME);
        assert.equal(doc.description, 'checks NIP-11');
        assert.equal(doc.contact, 'mailto:ops@example.org');
        assert.ok(Array.isArray(doc.supported_nips), 'supported_nips is an array');
        assert.ok(doc.supported_nips.every(Number.isInteger), 'supported_nips holds integers');
        assert.ok(doc.supported_nips.includes(1), 'supports NIP-01');
        assert.ok(doc.supported_nips.includes(11), 'supports NIP-11');
        assert.ok(!doc.supported_nips.includes(67), 'NIP-67 is off by default');
        assert.deepEqual([...doc.supported_nips].sort((a, b) => a - b), doc.supported_nips, 'supported_nips is sorted');
        assert.equal(typeof doc.software, 'string');
        assert.ok(doc.software.length > 0);
        assert.equal(typeof doc.version, 'string');
        assert.ok(doc.version.length > 0);
        assert.equal(doc.pubkey, undefined, 'an empty pubkey is left out');
    });

    test('limitation reflects the configuration', async () => {
        const res = await httpRequest(relay.httpUrl, { headers: { Accept: 'application/nostr+json' } });
        const l = JSON.parse(res.body).limitation;
        assert.equal(typeof l, 'object');
        assert.equal(l.max_message_length, LIMITS.max_message_bytes);
        assert.equal(l.max_subscriptions, LIMITS.max_subscriptions);
        assert.equal(l.max_filters, LIMITS.max_filters);
        assert.equal(l.max_limit, LIMITS.max_limit);
        assert.equal(l.max_subid_length, 64);
        assert.equal(l.max_event_tags, LIMITS.max_event_tags);
        assert.equal(l.max_content_length, LIMITS.max_content_bytes);
        assert.equal(l.default_limit, LIMITS.default_limit);
        assert.equal(l.created_at_upper_limit, 900);
        assert.equal(l.created_at_lower_limit, undefined, 'no lower limit is configured');
        assert.equal(l.auth_required, false);
        assert.equal(l.payment_required, false);
    });

    test('Accept header listing several types still gets the document', async () => {
        const res = await httpRequest(relay.httpUrl, {
            headers: { Accept: 'text/html;q=0.5, application/nostr+json' },
        });
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(res.body).name, NAME);
    });

    test('OPTIONS / answers the CORS preflight', async () => {
        const res = await httpRequest(relay.httpUrl, {
            method: 'OPTIONS',
            headers: {
                Origin: 'https://client.example',
                'Access-Control-Request-Method': 'GET',
                'Access-Control-Request-Headers': 'accept',
            },
        });
        assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
        assert.equal(res.headers['access-control-allow-origin'], '*');
        assert.ok(res.headers['access-control-allow-headers'], 'has access-control-allow-headers');
        assert.match(res.headers['access-control-allow-methods'] ?? '', /\bGET\b/);
    });

    test('plain GET / returns an HTML page naming the relay', async () => {
        const res = await httpRequest(relay.httpUrl);
        assert.equal(res.status, 200);
        assert.match(res.headers['content-type'], /^text\/html/);
        // The name is HTML-escaped in the page.
        assert.ok(res.body.includes('Interop &lt;Test&gt; &amp; Relay'), res.body);
        assert.ok(!res.body.includes(NAME), 'the raw name with < & > is not in the page');
    });
});
