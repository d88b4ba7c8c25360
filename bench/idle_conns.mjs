// Memory per idle connection of the real relay: starts a relay on the
// defaults (with [relay] compression as given), measures its RSS, opens N
// WebSocket connections that each hold one REQ, and prints the RSS growth
// per connection. Run from the repository after `make test` (it borrows
// tests/interop's node modules and relay launcher):
//   OSTRICH_BIN=build/release/relay/ostrich node bench/idle_conns.mjs [N] [pmd|plain] [on|off]
// pmd: the clients ask for permessage-deflate (as `ws` and browsers do);
// on|off: the relay's [relay] compression.
import fs from 'node:fs';
import path from 'node:path';

import { makeTempDir, startRelay, writeConfig } from '../tests/interop/relay.mjs';
import { WebSocket } from '../tests/interop/deps.mjs';

// The relay runs in a temporary directory: the binary's path must not be relative.
if (process.env.OSTRICH_BIN) {
    process.env.OSTRICH_BIN = path.resolve(process.env.OSTRICH_BIN);
}
const n = Number(process.argv[2] || 1000);
const isPmd = (process.argv[3] || 'plain') === 'pmd';
const compression = (process.argv[4] || 'on') === 'on';
const dir = makeTempDir('idle-conns');
writeConfig(dir, { relay: { compression } });
const relay = await startRelay(dir);
const rssKiB = () => Number(fs.readFileSync(`/proc/${relay.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
await new Promise((r) => setTimeout(r, 300));
const before = rssKiB();
const socks = [];
for (let i = 0; i < n; i++) {
    const ws = new WebSocket(relay.url, { perMessageDeflate: isPmd });
    await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
    });
    ws.send(JSON.stringify(['REQ', 's', { kinds: [1], limit: 1 }]));
    socks.push(ws);
}
await new Promise((r) => setTimeout(r, 1000));
const after = rssKiB();
console.log(
    `${n} idle connections, one REQ each, clients ${isPmd ? 'asking for' : 'without'} permessage-deflate,` +
        ` relay compression ${compression ? 'on' : 'off'}: RSS ${before} -> ${after} KiB,` +
        ` ${((after - before) / n).toFixed(1)} KiB per connection`
);
for (const s of socks) {
    s.terminate();
}
const res = await relay.stop();
process.exit(res.code === 0 ? 0 : 1);
