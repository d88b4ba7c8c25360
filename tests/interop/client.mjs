// Client-side helpers for the interop tests: a raw WebSocket client that
// keeps every frame the relay sends (text and parsed) and waits on them
// with deadlines, nostr-tools connections tuned for a slow relay, event
// construction, and a naive NIP-01 filter matcher used as the reference.
import { DEADLINE_MS } from './relay.mjs';
import { WebSocket, pure, relayModule } from './deps.mjs';

export const { generateSecretKey, getPublicKey, finalizeEvent, getEventHash, verifyEvent } = pure;

// A WebSocket class for nostr-tools that trusts one extra CA (the test's
// self-signed certificate), since nostr-tools constructs sockets itself.
export function webSocketTrusting(ca) {
    return class extends WebSocket {
        constructor(url, protocols) {
            super(url, protocols, { ca });
        }
    };
}

// nostr-tools' Relay over `ws`, with its 4.4 s EOSE and publish timers
// raised to the test deadline: the sanitizer build may be slower than that,
// and a synthetic EOSE would hide the real order of frames.
export async function connectNostrTools(url, { ca } = {}) {
    const websocketImplementation = ca ? webSocketTrusting(ca) : WebSocket;
    const relay = new relayModule.Relay(url, { websocketImplementation });
    relay.baseEoseTimeout = DEADLINE_MS;
    relay.publishTimeout = DEADLINE_MS;
    relay.notices = [];
    relay.onnotice = (msg) => relay.notices.push(msg);
    await relay.connect({ timeout: DEADLINE_MS });
    return relay;
}

// Publishes with nostr-tools and returns [accepted, message] instead of a
// resolved or rejected promise, so tests can assert on both the same way.
export async function ntPublish(relay, event) {
    try {
        return [true, await relay.publish(event)];
    } catch (err) {
        return [false, err.message];
    }
}

export function newKey() {
    const sk = generateSecretKey();
    return { sk, pk: getPublicKey(sk) };
}

export function nowSec() {
    return Math.floor(Date.now() / 1000);
}

// A signed event; the template fields default to a kind 1 note made now.
// It is a plain object, without the marker nostr-tools adds, so that it
// compares equal to the same event parsed from a relay's frame.
export function signed(key, { kind = 1, created_at = nowSec(), tags = [], content = '' } = {}) {
    const ev = finalizeEvent({ kind, created_at, tags, content }, key.sk);
    return {
        kind: ev.kind,
        created_at: ev.created_at,
        tags: ev.tags,
        content: ev.content,
        pubkey: ev.pubkey,
        id: ev.id,
        sig: ev.sig,
    };
}

// NIP-01 matching, written out plainly as the reference the relay is
// compared with. `limit` is not a matching condition.
export function matches(filter, ev) {
    if (filter.ids && !filter.ids.includes(ev.id)) return false;
    if (filter.authors && !filter.authors.includes(ev.pubkey)) return false;
    if (filter.kinds && !filter.kinds.includes(ev.kind)) return false;
    if (filter.since !== undefined && ev.created_at < filter.since) return false;
    if (filter.until !== undefined && ev.created_at > filter.until) return false;
    for (const [key, values] of Object.entries(filter)) {
        if (key[0] !== '#') continue;
        const name = key.slice(1);
        const has = ev.tags.some((t) => t[0] === name && t.length > 1 && values.includes(t[1]));
        if (!has) return false;
    }
    return true;
}

