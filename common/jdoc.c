/*
 * A JSON document tree. Design: the document is one block holding a copy
 * of the input (every value's raw text points into it, NUL-terminated so
 * strtod can read a number in place) and a string area where keys and
 * strings are decoded once; a decoded string plus its NUL never needs more
 * bytes than its quoted form, so the string area is exactly as long as the
 * input. Values live in a chunked bump arena. Parsing is a loop with an
 * explicit stack, not recursion: the values of open containers wait on a
 * work stack and, when a container closes, move into one arena array, so
 * element i of any array is found in O(1). Only jdoc_equal and jdoc_to_json
 * recurse, at most max_depth (capped at JDOC_MAX_DEPTH) levels deep.
 */
#include "common/jdoc.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

/* A decoded object key. An object's keys sit right after its values in
 * the same arena block, in the same order. */
struct jdoc_key {
    const char *s;
    uint32_t len;
};

struct jdoc_val {
    uint8_t type;     /* enum jdoc_type */
    bool flag;        /* JDOC_BOOL: its value; JDOC_NUMBER: written as an integer */
    uint32_t n;       /* string: decoded length; array/object: element count */
    uint32_t raw_len; /* length of the value's text in the input */
    const char *raw;  /* the value's text, in the document's copy of the input */
    union {
        const char *s;               /* JDOC_STRING: decoded, NUL-terminated */
        const struct jdoc_val *kids; /* JDOC_ARRAY/JDOC_OBJECT: n values */
    } u;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    max_align_t data[]; /* aligned for any value stored in it */
};

struct jdoc {
    struct arena_chunk *chunks;
    struct jdoc_val root;
    char *text; /* the input, NUL-terminated */
    char *strs; /* decoded strings and keys */
    size_t strs_used;
};

/* The first arena chunk; each next one doubles, so a document of N values
 * costs O(log N) allocations. */
#define ARENA_MIN_CHUNK 4096

