// Runs a program (the storage contract suite's OpenSearch run) against the
// stand-in cluster of fake_opensearch.mjs: starts it on a free port, runs
// `node standin_run.mjs PROGRAM ARGS...` with OSTRICH_TEST_OPENSEARCH_URL
// pointing at it, and exits with the program's status. This checks the
// backend's side of every request and response; it says nothing of how a
// real cluster evaluates queries, which only OSTRICH_TEST_OPENSEARCH_URL
// pointing at a real cluster does.
import { spawn } from 'node:child_process';

import { fakeCluster } from './fake_opensearch.mjs';

const [program, ...args] = process.argv.slice(2);
if (!program) {
    console.error('usage: node standin_run.mjs PROGRAM [ARGS...]');
    process.exit(2);
}
const cluster = await fakeCluster(0);
const child = spawn(program, args, {
    stdio: 'inherit',
    env: { ...process.env, OSTRICH_TEST_OPENSEARCH_URL: `http://127.0.0.1:${cluster.port}` },
});
child.on('exit', async (code, signal) => {
    await cluster.close();
    process.exit(signal ? 1 : code);
});
