// A stand-in for an OpenSearch cluster, for the relay's tests on machines
// where no OpenSearch server can run. It answers the REST calls the
// OpenSearch backend makes (index creation and mappings, _bulk with create,
// external versions and external_gte, _mget, _search and _msearch with
// search_after, _count, _delete_by_query, _refresh) with the response shapes
// of the OpenSearch REST reference, over an in-memory map of documents. Its
// query evaluator knows exactly the clauses the backend writes (bool with
// filter/must/must_not/should, terms, term, ids, range, match_all,
// match_none); anything else is answered with a 400 so a test notices.
// Relevance is a toy: a "match" keeps documents that hold every word, and
// its score is the share of the document's words that are query words, so
// only plainly more relevant documents come first.
import http from 'node:http';
import https from 'node:https';

function readBody(req) {
    return new Promise((resolve, reject) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d) => {
            body += d;
        });
        req.on('end', () => resolve(body));
        req.on('error', reject);
    });
}

class Unsupported extends Error {}

function list(x) {
    return x === undefined ? [] : [].concat(x);
}

function matches(q, id, d) {
    if (q.match_all) {
        return true;
    }
    if (q.match_none) {
        return false;
    }
    if (q.bool) {
        const b = q.bool;
        if (!list(b.filter).every((x) => matches(x, id, d))) {
            return false;
        }
        if (!list(b.must).every((x) => matches(x, id, d))) {
            return false;
        }
        if (list(b.must_not).some((x) => matches(x, id, d))) {
            return false;
        }
        const should = list(b.should);
        return should.length === 0 || should.some((x) => matches(x, id, d));
    }
    if (q.terms) {
        const [field, values] = Object.entries(q.terms)[0];
        return list(d[field]).some((v) => values.includes(v));
    }
    if (q.term) {
        const [field, want] = Object.entries(q.term)[0];
        const value = want !== null && typeof want === 'object' ? want.value : want;
        return list(d[field]).includes(value);
    }
    if (q.ids) {
        return q.ids.values.includes(id);
    }
    if (q.range) {
        const [field, r] = Object.entries(q.range)[0];
        const v = d[field];
        if (v === undefined) {
            return false;
        }
        return (
            (r.gte === undefined || v >= r.gte) &&
            (r.lte === undefined || v <= r.lte) &&
            (r.gt === undefined || v > r.gt) &&
            (r.lt === undefined || v < r.lt)
        );
    }
    if (q.match) {
        const [field, m] = Object.entries(q.match)[0];
        const have = new Set(words(d[field]));
        return words(typeof m === 'object' ? m.query : m).every((w) => have.has(w));
    }
    throw new Unsupported(`unsupported query ${JSON.stringify(q)}`);
}

function words(text) {
    return String(text ?? '')
        .normalize('NFD')
        .replace(/\p{M}/gu, '')
        .toLowerCase()
        .split(/[^\p{L}\p{N}]+/u)
        .filter(Boolean);
}

// The toy score of document d for the "match" clauses in q.
function score(q, d) {
    if (q === null || typeof q !== 'object') {
        return 0;
    }
    if (q.match) {
        const [field, m] = Object.entries(q.match)[0];
        const want = new Set(words(typeof m === 'object' ? m.query : m));
        const have = words(d[field]);
        return have.length ? have.filter((w) => want.has(w)).length / have.length : 0;
    }
    let total = 0;
    for (const v of Object.values(q)) {
        for (const x of list(v)) {
            total += score(x, d);
        }
    }
    return total;
}

// The sort keys of a hit for a "sort" list such as
// ["_score", {"created_at": "desc"}, {"id": "asc"}].
function sortKeys(spec, hit) {
    return spec.map((s) => {
        if (s === '_score') {
            return { v: hit.score, desc: true };
        }
        const [field, o] = Object.entries(s)[0];
        const order = typeof o === 'object' ? o.order : o;
        return { v: hit.doc[field], desc: order === 'desc' };
    });
}

function compareKeys(a, b) {
    for (let i = 0; i < a.length; i++) {
        const x = a[i].v;
        const y = b[i] !== null && typeof b[i] === 'object' ? b[i].v : b[i];
        if (x !== y) {
            const lt = x === undefined ? false : y === undefined ? true : x < y;
            return (lt ? -1 : 1) * (a[i].desc ? -1 : 1);
        }
    }
    return 0;
}

