// The npm dependencies, loaded so that a missing node_modules fails every
// test file with one clear instruction instead of a module resolution error.
async function load(name) {
    try {
        return await import(name);
    } catch (err) {
        if (err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND')) {
            throw new Error(
                `the interop tests need their npm dependencies (${name} is missing): ` +
                    'run `npm ci` in tests/interop'
            );
        }
        throw err;
    }
}

const wsModule = await load('ws');
export const WebSocket = wsModule.WebSocket ?? wsModule.default;
export const pure = await load('nostr-tools/pure');
export const relayModule = await load('nostr-tools/relay');
export const filterModule = await load('nostr-tools/filter');

// Other client libraries, each exercised by clients.test.mjs.
export const ndkModule = await load('@nostr-dev-kit/ndk');
export const rxNostr = await load('rx-nostr');
export const rxNostrCrypto = await load('rx-nostr-crypto');
export const rxjs = await load('rxjs');
export const nostrify = await load('@nostrify/nostrify');
export const applesauceRelay = await load('applesauce-relay');