static void *arena_alloc(struct jdoc *d, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    struct arena_chunk *c = d->chunks;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = c ? c->cap * 2 : ARENA_MIN_CHUNK;
        if (cap < size) {
            cap = size;
        }
        struct arena_chunk *nc = malloc(sizeof(*nc) + cap);
        if (nc == NULL) {
            return NULL;
        }
        nc->next = c;
        nc->cap = cap;
        nc->used = 0;
        d->chunks = nc;
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

/* A value waiting for its container to close, with its key when the
 * container is an object. */
struct pending {
    struct jdoc_key key;
    struct jdoc_val val;
};

struct frame {
    size_t start; /* index of the container's first pending member */
    const char *open;
    bool is_object;
};

struct parser {
    struct pending *work;
    size_t n_work, cap_work;
    struct frame *frames;
    unsigned depth, cap_frames;
};

static int work_push(struct parser *ps)
{
    if (ps->n_work == ps->cap_work) {
        size_t cap = ps->cap_work ? ps->cap_work * 2 : 64;
        struct pending *w = realloc(ps->work, cap * sizeof(*w));
        if (w == NULL) {
            return OST_ENOMEM;
        }
        ps->work = w;
        ps->cap_work = cap;
    }
    memset(&ps->work[ps->n_work], 0, sizeof(ps->work[0]));
    ps->n_work++;
    return 0;
}

static int frame_push(struct parser *ps, const char *open, bool is_object)
{
    if (ps->depth == ps->cap_frames) {
        unsigned cap = ps->cap_frames ? ps->cap_frames * 2 : 16;
        struct frame *f = realloc(ps->frames, cap * sizeof(*f));
        if (f == NULL) {
            return OST_ENOMEM;
        }
        ps->frames = f;
        ps->cap_frames = cap;
    }
    ps->frames[ps->depth++] = (struct frame){ ps->n_work, open, is_object };
    return 0;
}

/* Scans the string at p and decodes it into the string area. */
static int take_string(struct jdoc *d, const char *p, const char *end, const char **s,
                       uint32_t *len, const char **next)
{
    struct json_str js;
    uint32_t dlen;
    const char *reason;
    int rc = json_scan_string(p, end, &js, &dlen, next, &reason);
    if (rc < 0) {
        return rc;
    }
    char *out = d->strs + d->strs_used;
    json_str_decode_into(&js, (uint8_t *)out, dlen);
    out[dlen] = '\0';
    d->strs_used += (size_t)dlen + 1;
    *s = out;
    *len = dlen;
    return 0;
}

/* Scans `"key" :` at p (after whitespace) into the pending member on top
 * of the work stack. */
static int take_key(struct jdoc *d, struct parser *ps, const char *p, const char *end,
                    const char **next)
{
    if (p >= end || *p != '"') {
        return OST_EPARSE;
    }
    int rc = work_push(ps);
    if (rc < 0) {
        return rc;
    }
    struct jdoc_key *k = &ps->work[ps->n_work - 1].key;
    rc = take_string(d, p, end, &k->s, &k->len, &p);
    if (rc < 0) {
        return rc;
    }
    p = json_skip_ws(p, end);
    if (p >= end || *p != ':') {
        return OST_EPARSE;
    }
    *next = json_skip_ws(p + 1, end);
    return 0;
}

static bool take_literal(const char *p, const char *end, const char *lit, size_t len)
{
    return (size_t)(end - p) >= len && memcmp(p, lit, len) == 0;
}

/* Moves the members of the top frame from the work stack into one arena
 * block and makes the container value in *v. */
static int close_container(struct jdoc *d, struct parser *ps, const char *close_end,
                           struct jdoc_val *v)
{
    struct frame *f = &ps->frames[ps->depth - 1];
    size_t n = ps->n_work - f->start;
    if (n > UINT32_MAX) {
        return OST_ENOMEM;
    }
    struct jdoc_val *kids = NULL;
    if (n > 0) {
        size_t each = sizeof(struct jdoc_val) + (f->is_object ? sizeof(struct jdoc_key) : 0);
        kids = arena_alloc(d, n * each);
        if (kids == NULL) {
            return OST_ENOMEM;
        }
        struct jdoc_key *keys = (struct jdoc_key *)(kids + n);
        for (size_t i = 0; i < n; i++) {
            kids[i] = ps->work[f->start + i].val;
            if (f->is_object) {
                keys[i] = ps->work[f->start + i].key;
            }
        }
    }
    *v = (struct jdoc_val){ .type = f->is_object ? JDOC_OBJECT : JDOC_ARRAY,
                            .n = (uint32_t)n,
                            .raw = f->open,
                            .raw_len = (uint32_t)(close_end - f->open),
                            .u.kids = kids };
    ps->n_work = f->start;
    ps->depth--;
    return 0;
}

/* The parse loop over [p, end): one value, whitespace around it. */
static int parse_text(struct jdoc *d, struct parser *ps, const char *p, const char *end,
                      unsigned max_depth)
{
    struct jdoc_val v;
    int rc;
    p = json_skip_ws(p, end);

value:
    if (p >= end) {
        return OST_EPARSE;
    }
    memset(&v, 0, sizeof(v));
    v.raw = p;
    switch (*p) {
    case '{':
    case '[': {
        bool obj = *p == '{';
        if (ps->depth >= max_depth) {
            return OST_EPARSE;
        }
        rc = frame_push(ps, p, obj);
        if (rc < 0) {
            return rc;
        }
        p = json_skip_ws(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            rc = close_container(d, ps, p, &v);
            if (rc < 0) {
                return rc;
            }
            goto emit;
        }
        if (obj) {
            rc = take_key(d, ps, p, end, &p);
            if (rc < 0) {
                return rc;
            }
        }
        goto value;
    }
    case '"':
        v.type = JDOC_STRING;
        rc = take_string(d, p, end, &v.u.s, &v.n, &p);
        if (rc < 0) {
            return rc;
        }
        break;
    case 't':
    case 'f':
        v.type = JDOC_BOOL;
        v.flag = *p == 't';
        if (!take_literal(p, end, v.flag ? "true" : "false", v.flag ? 4 : 5)) {
            return OST_EPARSE;
        }
        p += v.flag ? 4 : 5;
        break;
    case 'n':
        v.type = JDOC_NULL;
        if (!take_literal(p, end, "null", 4)) {
            return OST_EPARSE;
        }
        p += 4;
        break;
    default: {
        const char *reason;
        v.type = JDOC_NUMBER;
        rc = json_scan_number(p, end, &v.flag, &p, &reason);
        if (rc < 0) {
            return rc;
        }
        break;
    }
    }
    v.raw_len = (uint32_t)(p - v.raw);

emit:
    if (ps->depth == 0) {
        d->root = v;
        return json_skip_ws(p, end) == end ? 0 : OST_EPARSE;
    }
    if (ps->frames[ps->depth - 1].is_object) {
        ps->work[ps->n_work - 1].val = v; /* its key is already there */
    } else {
        rc = work_push(ps);
        if (rc < 0) {
            return rc;
        }
        ps->work[ps->n_work - 1].val = v;
    }
    p = json_skip_ws(p, end);
    if (p >= end) {
        return OST_EPARSE;
    }
    bool in_object = ps->frames[ps->depth - 1].is_object;
    if (*p == ',') {
        p = json_skip_ws(p + 1, end);
        if (in_object) {
            rc = take_key(d, ps, p, end, &p);
            if (rc < 0) {
                return rc;
            }
        }
        goto value;
    }
    if (*p == (in_object ? '}' : ']')) {
        p++;
        rc = close_container(d, ps, p, &v);
        if (rc < 0) {
            return rc;
        }
        goto emit;
    }
    return OST_EPARSE;
}

int jdoc_parse(const char *json, size_t len, unsigned max_depth, struct jdoc **out)
{
    struct parser ps = { 0 };
    struct jdoc *d = NULL;
    int rc = OST_ENOMEM;
    if (len > UINT32_MAX || len > (SIZE_MAX - sizeof(*d)) / 2 - 1) {
        goto fail;
    }
    if (max_depth == 0) {
        max_depth = JDOC_DEFAULT_DEPTH;
    } else if (max_depth > JDOC_MAX_DEPTH) {
        max_depth = JDOC_MAX_DEPTH;
    }
    d = malloc(sizeof(*d) + 2 * len + 1);
    if (d == NULL) {
        goto fail;
    }
    memset(d, 0, sizeof(*d));
    d->text = (char *)(d + 1);
    d->strs = d->text + len + 1;
    if (len > 0) {
        memcpy(d->text, json, len);
    }
    d->text[len] = '\0';
    rc = parse_text(d, &ps, d->text, d->text + len, max_depth);
    if (rc < 0) {
        goto fail;
    }
    *out = d;
    d = NULL;
fail:
    jdoc_free(d);
    free(ps.work);
    free(ps.frames);
    return rc;
}

void jdoc_free(struct jdoc *d)
{
    if (d == NULL) {
        return;
    }
    struct arena_chunk *c = d->chunks;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(d);
}

const struct jdoc_val *jdoc_root(const struct jdoc *d)
{
    return d ? &d->root : NULL;
}

enum jdoc_type jdoc_type(const struct jdoc_val *v)
{
    return v ? (enum jdoc_type)v->type : JDOC_NULL;
}

static const struct jdoc_key *keys_of(const struct jdoc_val *v)
{
    return (const struct jdoc_key *)(v->u.kids + v->n);
}

/* The last member of object v named key[0..len), or NULL. */
static const struct jdoc_val *get_n(const struct jdoc_val *v, const char *key, size_t len)
{
    if (v == NULL || v->type != JDOC_OBJECT) {
        return NULL;
    }
    const struct jdoc_key *keys = keys_of(v);
    for (size_t i = v->n; i-- > 0;) {
        if (keys[i].len == len && memcmp(keys[i].s, key, len) == 0) {
            return &v->u.kids[i];
        }
    }
    return NULL;
}

const struct jdoc_val *jdoc_get(const struct jdoc_val *v, const char *key)
{
    return get_n(v, key, strlen(key));
}

size_t jdoc_len(const struct jdoc_val *v)
{
    if (v == NULL || (v->type != JDOC_ARRAY && v->type != JDOC_OBJECT)) {
        return 0;
    }
    return v->n;
}

const struct jdoc_val *jdoc_at(const struct jdoc_val *v, size_t i)
{
    if (i >= jdoc_len(v)) {
        return NULL;
    }
    return &v->u.kids[i];
}

const char *jdoc_key_at(const struct jdoc_val *v, size_t i, size_t *len)
{
    if (v == NULL || v->type != JDOC_OBJECT || i >= v->n) {
        return NULL;
    }
    const struct jdoc_key *k = &keys_of(v)[i];
    if (len != NULL) {
        *len = k->len;
    }
    return k->s;
}

const char *jdoc_str(const struct jdoc_val *v, size_t *len)
{
    if (v == NULL || v->type != JDOC_STRING) {
        return NULL;
    }
    if (len != NULL) {
        *len = v->n;
    }
    return v->u.s;
}

bool jdoc_int(const struct jdoc_val *v, int64_t *out)
{
    if (v == NULL || v->type != JDOC_NUMBER || !v->flag) {
        return false;
    }
    int64_t x;
    const char *next, *reason;
    if (json_scan_int(v->raw, v->raw + v->raw_len, &x, &next, &reason) < 0) {
        return false;
    }
    *out = x;
    return true;
}

bool jdoc_double(const struct jdoc_val *v, double *out)
{
    if (v == NULL || v->type != JDOC_NUMBER) {
        return false;
    }
    /* The input copy is NUL-terminated and a JSON number is always followed
     * by whitespace, a delimiter or the end, so strtod stops at its end. */
    *out = strtod(v->raw, NULL);
    return true;
}

bool jdoc_bool(const struct jdoc_val *v, bool *out)
{
    if (v == NULL || v->type != JDOC_BOOL) {
        return false;
    }
    *out = v->flag;
    return true;
}

const char *jdoc_raw(const struct jdoc_val *v, size_t *len)
{
    if (v == NULL) {
        return NULL;
    }
    if (len != NULL) {
        *len = v->raw_len;
    }
    return v->raw;
}

static bool numbers_equal(const struct jdoc_val *a, const struct jdoc_val *b)
{
    int64_t x, y;
    if (jdoc_int(a, &x) && jdoc_int(b, &y)) {
        return x == y;
    }
    return a->raw_len == b->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0;
}

/* True when every member of a has a member of the same name in b with an
 * equal value: objects compare as sets of members, so a repeated key
 * needs each of its values on the other side. */
static bool members_in(const struct jdoc_val *a, const struct jdoc_val *b)
{
    const struct jdoc_key *ka = keys_of(a), *kb = keys_of(b);
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++) {
            found = ka[i].len == kb[j].len && memcmp(ka[i].s, kb[j].s, ka[i].len) == 0 &&
                    jdoc_equal(&a->u.kids[i], &b->u.kids[j]);
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

bool jdoc_equal(const struct jdoc_val *a, const struct jdoc_val *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (a->type != b->type) {
        return false;
    }
    switch ((enum jdoc_type)a->type) {
    case JDOC_NULL:
        return true;
    case JDOC_BOOL:
        return a->flag == b->flag;
    case JDOC_NUMBER:
        return numbers_equal(a, b);
    case JDOC_STRING:
        return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
    case JDOC_ARRAY:
        if (a->n != b->n) {
            return false;
        }
        for (size_t i = 0; i < a->n; i++) {
            if (!jdoc_equal(&a->u.kids[i], &b->u.kids[i])) {
                return false;
            }
        }
        return true;
    case JDOC_OBJECT:
        return members_in(a, b) && members_in(b, a);
    }
    return false;
}

static int key_cmp(const void *pa, const void *pb)
{
    const struct jdoc_key *a = *(const struct jdoc_key *const *)pa;
    const struct jdoc_key *b = *(const struct jdoc_key *const *)pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    if (c != 0) {
        return c;
    }
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    /* Repeated keys keep their document order (the keys are one array). */
    return a < b ? -1 : a > b;
}

static int object_to_json(const struct jdoc_val *v, struct buf *out)
{
    const struct jdoc_key *keys = keys_of(v);
    const struct jdoc_key *small[16];
    const struct jdoc_key **order = small;
    int rc = 0;
    if (v->n > sizeof(small) / sizeof(small[0])) {
        order = malloc(v->n * sizeof(*order));
        if (order == NULL) {
            return OST_ENOMEM;
        }
    }
    for (size_t i = 0; i < v->n; i++) {
        order[i] = &keys[i];
    }
    qsort(order, v->n, sizeof(*order), key_cmp);
    rc = buf_append_char(out, '{');
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        if (i > 0) {
            rc = buf_append_char(out, ',');
        }
        if (rc == 0) {
            rc = json_write_string(out, order[i]->s, order[i]->len);
        }
        if (rc == 0) {
            rc = buf_append_char(out, ':');
        }
        if (rc == 0) {
            rc = jdoc_to_json(&v->u.kids[order[i] - keys], out);
        }
    }
    if (rc == 0) {
        rc = buf_append_char(out, '}');
    }
    if (order != small) {
        free(order);
    }
    return rc;
}

int jdoc_to_json(const struct jdoc_val *v, struct buf *out)
{
    int rc = 0;
    switch (jdoc_type(v)) {
    case JDOC_NULL:
        return buf_append(out, "null", 4);
    case JDOC_BOOL:
        return v->flag ? buf_append(out, "true", 4) : buf_append(out, "false", 5);
    case JDOC_NUMBER:
        return buf_append(out, v->raw, v->raw_len);
    case JDOC_STRING:
        return json_write_string(out, v->u.s, v->n);
    case JDOC_ARRAY:
        rc = buf_append_char(out, '[');
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            if (i > 0) {
                rc = buf_append_char(out, ',');
            }
            if (rc == 0) {
                rc = jdoc_to_json(&v->u.kids[i], out);
            }
        }
        return rc == 0 ? buf_append_char(out, ']') : rc;
    case JDOC_OBJECT:
        return object_to_json(v, out);
    }
    return 0;
}
