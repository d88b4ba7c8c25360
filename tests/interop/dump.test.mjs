// `ostrich import` and `ostrich export` on the real binary: export a
// relay's store (stopped, and running), re-import it into a fresh store and
// compare; the exact summary of an import with good, duplicate, invalid and
// malformed lines; standard input and output; an import into the SQLite
// file of a running relay, whose REQs then find the events; --filter; and
// paging through many events of one second without losing or repeating any.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
    DEADLINE_MS,
    TEST_TIMEOUT_MS,
    makeTempDir,
    relayBinary,
    startRelay,
    stopRelayClean,
    writeConfig,
} from './relay.mjs';
import { RawClient, closeAll, expectedFor, ids, newKey, newestFirst, nowSec, signed } from './client.mjs';

// Runs `ostrich ...args` to its end; resolves { code, signal, stdout,
// stderr }. input, when given, is written to its standard input.
function ostrich(args, { input } = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(relayBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8');
        child.stdout.on('data', (d) => {
            stdout += d;
        });
        child.stderr.on('data', (d) => {
            stderr += d;
        });
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`ostrich ${args.join(' ')} did not finish within ${DEADLINE_MS} ms:\n${stderr}`));
        }, DEADLINE_MS);
        child.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
        child.stdin.on('error', () => {}); // the binary may exit before reading it all
        child.stdin.end(input ?? '');
    });
}

const configOf = (dir) => path.join(dir, 'ostrich.toml');

// A fresh store: a directory with a config whose SQLite file is inside it.
function freshStore(tag, opts = {}) {
    const dir = makeTempDir(tag);
    writeConfig(dir, opts);
    return dir;
}

function jsonl(events) {
    return events.map((e) => `${typeof e === 'string' ? e : JSON.stringify(e)}\n`).join('');
}

function parseLines(text) {
    assert.ok(text === '' || text.endsWith('\n'), 'output ends with a newline');
    return text === '' ? [] : text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
}

// Every stored event of the relay at url, via REQ (newest first).
async function reqAll(url, filter = {}) {
    const c = await RawClient.open(url);
    try {
        return (await c.query('all', { ...filter, limit: 5000 })).events;
    } finally {
        await c.close();
    }
}

function summary(n, a, d, r) {
    return `imported ${n} events: ${a} accepted, ${d} duplicates, ${r} rejected`;
}

