// The relay's log lines on stderr in each [log] format: with "json" every
// line is one JSON object with ts, level, thread and msg (conn and addr on
// connection lines); with "logfmt" every line is key=value pairs with the
// same keys; "text" keeps its columns. At info level the log holds no
// event contents and no AUTH challenge.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { TEST_TIMEOUT_MS, makeTempDir, startRelay, stopRelayClean, writeConfig } from './relay.mjs';
import { RawClient, newKey, signed } from './client.mjs';

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LEVELS = ['error', 'warn', 'info', 'debug'];

// A config from writeConfig with [log] format set.
function configWithFormat(dir, format, opts) {
    const file = writeConfig(dir, opts);
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.includes('\n[log]\n'), 'writeConfig writes a [log] table');
    fs.writeFileSync(file, text.replace('\n[log]\n', `\n[log]\nformat = ${JSON.stringify(format)}\n`));
    return file;
}

// Runs a relay with some traffic: connections, an event, a query, bad
// input, then SIGTERM. Returns its stderr lines.
async function exercise(dir, content = 'hello from the log test') {
    const relay = await startRelay(dir);
    try {
        const c = await RawClient.open(relay.url);
        const key = newKey();
        const ev = signed(key, { content });
        assert.deepEqual(await c.publish(ev), [true, '']);
        await c.query('q', { ids: [ev.id] });
        c.send('["EVENT", not json]');
        await c.takeNotice();
        const challenge = await c.challenge();
        await c.close();
        await stopRelayClean(relay);
        return { lines: relay.stderr().split('\n').filter((l) => l !== ''), challenge, raw: relay.stderr() };
    } catch (err) {
        await relay.stop();
        throw err;
    }
}

// Parses one logfmt line into [key, value] pairs: bare values run to the
// next space; quoted ones use JSON's escapes. Throws on anything else.
function parseLogfmt(line) {
    const pairs = [];
    let i = 0;
    while (i < line.length) {
        const eq = line.indexOf('=', i);
        assert.ok(eq > i, `a key at column ${i}: ${line}`);
        const key = line.slice(i, eq);
        assert.match(key, /^[a-z_]+$/, `key ${key}`);
        i = eq + 1;
        let value;
        if (line[i] === '"') {
            let j = i + 1;
            while (j < line.length && line[j] !== '"') {
                j += line[j] === '\\' ? 2 : 1;
            }
            assert.ok(j < line.length, `a closing quote: ${line}`);
            value = JSON.parse(line.slice(i, j + 1));
            i = j + 1;
        } else {
            const sp = line.indexOf(' ', i);
            const end = sp < 0 ? line.length : sp;
            value = line.slice(i, end);
            assert.ok(!/["=]/.test(value), `a bare value without quotes or '=': ${value}`);
            i = end;
        }
        pairs.push([key, value]);
        if (i < line.length) {
            assert.equal(line[i], ' ', `a space between pairs: ${line}`);
            i++;
        }
    }
    return pairs;
}

describe('log formats', { timeout: TEST_TIMEOUT_MS }, () => {
    test('[log] format = "json": every stderr line is a JSON object with the fields', async () => {
        const dir = makeTempDir('logs-json');
        configWithFormat(dir, 'json', { logLevel: 'debug' });
        const { lines } = await exercise(dir);
        assert.ok(lines.length >= 4, `some lines were logged:\n${lines.join('\n')}`);
        let nConn = 0;
        for (const line of lines) {
            const o = JSON.parse(line);
            const keys = Object.keys(o);
            assert.deepEqual(keys.slice(0, 3), ['ts', 'level', 'thread'], line);
            assert.equal(keys[keys.length - 1], 'msg', line);
            assert.match(o.ts, TS);
            assert.ok(LEVELS.includes(o.level), line);
            assert.equal(typeof o.thread, 'string');
            assert.equal(typeof o.msg, 'string');
            if ('conn' in o) {
                nConn++;
                assert.ok(Number.isSafeInteger(o.conn) && o.conn > 0, line);
                assert.equal(o.addr, '127.0.0.1', line);
            }
            assert.deepEqual(keys.filter((k) => !['ts', 'level', 'thread', 'conn', 'addr', 'msg'].includes(k)), []);
        }
        assert.ok(lines.some((l) => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(JSON.parse(l).msg)));
        assert.ok(lines.some((l) => JSON.parse(l).thread === 'ost-io'));
        assert.ok(nConn >= 2, `connection lines carry conn and addr (connected, closed):\n${lines.join('\n')}`);
    });

    test('[log] format = "logfmt": every stderr line is key=value pairs', async () => {
        const dir = makeTempDir('logs-logfmt');
        configWithFormat(dir, 'logfmt', { logLevel: 'debug' });
        const { lines } = await exercise(dir);
        assert.ok(lines.length >= 4);
        let nConn = 0;
        for (const line of lines) {
            const pairs = parseLogfmt(line);
            const keys = pairs.map(([k]) => k);
            const o = Object.fromEntries(pairs);
            assert.deepEqual(keys.slice(0, 3), ['ts', 'level', 'thread'], line);
            assert.equal(keys[keys.length - 1], 'msg', line);
            assert.match(o.ts, TS);
            assert.ok(LEVELS.includes(o.level), line);
            if ('conn' in o) {
                nConn++;
                assert.match(o.conn, /^[1-9]\d*$/, line);
                assert.equal(o.addr, '127.0.0.1', line);
            }
        }
        assert.ok(lines.some((l) => /^ts=\S+ level=info thread=ost-io msg="ostrich .* listening on ws:/.test(l)));
        assert.ok(nConn >= 2, `connection lines carry conn and addr:\n${lines.join('\n')}`);
    });

    test('text lines keep their columns; info level shows no event content or challenge', async () => {
        const dir = makeTempDir('logs-text');
        writeConfig(dir, { logLevel: 'info' });
        const content = `private note ${Math.random()}`;
        const { lines, challenge, raw } = await exercise(dir, content);
        for (const line of lines) {
            assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO ) \S+ +\S/, line);
        }
        assert.ok(!raw.includes(content), 'no event content at info level');
        assert.ok(!raw.includes(challenge), 'no AUTH challenge at info level');
    });
});