// NIP-01 order for a limited query: newest first, then lowest id first.
export function newestFirst(a, b) {
    if (a.created_at !== b.created_at) return b.created_at - a.created_at;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

// What one filter should return from `events`: every match, or the newest
// `limit` of them in NIP-01 order.
export function expectedFor(filter, events) {
    const hit = events.filter((e) => matches(filter, e)).sort(newestFirst);
    return filter.limit === undefined ? hit : hit.slice(0, filter.limit);
}

function describe(frame) {
    return frame.text.length > 300 ? `${frame.text.slice(0, 300)}...` : frame.text;
}

// A WebSocket client speaking raw frames. Every frame received is kept in
// `inbox` (as { text, msg, binary }) until a take() consumes it, so tests
// can both wait for a frame and assert that no other frame arrived. The
// relay's NIP-42 ["AUTH", challenge] is the exception: it goes to
// `challenges` (and `log`), not the inbox, since every connection gets one.
export class RawClient {
    constructor(ws) {
        this.ws = ws;
        this.inbox = [];
        this.log = [];
        this.waiters = [];
        this.closed = null;
        this.challenges = [];
        ws.on('message', (data, isBinary) => {
            const text = data.toString('utf8');
            let msg;
            try {
                msg = JSON.parse(text);
            } catch {
                msg = undefined;
            }
            const frame = { text, msg, binary: isBinary };
            if (Array.isArray(msg) && msg[0] === 'AUTH' && typeof msg[1] === 'string') {
                this.challenges.push(msg[1]);
            } else {
                this.inbox.push(frame);
            }
            this.log.push(frame);
            this.wake();
        });
        ws.on('close', (code, reason) => {
            this.closed = { code, reason: reason.toString() };
            this.wake();
        });
        ws.on('error', (err) => {
            this.error = err;
            this.wake();
        });
    }

    // perMessageDeflate as `ws` takes it: on by default, as in browsers.
    static open(url, { ca, deadlineMs = DEADLINE_MS, maxPayload, perMessageDeflate = true } = {}) {
        return new Promise((resolve, reject) => {
            const ws = new WebSocket(url, { ca, maxPayload: maxPayload ?? 64 * 1024 * 1024, perMessageDeflate });
            const timer = setTimeout(() => {
                ws.terminate();
                reject(new Error(`could not connect to ${url} within ${deadlineMs} ms`));
            }, deadlineMs);
            ws.once('open', () => {
                clearTimeout(timer);
                resolve(new RawClient(ws));
            });
            ws.once('error', (err) => {
                clearTimeout(timer);
                reject(err);
            });
        });
    }

    wake() {
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w();
    }

    // Sends an array (as JSON) or a string exactly as given.
    send(msg) {
        this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
    }

    sendBinary(bytes) {
        this.ws.send(bytes, { binary: true });
    }

    // Sends one message as several WebSocket frames (a first frame, then
    // continuation frames), split into the given parts.
    sendFragments(parts, { binary = false } = {}) {
        parts.forEach((p, i) => this.ws.send(p, { binary, fin: i === parts.length - 1 }));
    }

    // Resolves with the first frame in the inbox that satisfies pred and
    // removes it; waits for more frames until the deadline.
    async take(pred, what = 'a frame', deadlineMs = DEADLINE_MS) {
        const deadline = Date.now() + deadlineMs;
        for (;;) {
            const i = this.inbox.findIndex((f) => f.msg !== undefined && pred(f.msg, f));
            if (i >= 0) {
                return this.inbox.splice(i, 1)[0];
            }
            if (this.closed) {
                throw new Error(
                    `connection closed (code ${this.closed.code}) while waiting for ${what}; ` +
                        `unread frames: ${this.inbox.map(describe).join(' | ') || 'none'}`
                );
            }
            const left = deadline - Date.now();
            if (left <= 0) {
                throw new Error(
                    `no ${what} within ${deadlineMs} ms; unread frames: ` +
                        `${this.inbox.map(describe).join(' | ') || 'none'}`
                );
            }
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, left);
                this.waiters.push(() => {
                    clearTimeout(timer);
                    resolve();
                });
            });
        }
    }

    // The latest NIP-42 challenge, waiting for the first one to arrive.
    async challenge(deadlineMs = DEADLINE_MS) {
        const deadline = Date.now() + deadlineMs;
        while (this.challenges.length === 0) {
            const left = deadline - Date.now();
            if (left <= 0 || this.closed) {
                throw new Error(`no AUTH challenge within ${deadlineMs} ms`);
            }
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, left);
                this.waiters.push(() => {
                    clearTimeout(timer);
                    resolve();
                });
            });
        }
        return this.challenges[this.challenges.length - 1];
    }

    // Sends ["AUTH", event] and returns the OK frame's [accepted, message].
    async auth(ev) {
        this.send(['AUTH', ev]);
        const f = await this.takeOk(ev.id);
        return [f.msg[2], f.msg[3]];
    }

    takeNotice(what = 'a NOTICE') {
        return this.take((m) => m[0] === 'NOTICE', what);
    }

    takeOk(id) {
        return this.take((m) => m[0] === 'OK' && m[1] === id, `OK for ${id}`);
    }

    // Sends ["EVENT", ev] (or the given raw event JSON text) and returns the
    // OK frame's [accepted, message].
    async publish(ev) {
        const id = typeof ev === 'string' ? JSON.parse(ev).id : ev.id;
        this.send(typeof ev === 'string' ? `["EVENT",${ev}]` : ['EVENT', ev]);
        const f = await this.takeOk(id);
        return [f.msg[2], f.msg[3]];
    }

    // Sends a REQ and collects the stored events up to EOSE. Returns
    // { events, frames, eose } (parsed events, their raw EVENT frames and
    // the EOSE message). Throws
    // with the reason if the relay answers CLOSED instead.
    async req(subId, ...filters) {
        this.send(['REQ', subId, ...filters]);
        return this.collect(subId);
    }

    // A one-off query: REQ, the stored events up to EOSE, then CLOSE so the
    // subscription does not count against the connection's limit.
    async query(subId, ...filters) {
        const res = await this.req(subId, ...filters);
        this.send(['CLOSE', subId]);
        return res;
    }

    async collect(subId) {
        const events = [];
        const frames = [];
        for (;;) {
            const f = await this.take(
                (m) => (m[0] === 'EVENT' || m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === subId,
                `EVENT/EOSE/CLOSED for ${subId}`
            );
            if (f.msg[0] === 'EOSE') {
                return { events, frames, eose: f.msg };
            }
            if (f.msg[0] === 'CLOSED') {
                const err = new Error(`REQ ${subId} was CLOSED: ${f.msg[2]}`);
                err.closed = f.msg;
                throw err;
            }
            events.push(f.msg[2]);
            frames.push(f.text);
        }
    }

    // Frames still unread, optionally only those for one subscription id.
    unread(subId) {
        return this.inbox.filter((f) => subId === undefined || (Array.isArray(f.msg) && f.msg[1] === subId));
    }

    close() {
        if (this.closed) {
            return Promise.resolve();
        }
        return new Promise((resolve) => {
            const timer = setTimeout(() => {
                this.ws.terminate();
                resolve();
            }, DEADLINE_MS);
            this.ws.once('close', () => {
                clearTimeout(timer);
                resolve();
            });
            this.ws.close();
        });
    }
}

// Closes every client given, ignoring the ones already closed or missing.
export async function closeAll(...clients) {
    await Promise.all(clients.flat().filter(Boolean).map((c) => c.close()));
}

export function ids(events) {
    return events.map((e) => e.id);
}

export function sortedIds(events) {
    return ids(events).sort();
}