describe('ostrich import and export', { timeout: TEST_TIMEOUT_MS }, () => {
    let relay;
    after(async () => {
        await relay?.stop();
    });

    test('export a store, re-import it into a fresh one, and get the same events', async () => {
        const src = freshStore('dump-src');
        const key = newKey();
        const other = newKey();
        const t = nowSec() - 500;
        const notes = Array.from({ length: 30 }, (_, i) =>
            signed(i % 3 ? key : other, { created_at: t + (i % 10), content: `note ${i}` })
        );
        const profileOld = signed(key, { kind: 0, created_at: t, content: '{"name":"old"}' });
        const profileNew = signed(key, { kind: 0, created_at: t + 5, content: '{"name":"new"}' });
        const article = signed(key, { kind: 30023, created_at: t, tags: [['d', 'a1']], content: 'article' });
        const expiring = signed(key, { created_at: t, tags: [['expiration', String(nowSec() + 3600)]], content: 'soon gone' });
        const doomed = signed(key, { created_at: t, content: 'to be deleted' });
        const deletion = signed(key, { kind: 5, created_at: t + 1, tags: [['e', doomed.id]] });
        // Sent with line breaks between its tokens, which the store keeps:
        // the export must still write it on one line.
        const pretty = signed(other, { created_at: t + 2, content: 'pretty\nprinted' });

        relay = await startRelay(src);
        const c = await RawClient.open(relay.url);
        for (const e of [...notes, profileOld, profileNew, article, expiring, doomed, deletion]) {
            assert.deepEqual(await c.publish(e), [true, ''], `publish ${e.content}`);
        }
        assert.deepEqual(await c.publish(JSON.stringify(pretty, null, 2)), [true, '']);
        await c.close();
        const stored = await reqAll(relay.url);
        assert.equal(stored.length, 30 + 5); // notes, profileNew, article, expiring, deletion, pretty
        assert.ok(!ids(stored).includes(doomed.id) && !ids(stored).includes(profileOld.id));

        // While the relay runs (SQLite WAL: a reader beside the writer).
        const live = await ostrich(['export', '--config', configOf(src)]);
        assert.equal(live.code, 0, live.stderr);
        assert.equal(live.stderr, `exported ${stored.length} events\n`);
        assert.deepEqual(parseLines(live.stdout), stored, 'export while running = REQ, newest first');
        await stopRelayClean(relay);
        relay = undefined;

        const file = path.join(src, 'export.jsonl');
        const exp = await ostrich(['export', '--config', configOf(src), file]);
        assert.equal(exp.code, 0, exp.stderr);
        assert.equal(exp.stdout, '');
        const text = fs.readFileSync(file, 'utf8');
        assert.equal(text, live.stdout, 'the stopped store exports the same lines');
        assert.equal(text.split('\n').length, stored.length + 1, 'one line per event');
        assert.deepEqual(parseLines(text).map((e) => e.id).includes(pretty.id), true);

        const dst = freshStore('dump-dst');
        const imp = await ostrich(['import', '--config', configOf(dst), file]);
        assert.equal(imp.code, 0, imp.stderr);
        assert.equal(imp.stderr, `${summary(stored.length, stored.length, 0, 0)}\n`);
        const again = await ostrich(['export', '--config', configOf(dst)]);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.stdout, text, 'the re-imported store exports byte for byte the same');

        // The deletion came along with its request: the deleted event and
        // the older profile stay out of the new store too.
        const late = await ostrich(['import', '--config', configOf(dst), '-'], {
            input: jsonl([doomed, profileOld, profileNew]),
        });
        assert.equal(late.code, 0, late.stderr);
        assert.equal(
            late.stderr,
            `${summary(3, 0, 2, 1)}\n` +
                '  1 rejected: blocked: this event was deleted by its author\n' +
                '  line 1: blocked: this event was deleted by its author\n'
        );

        relay = await startRelay(dst);
        assert.deepEqual(await reqAll(relay.url), stored, 'REQ on the new store');
        await stopRelayClean(relay);
        relay = undefined;
    });

    test('an import reports each line: accepted, duplicate, rejected and why', async () => {
        const dir = freshStore('dump-mixed', { limits: { max_message_bytes: 2048 } });
        const key = newKey();
        const t = nowSec() - 100;
        const [e1, e2, e3, e4, e5] = [1, 2, 3, 4, 5].map((i) => signed(key, { created_at: t + i, content: `ok ${i}` }));
        const badSig = { ...signed(key, { created_at: t, content: 'forged' }) };
        badSig.sig = (badSig.sig[0] === '0' ? '1' : '0') + badSig.sig.slice(1);
        const expired = signed(key, { created_at: t, tags: [['expiration', String(t + 10)]], content: 'expired' });
        const ephemeral = signed(key, { kind: 20001, created_at: t, content: 'ephemeral' });
        const huge = signed(key, { created_at: t, content: 'x'.repeat(3000) });

        // e5 is stored already, so importing it again is a duplicate.
        const pre = await ostrich(['import', '--config', configOf(dir)], { input: jsonl([e5]) });
        assert.equal(pre.code, 0, pre.stderr);
        assert.equal(pre.stderr, `${summary(1, 1, 0, 0)}\n`);

        const lines = [
            JSON.stringify(e1), // 1
            '', // 2: blank lines are skipped
            `${JSON.stringify(e2)}\r`, // 3: CRLF
            JSON.stringify(badSig), // 4
            JSON.stringify(e1), // 5: duplicate in the same file
            '{"content": "cut short"', // 6
            '   ', // 7
            JSON.stringify(expired), // 8
            '{"kind": 1,', // 9
            JSON.stringify(ephemeral), // 10
            JSON.stringify(e5), // 11: duplicate of the store
            JSON.stringify(huge), // 12: over max_message_bytes
            JSON.stringify(e3), // 13
            JSON.stringify(e4), // 14: no newline at the end
        ];
        const res = await ostrich(['import', '--config', configOf(dir), '-'], { input: lines.join('\n') });
        assert.equal(res.code, 0, `rejections are not failures\n${res.stderr}`);
        const want = [
            summary(12, 4, 2, 6),
            // Most frequent first, then in byte order.
            '  2 rejected: invalid: malformed event JSON',
            '  1 rejected: invalid: event has expired',
            "  1 rejected: invalid: line longer than the relay's max_message_bytes limit",
            '  1 rejected: invalid: signature does not verify',
            '  1 rejected: unsupported: ephemeral events are not stored',
            // The first five rejected lines, by line number.
            '  line 4: invalid: signature does not verify',
            '  line 6: invalid: malformed event JSON',
            '  line 8: invalid: event has expired',
            '  line 9: invalid: malformed event JSON',
            '  line 10: unsupported: ephemeral events are not stored',
        ];
        assert.equal(res.stderr, `${want.join('\n')}\n`);

        relay = await startRelay(dir);
        assert.deepEqual(ids(await reqAll(relay.url)), ids([e5, e4, e3, e2, e1]));
        await stopRelayClean(relay);
        relay = undefined;
    });

    test('import and export use standard input and output, and fail on I/O errors', async () => {
        const dir = freshStore('dump-std');
        const key = newKey();
        const evs = Array.from({ length: 5 }, (_, i) => signed(key, { created_at: nowSec() - 10 - i, content: `std ${i}` }));
        const imp = await ostrich(['import', '--config', configOf(dir)], { input: jsonl(evs) });
        assert.equal(imp.code, 0, imp.stderr);
        assert.equal(imp.stderr, `${summary(5, 5, 0, 0)}\n`);
        for (const args of [['export', '--config', configOf(dir)], ['export', '-', '--config', configOf(dir)]]) {
            const exp = await ostrich(args);
            assert.equal(exp.code, 0, exp.stderr);
            assert.deepEqual(parseLines(exp.stdout), [...evs].sort(newestFirst));
            assert.equal(exp.stderr, 'exported 5 events\n');
        }
        const empty = await ostrich(['import', '--config', configOf(dir), '-'], { input: '' });
        assert.equal(empty.code, 0, empty.stderr);
        assert.equal(empty.stderr, `${summary(0, 0, 0, 0)}\n`);

        const missing = await ostrich(['import', '--config', configOf(dir), path.join(dir, 'nope.jsonl')]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /nope\.jsonl: No such file or directory/);
        const unwritable = await ostrich(['export', '--config', configOf(dir), path.join(dir, 'no', 'such', 'dir')]);
        assert.equal(unwritable.code, 1);
        assert.match(unwritable.stderr, /No such file or directory/);
        const usage = await ostrich(['import', '--config', configOf(dir), 'a', 'b']);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /unknown or incomplete argument: b/);
    });

    test('import into the database of a running relay; its REQs find the events', async () => {
        const dir = freshStore('dump-live');
        relay = await startRelay(dir);
        const key = newKey();
        const writer = newKey();
        const base = nowSec() - 3000;
        const imported = Array.from({ length: 600 }, (_, i) => signed(key, { created_at: base + i, content: `imported ${i}` }));
        const published = Array.from({ length: 100 }, (_, i) => signed(writer, { created_at: base + i, content: `published ${i}` }));
        const c = await RawClient.open(relay.url);
        // Both write at once: the relay's storage thread and the import's.
        const [imp, oks] = await Promise.all([
            ostrich(['import', '--config', configOf(dir)], { input: jsonl(imported) }),
            Promise.all(published.map((e) => c.publish(e))),
        ]);
        assert.equal(imp.code, 0, imp.stderr);
        assert.equal(imp.stderr, `${summary(600, 600, 0, 0)}\n`);
        assert.deepEqual(oks, published.map(() => [true, '']));
        assert.deepEqual(ids(await reqAll(relay.url, { authors: [key.pk] })), ids([...imported].sort(newestFirst)));
        assert.deepEqual(ids(await reqAll(relay.url, { authors: [writer.pk] })), ids([...published].sort(newestFirst)));
        // The relay still refuses what the import stored, as duplicates.
        assert.deepEqual(await c.publish(imported[0]), [true, 'duplicate: already have this event']);
        await closeAll(c);
        await stopRelayClean(relay);
        relay = undefined;
    });

    test('--filter exports what a REQ with that filter matches; search is refused', async () => {
        const dir = freshStore('dump-filter');
        const [a, b] = [newKey(), newKey()];
        const t = nowSec() - 1000;
        const evs = [];
        for (let i = 0; i < 40; i++) {
            const k = i % 2 ? a : b;
            evs.push(signed(k, { kind: i % 4 < 2 ? 1 : 7, created_at: t + (i % 8), tags: i % 5 ? [] : [['t', 'five']], content: `f ${i}` }));
        }
        const imp = await ostrich(['import', '--config', configOf(dir)], { input: jsonl(evs) });
        assert.equal(imp.code, 0, imp.stderr);
        const cases = [
            { authors: [a.pk], kinds: [1] },
            { '#t': ['five'] },
            { since: t + 2, until: t + 5 },
            { authors: [b.pk], limit: 3 },
            { until: t + 3, limit: 7 },
            { kinds: [9] },
        ];
        for (const f of cases) {
            const res = await ostrich(['export', '--config', configOf(dir), '--filter', JSON.stringify(f)]);
            assert.equal(res.code, 0, res.stderr);
            const want = expectedFor(f, evs);
            assert.deepEqual(parseLines(res.stdout), want, `--filter ${JSON.stringify(f)}`);
            assert.equal(res.stderr, `exported ${want.length} events\n`);
        }
        const search = await ostrich(['export', '--config', configOf(dir), '--filter', '{"search":"f"}']);
        assert.equal(search.code, 1);
        assert.match(search.stderr, /^ostrich export: --filter: unsupported: "search"/);
        const bad = await ostrich(['export', '--config', configOf(dir), '--filter', '{"kinds":"1"}']);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /^ostrich export: --filter: invalid: /);
        assert.equal(bad.stdout, '');
    });

    test('export pages through many events of one second without losing or repeating any', async () => {
        const dir = freshStore('dump-pages');
        const key = newKey();
        const t = nowSec() - 100;
        // Pages hold 1000 events. The first ends inside second t (400 of
        // t + 1, then 600 of t); the second holds only events of t, so that
        // second is written whole; the rest ends pages inside seconds too.
        const evs = [];
        for (let i = 0; i < 400; i++) evs.push(signed(key, { created_at: t + 1, content: `later ${i}` }));
        for (let i = 0; i < 1200; i++) evs.push(signed(key, { created_at: t, content: `same ${i}` }));
        for (let i = 0; i < 900; i++) evs.push(signed(key, { created_at: t - 1 - (i % 3), content: `near ${i}` }));
        const imp = await ostrich(['import', '--config', configOf(dir)], { input: jsonl(evs) });
        assert.equal(imp.code, 0, imp.stderr);
        assert.equal(imp.stderr, `${summary(2500, 2500, 0, 0)}\n`);
        const res = await ostrich(['export', '--config', configOf(dir)]);
        assert.equal(res.code, 0, res.stderr);
        const got = parseLines(res.stdout);
        assert.equal(got.length, evs.length);
        assert.deepEqual(ids(got), ids([...evs].sort(newestFirst)), 'every event once, newest first');
        // A limit that runs out inside the second written whole.
        const limited = await ostrich(['export', '--config', configOf(dir), '--filter', '{"limit":1500}']);
        assert.equal(limited.code, 0, limited.stderr);
        assert.deepEqual(ids(parseLines(limited.stdout)), ids([...evs].sort(newestFirst).slice(0, 1500)));
    });
});