// Listens on 127.0.0.1:port (0: a port the kernel picks, in .port), over
// HTTPS when tls ({ cert, key }, PEM text) is given.
export async function fakeCluster(port, { mapping = () => null, tls = null } = {}) {
    const indexes = new Map(); // name -> { body, docs: Map(_id -> { doc, version }) }
    const requests = [];
    const json = (res, status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
    };
    const error = (res, status, type, reason) => json(res, status, { error: { type, reason }, status });
    const docsOf = (name) => indexes.get(name)?.docs ?? new Map();

    function search(name, q) {
        const query = q.query ?? { match_all: {} };
        const spec = q.sort ?? ['_score'];
        const hits = [];
        for (const [id, { doc }] of docsOf(name)) {
            if (matches(query, id, doc)) {
                const hit = { id, doc, score: score(query, doc) };
                hit.keys = sortKeys(spec, hit);
                hits.push(hit);
            }
        }
        hits.sort((a, b) => compareKeys(a.keys, b.keys));
        let from = 0;
        if (q.search_after) {
            from = hits.findIndex((h) => compareKeys(h.keys, q.search_after) > 0);
            from = from < 0 ? hits.length : from;
        }
        return {
            took: 1,
            timed_out: false,
            _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
            hits: {
                max_score: null,
                hits: hits.slice(from, from + (q.size ?? 10)).map((h) => ({
                    _index: name,
                    _id: h.id,
                    _score: spec.includes('_score') ? h.score : null,
                    _source: { raw: h.doc.raw },
                    sort: h.keys.map((k) => k.v),
                })),
            },
        };
    }

    // A composite aggregation over one terms source, in key order.
    function composite(name, q) {
        const [aggName, agg] = Object.entries(q.aggs)[0];
        const c = agg.composite;
        if (!c || c.sources.length !== 1) {
            throw new Unsupported(`aggregation ${JSON.stringify(agg)}`);
        }
        const [key, src] = Object.entries(c.sources[0])[0];
        const field = src.terms.field;
        const counts = new Map();
        for (const [id, { doc }] of docsOf(name)) {
            if (matches(q.query ?? { match_all: {} }, id, doc)) {
                counts.set(doc[field], (counts.get(doc[field]) ?? 0) + 1);
            }
        }
        const after = c.after ? c.after[key] : null;
        const buckets = [...counts.keys()]
            .sort()
            .filter((k) => after === null || k > after)
            .slice(0, c.size ?? 10)
            .map((k) => ({ key: { [key]: k }, doc_count: counts.get(k) }));
        const out = { buckets };
        if (buckets.length > 0) {
            out.after_key = buckets[buckets.length - 1].key;
        }
        return {
            took: 1,
            timed_out: false,
            _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
            hits: { max_score: null, hits: [] },
            aggregations: { [aggName]: out },
        };
    }

    function bulk(body) {
        const lines = body.split('\n').filter((l) => l !== '');
        const items = [];
        for (let i = 0; i < lines.length; i += 2) {
            const action = JSON.parse(lines[i]);
            const op = Object.keys(action)[0];
            const meta = action[op];
            const source = JSON.parse(lines[i + 1]);
            const docs = indexes.get(meta._index)?.docs;
            if (!docs) {
                items.push({ [op]: { _index: meta._index, _id: meta._id, status: 404, error: { type: 'index_not_found_exception', reason: 'no such index' } } });
                continue;
            }
            const old = docs.get(meta._id);
            const conflict =
                (op === 'create' && old) ||
                (old && meta.version_type === 'external' && old.version >= meta.version) ||
                (old && meta.version_type === 'external_gte' && old.version > meta.version);
            if (conflict) {
                items.push({
                    [op]: {
                        _index: meta._index,
                        _id: meta._id,
                        status: 409,
                        error: {
                            type: 'version_conflict_engine_exception',
                            reason: `[${meta._id}]: version conflict, current version [${old.version}] is higher or equal to the one provided [${meta.version ?? 1}]`,
                        },
                    },
                });
                continue;
            }
            docs.set(meta._id, { doc: source, version: meta.version ?? (old ? old.version + 1 : 1) });
            items.push({ [op]: { _index: meta._index, _id: meta._id, _version: 1, result: old ? 'updated' : 'created', status: old ? 200 : 201 } });
        }
        return { took: 2, errors: items.some((it) => Object.values(it)[0].status >= 300), items };
    }

    const handler = async (req, res) => {
        const body = await readBody(req);
        const url = new URL(req.url, 'http://x');
        requests.push({ method: req.method, path: url.pathname, query: url.search, headers: req.headers, body });
        const parts = url.pathname.split('/').filter(Boolean);
        const [name, api] = parts;
        try {
            if (req.method === 'GET' && api === '_mapping') {
                if (indexes.has(name)) {
                    return json(res, 200, { [name]: { mappings: JSON.parse(indexes.get(name).body).mappings } });
                }
                const m = mapping(name);
                return m ? json(res, 200, m) : error(res, 404, 'index_not_found_exception', `no such index [${name}]`);
            }
            if (req.method === 'PUT' && parts.length === 1) {
                if (indexes.has(name)) {
                    return error(res, 400, 'resource_already_exists_exception', `index [${name}] already exists`);
                }
                indexes.set(name, { body, docs: new Map() });
                return json(res, 200, { acknowledged: true, shards_acknowledged: true, index: name });
            }
            if (req.method === 'DELETE' && parts.length === 1) {
                return indexes.delete(name) ? json(res, 200, { acknowledged: true }) : error(res, 404, 'index_not_found_exception', 'no such index');
            }
            if (req.method === 'POST' && name === '_bulk') {
                return json(res, 200, bulk(body));
            }
            if (req.method === 'POST' && api === '_mget') {
                const docs = docsOf(name);
                return json(res, 200, {
                    docs: JSON.parse(body).ids.map((id) =>
                        docs.has(id)
                            ? { _index: name, _id: id, _version: 1, _seq_no: 0, _primary_term: 1, found: true, _source: docs.get(id).doc }
                            : { _index: name, _id: id, found: false }
                    ),
                });
            }
            if (req.method === 'POST' && api === '_search') {
                const q = JSON.parse(body);
                if (q.aggs) {
                    return json(res, 200, composite(name, q));
                }
                return json(res, 200, search(name, q));
            }
            if (req.method === 'POST' && api === '_msearch') {
                const lines = body.split('\n').filter((l) => l !== '');
                const responses = [];
                for (let i = 0; i < lines.length; i += 2) {
                    responses.push({ ...search(name, JSON.parse(lines[i + 1])), status: 200 });
                }
                return json(res, 200, { took: 2, responses });
            }
            if (req.method === 'POST' && api === '_count') {
                const q = JSON.parse(body).query;
                let count = 0;
                for (const [id, { doc }] of docsOf(name)) {
                    count += matches(q, id, doc) ? 1 : 0;
                }
                return json(res, 200, { count, _shards: { total: 1, successful: 1, skipped: 0, failed: 0 } });
            }
            if (req.method === 'POST' && api === '_delete_by_query') {
                const q = JSON.parse(body).query;
                const docs = docsOf(name);
                const max = url.searchParams.has('max_docs') ? Number(url.searchParams.get('max_docs')) : Infinity;
                let deleted = 0;
                for (const [id, { doc }] of [...docs]) {
                    if (deleted < max && matches(q, id, doc)) {
                        docs.delete(id);
                        deleted++;
                    }
                }
                return json(res, 200, { took: 1, timed_out: false, total: deleted, deleted, batches: 1, version_conflicts: 0, noops: 0, failures: [] });
            }
            if (req.method === 'POST' && api === '_refresh') {
                return json(res, 200, { _shards: { total: 1, successful: 1, failed: 0 } });
            }
            return error(res, 400, 'illegal_argument_exception', `unexpected ${req.method} ${url.pathname}`);
        } catch (err) {
            return error(res, 400, err instanceof Unsupported ? 'parsing_exception' : 'illegal_argument_exception', err.message);
        }
    };
    const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    return {
        port: server.address().port,
        requests,
        indexes,
        close: () =>
            new Promise((resolve) => {
                server.closeAllConnections();
                server.close(resolve);
            }),
    };
}
