/*
 * The option table and everything derived from it.
 *
 * Design: cfg__options[] is the single description of the configuration. Each
 * descriptor names its struct cfg member by a path that is also its TOML key
 * (the OPT_* macros stringify the member, so the two cannot disagree), and
 * carries its type, default, bounds or allowed names, and description.
 * Defaults, applying a TOML document, error messages, cfg_print and the
 * test of config/ostrich.toml all walk this table. Fields are read and
 * written through memcpy at the descriptor's offset, so no pointer casts to
 * a field type are needed. Loading works on a copy that replaces the
 * caller's config only once every entry and cross-field check has passed.
 */
#include "config/cfg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "config/cfg_int.h"
#include "config/toml.h"

/* Enum fields are read and written as int. */
_Static_assert(sizeof(enum cfg_engine) == sizeof(int), "enum cfg_engine is not int-sized");
_Static_assert(sizeof(enum cfg_backend) == sizeof(int), "enum cfg_backend is not int-sized");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum log_level is not int-sized");

/* The option table and the pairs of options set together live in
 * config/cfg_options.c; config/cfg_int.h declares them. */

/* ---- field access ---- */

static const char *str_at(const struct cfg *c, size_t offset)
{
    const char *s;
    memcpy(&s, (const char *)c + offset, sizeof(s));
    return s;
}

static const char *get_str(const struct cfg *c, const struct cfg_option *o)
{
    return str_at(c, o->offset);
}

static void set_str(struct cfg *c, const struct cfg_option *o, const char *s)
{
    memcpy((char *)c + o->offset, &s, sizeof(s));
}

static int64_t get_int(const struct cfg *c, const struct cfg_option *o)
{
    int64_t v;
    memcpy(&v, (const char *)c + o->offset, sizeof(v));
    return v;
}

static void set_int(struct cfg *c, const struct cfg_option *o, int64_t v)
{
    memcpy((char *)c + o->offset, &v, sizeof(v));
}

static int get_enum(const struct cfg *c, const struct cfg_option *o)
{
    int v;
    memcpy(&v, (const char *)c + o->offset, sizeof(v));
    return v;
}

static void set_enum(struct cfg *c, const struct cfg_option *o, int v)
{
    memcpy((char *)c + o->offset, &v, sizeof(v));
}

static bool get_bool(const struct cfg *c, const struct cfg_option *o)
{
    bool v;
    memcpy(&v, (const char *)c + o->offset, sizeof(v));
    return v;
}

static void set_bool(struct cfg *c, const struct cfg_option *o, bool v)
{
    memcpy((char *)c + o->offset, &v, sizeof(v));
}

static struct cfg_strings get_strs(const struct cfg *c, const struct cfg_option *o)
{
    struct cfg_strings v;
    memcpy(&v, (const char *)c + o->offset, sizeof(v));
    return v;
}

static void set_strs(struct cfg *c, const struct cfg_option *o, struct cfg_strings v)
{
    memcpy((char *)c + o->offset, &v, sizeof(v));
}

static void free_strs(struct cfg_strings v)
{
    for (size_t i = 0; i < v.n; i++) {
        free(v.items[i]);
    }
    free(v.items);
}

/* A deep copy of n strings; OST_ENOMEM leaves nothing allocated. */
static int dup_strs(char *const *items, size_t n, struct cfg_strings *out)
{
    struct cfg_strings v = { NULL, 0 };
    if (n > 0) {
        v.items = calloc(n, sizeof(*v.items));
        if (v.items == NULL) {
            return OST_ENOMEM;
        }
    }
    for (; v.n < n; v.n++) {
        v.items[v.n] = strdup(items[v.n]);
        if (v.items[v.n] == NULL) {
            free_strs(v);
            return OST_ENOMEM;
        }
    }
    *out = v;
    return 0;
}

/* A string field owns its value unless it points at the table's default; a
 * string array owns its items unless it is the empty default. */
static bool is_owned(const struct cfg *c, const struct cfg_option *o)
{
    if (o->type == CFG_TYPE_STRING_ARRAY) {
        return get_strs(c, o).items != NULL;
    }
    return o->type == CFG_TYPE_STRING && get_str(c, o) != o->def_str;
}

/* Frees what c owns in option o's field (the field is left dangling). */
static void release(struct cfg *c, const struct cfg_option *o)
{
    if (!is_owned(c, o)) {
        return;
    }
    if (o->type == CFG_TYPE_STRING_ARRAY) {
        free_strs(get_strs(c, o));
    } else {
        free((char *)get_str(c, o));
    }
}

static void set_default(struct cfg *c, const struct cfg_option *o)
{
    if (o->type == CFG_TYPE_STRING) {
        set_str(c, o, o->def_str);
    } else if (o->type == CFG_TYPE_INT) {
        set_int(c, o, o->def_int);
    } else if (o->type == CFG_TYPE_BOOL) {
        set_bool(c, o, o->def_int != 0);
    } else if (o->type == CFG_TYPE_STRING_ARRAY) {
        set_strs(c, o, (struct cfg_strings){ NULL, 0 });
    } else {
        set_enum(c, o, (int)o->def_int);
    }
}

/* Deep copy of src into dst (uninitialised). Returns 0 or OST_ENOMEM, when
 * dst is left holding nothing to free. */
static int copy_cfg(struct cfg *dst, const struct cfg *src)
{
    memcpy(dst, src, sizeof(*dst));
    for (size_t i = 0; i < cfg__n_options; i++) {
        const struct cfg_option *o = &cfg__options[i];
        if (!is_owned(src, o)) {
            continue;
        }
        int rc = 0;
        if (o->type == CFG_TYPE_STRING_ARRAY) {
            struct cfg_strings v = get_strs(src, o);
            rc = dup_strs(v.items, v.n, &v);
            if (rc == 0) {
                set_strs(dst, o, v);
            }
        } else {
            char *s = strdup(get_str(src, o));
            rc = s != NULL ? 0 : OST_ENOMEM;
            if (rc == 0) {
                set_str(dst, o, s);
            }
        }
        if (rc < 0) {
            /* Options from i on still share src's values: forget them. */
            for (size_t j = i; j < cfg__n_options; j++) {
                if (cfg__options[j].type == CFG_TYPE_STRING ||
                    cfg__options[j].type == CFG_TYPE_STRING_ARRAY) {
                    set_default(dst, &cfg__options[j]);
                }
            }
            cfg_fini(dst);
            return OST_ENOMEM;
        }
    }
    return 0;
}

/* ---- text ---- */

static int append_toml_string(struct buf *out, const char *s)
{
    int rc = buf_append_char(out, '"');
    for (; *s != '\0' && rc == 0; s++) {
        unsigned char ch = (unsigned char)*s;
        const char *esc = ch == '"'    ? "\\\""
                          : ch == '\\' ? "\\\\"
                          : ch == '\b' ? "\\b"
                          : ch == '\t' ? "\\t"
                          : ch == '\n' ? "\\n"
                          : ch == '\f' ? "\\f"
                          : ch == '\r' ? "\\r"
                                       : NULL;
        if (esc != NULL) {
            rc = buf_append_str(out, esc);
        } else if (ch < 0x20 || ch == 0x7f) {
            rc = buf_printf(out, "\\u%04X", ch);
        } else {
            rc = buf_append_char(out, (char)ch);
        }
    }
    return rc == 0 ? buf_append_char(out, '"') : rc;
}

static size_t name_count(const struct cfg_option *o)
{
    size_t n = 0;
    while (o->names[n] != NULL) {
        n++;
    }
    return n;
}

static int append_enum(struct buf *out, const struct cfg_option *o, int v)
{
    if (v < 0 || (size_t)v >= name_count(o)) {
        return buf_printf(out, "%d", v);
    }
    return append_toml_string(out, o->names[v]);
}

/* ["a", "b"] */
static int append_strings(struct buf *out, struct cfg_strings v)
{
    int rc = buf_append_char(out, '[');
    for (size_t i = 0; i < v.n && rc == 0; i++) {
        rc = i > 0 ? buf_append_str(out, ", ") : 0;
        rc = rc ? rc : append_toml_string(out, v.items[i]);
    }
    return rc ? rc : buf_append_char(out, ']');
}

/* "\"a\", \"b\" or \"c\"" for an enum's messages. */
static int append_choices(struct buf *out, const struct cfg_option *o)
{
    size_t n = name_count(o);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        rc = buf_printf(out, "%s\"%s\"", sep, o->names[i]);
    }
    return rc;
}

/* ---- loading ---- */

/* Appends "name:line: key: problem"; line 0 and a NULL key are left out.
 * Returns rc, for the caller to pass on. */
static int report(struct buf *err, const char *name, int line, const char *key, const char *problem,
                  int rc)
{
    if (line > 0) {
        buf_printf(err, "%s:%d: ", name, line);
    } else {
        buf_printf(err, "%s: ", name);
    }
    if (key != NULL) {
        buf_printf(err, "%s: ", key);
    }
    buf_append_str(err, problem);
    return rc;
}

/* A table is known when some option lives in it or below it. */
static bool is_known_table(const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < cfg__n_options; i++) {
        if (strncmp(cfg__options[i].key, key, len) == 0 && cfg__options[i].key[len] == '.') {
            return true;
        }
    }
    return false;
}

/* Applies an array of strings to option o, each item checked. */
static int apply_strings(struct cfg *c, const struct cfg_option *o, const struct toml_value *val,
                         struct buf *msg)
{
    if (val->type != TOML_ARRAY) {
        buf_printf(msg, "expected an array of strings, got %s", toml_type_name(val->type));
        return OST_EINVAL;
    }
    char **items = val->u.arr.n > 0 ? calloc(val->u.arr.n, sizeof(*items)) : NULL;
    if (val->u.arr.n > 0 && items == NULL) {
        buf_append_str(msg, "out of memory");
        return OST_ENOMEM;
    }
    for (size_t i = 0; i < val->u.arr.n; i++) {
        const struct toml_value *item = &val->u.arr.items[i];
        const char *problem = item->type != TOML_STRING ? NULL
                              : o->check != NULL        ? o->check(item->u.s)
                                                        : NULL;
        if (item->type != TOML_STRING) {
            buf_printf(msg, "item %zu: expected a string, got %s", i + 1,
                       toml_type_name(item->type));
            free(items);
            return OST_EINVAL;
        }
        if (problem != NULL) {
            buf_printf(msg, "item %zu: %s", i + 1, problem);
            free(items);
            return OST_EINVAL;
        }
        items[i] = item->u.s;
    }
    struct cfg_strings v;
    int rc = dup_strs(items, val->u.arr.n, &v);
    free(items);
    if (rc < 0) {
        buf_append_str(msg, "out of memory");
        return rc;
    }
    release(c, o);
    set_strs(c, o, v);
    return 0;
}

/* Applies one entry to c, or writes the problem into msg and returns
 * OST_EINVAL. */
static int apply_entry(struct cfg *c, const struct toml_entry *e, struct buf *msg)
{
    if (e->val.type == TOML_TABLE) {
        return is_known_table(e->key) ? 0 : (buf_append_str(msg, "unknown table"), OST_EINVAL);
    }
    const struct cfg_option *o = cfg_option_find(e->key);
    if (o == NULL) {
        buf_append_str(msg, "unknown option");
        return OST_EINVAL;
    }
    const char *got = toml_type_name(e->val.type);
    if (o->type == CFG_TYPE_INT) {
        if (e->val.type != TOML_INT) {
            buf_printf(msg, "expected an integer, got %s", got);
            return OST_EINVAL;
        }
        if (e->val.u.i < o->min || e->val.u.i > o->max) {
            buf_printf(msg, "expected an integer in %" PRId64 "..%" PRId64, o->min, o->max);
            return OST_EINVAL;
        }
        set_int(c, o, e->val.u.i);
        return 0;
    }
    if (o->type == CFG_TYPE_BOOL) {
        if (e->val.type != TOML_BOOL) {
            buf_printf(msg, "expected a boolean, got %s", got);
            return OST_EINVAL;
        }
        set_bool(c, o, e->val.u.b);
        return 0;
    }
    if (o->type == CFG_TYPE_STRING_ARRAY) {
        return apply_strings(c, o, &e->val, msg);
    }
    if (o->type == CFG_TYPE_ENUM) {
        size_t n = name_count(o), i = 0;
        while (e->val.type == TOML_STRING && i < n && strcmp(o->names[i], e->val.u.s) != 0) {
            i++;
        }
        if (e->val.type != TOML_STRING || i == n) {
            buf_append_str(msg, "expected ");
            append_choices(msg, o);
            if (e->val.type != TOML_STRING) {
                buf_printf(msg, ", got %s", got);
            }
            return OST_EINVAL;
        }
        set_enum(c, o, (int)i);
        return 0;
    }
    if (e->val.type != TOML_STRING) {
        buf_printf(msg, "expected a string, got %s", got);
        return OST_EINVAL;
    }
    const char *problem = o->check != NULL ? o->check(e->val.u.s) : NULL;
    if (problem != NULL) {
        buf_append_str(msg, problem);
        return OST_EINVAL;
    }
    char *s = strdup(e->val.u.s);
    if (s == NULL) {
        buf_append_str(msg, "out of memory");
        return OST_ENOMEM;
    }
    release(c, o);
    set_str(c, o, s);
    return 0;
}

/* The line of whichever of keys a and b the document sets last, with that
 * key; the line of the one it sets; or line 0 and key b. */
static void later_of(const struct toml_doc *doc, const char *a, const char *b, int *line,
                     const char **key)
{
    const struct toml_entry *ea = toml_find(doc, a), *eb = toml_find(doc, b);
    const struct toml_entry *at = ea == NULL || (eb != NULL && eb->line > ea->line) ? eb : ea;
    *line = at ? at->line : 0;
    *key = at ? at->key : b;
}

/* Checks each pair of set-together options. The line reported is that of
 * whichever of the two keys the document sets last, or of the one it sets. */
static int check_pairs(const struct cfg *c, const struct toml_doc *doc, const char *name,
                       struct buf *err)
{
    for (size_t i = 0; i < cfg__n_pairs; i++) {
        const char *const *key = cfg__pairs[i].key;
        bool has_a = str_at(c, cfg__pairs[i].offset[0])[0] != '\0';
        bool has_b = str_at(c, cfg__pairs[i].offset[1])[0] != '\0';
        if (has_a == has_b) {
            continue;
        }
        int line;
        const char *at;
        later_of(doc, key[0], key[1], &line, &at);
        char problem[160];
        snprintf(problem, sizeof(problem), "%s and %s must be set together", key[0], key[1]);
        return report(err, name, line, at, problem, OST_EINVAL);
    }
    return 0;
}

/* Options that need an optional NIP which [nips] turns off. The line
 * reported is that of the option or of the NIP's switch, as in check_pairs. */
static int check_nips(const struct cfg *c, const struct toml_doc *doc, const char *name,
                      struct buf *err)
{
    const struct {
        bool is_used;
        bool is_nip_on;
        const char *key;
        const char *nip_key;
        const char *problem;
    } needs[] = {
        { c->limits.min_pow_difficulty > 0, c->nips.nip13, "limits.min_pow_difficulty",
          "nips.nip13", "limits.min_pow_difficulty above 0 needs nips.nip13 = true" },
        { c->auth.required_for_write, c->nips.nip42, "auth.required_for_write", "nips.nip42",
          "auth.required_for_write = true needs nips.nip42 = true" },
        { c->auth.required_for_read, c->nips.nip42, "auth.required_for_read", "nips.nip42",
          "auth.required_for_read = true needs nips.nip42 = true" },
        { c->auth.allow_pubkeys.n > 0, c->nips.nip42, "auth.allow_pubkeys", "nips.nip42",
          "a non-empty auth.allow_pubkeys needs nips.nip42 = true" },
        { c->auth.protect_dms, c->nips.nip42, "auth.protect_dms", "nips.nip42",
          "auth.protect_dms = true needs nips.nip42 = true: without authentication no one "
          "could be shown a direct message; set protect_dms = false to serve them to all" },
    };
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        if (!needs[i].is_used || needs[i].is_nip_on) {
            continue;
        }
        int line;
        const char *key;
        later_of(doc, needs[i].key, needs[i].nip_key, &line, &key);
        return report(err, name, line, key, needs[i].problem, OST_EINVAL);
    }
    return 0;
}

int cfg_load_string(struct cfg *c, const char *name, const char *text, size_t len, struct buf *err)
{
    struct toml_doc *doc = NULL;
    struct toml_error terr;
    struct cfg tmp;
    struct buf msg;
    buf_init(&msg);
    int rc = toml_parse(text, len, &doc, &terr);
    if (rc < 0) {
        return report(err, name, terr.line, NULL, terr.msg, rc == OST_EPARSE ? OST_EINVAL : rc);
    }
    rc = copy_cfg(&tmp, c);
    if (rc < 0) {
        report(err, name, 0, NULL, "out of memory", rc);
        goto out;
    }
    for (size_t i = 0; i < toml_count(doc) && rc == 0; i++) {
        const struct toml_entry *e = toml_entry_at(doc, i);
        buf_reset(&msg);
        rc = apply_entry(&tmp, e, &msg);
        if (rc < 0) {
            const char *problem = buf_cstr(&msg);
            report(err, name, e->line, e->key, problem ? problem : "out of memory", rc);
        }
    }
    if (rc == 0) {
        rc = check_pairs(&tmp, doc, name, err);
    }
    if (rc == 0) {
        rc = check_nips(&tmp, doc, name, err);
    }
    if (rc < 0) {
        cfg_fini(&tmp);
        goto out;
    }
    cfg_fini(c);
    memcpy(c, &tmp, sizeof(*c));
out:
    buf_fini(&msg);
    toml_free(doc);
    return rc;
}

int cfg_load_file(struct cfg *c, const char *path, struct buf *err)
{
    struct buf text;
    buf_init(&text);
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        buf_printf(err, "%s: cannot open: %s", path, ost_strerror(rc));
        return rc;
    }
    while (rc == 0 && text.len <= CFG_MAX_FILE_BYTES) {
        rc = buf_reserve(&text, 4096);
        if (rc < 0) {
            buf_printf(err, "%s: out of memory", path);
            goto out;
        }
        size_t n = fread(text.data + text.len, 1, text.cap - text.len - 1, f);
        text.len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        rc = errno != 0 ? -errno : OST_EIO;
        buf_printf(err, "%s: cannot read: %s", path, ost_strerror(rc));
        goto out;
    }
    if (text.len > CFG_MAX_FILE_BYTES) {
        rc = OST_EINVAL;
        buf_printf(err, "%s: larger than %d bytes", path, CFG_MAX_FILE_BYTES);
        goto out;
    }
    rc = cfg_load_string(c, path, text.data, text.len, err);
out:
    fclose(f);
    buf_fini(&text);
    return rc;
}

/* ---- lifecycle ---- */

void cfg_init_defaults(struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < cfg__n_options; i++) {
        set_default(c, &cfg__options[i]);
    }
}

void cfg_fini(struct cfg *c)
{
    for (size_t i = 0; i < cfg__n_options; i++) {
        release(c, &cfg__options[i]);
    }
    cfg_init_defaults(c);
}

/* ---- queries ---- */

int cfg_print(const struct cfg *c, struct buf *out)
{
    int rc = 0;
    size_t table_len = 0;
    const char *table = NULL;
    for (size_t i = 0; i < cfg__n_options && rc == 0; i++) {
        const struct cfg_option *o = &cfg__options[i];
        const char *dot = strrchr(o->key, '.');
        size_t len = dot ? (size_t)(dot - o->key) : 0;
        if (table == NULL || len != table_len || strncmp(table, o->key, len) != 0) {
            rc = buf_printf(out, "%s[%.*s]\n", table ? "\n" : "", (int)len, o->key);
            table = o->key;
            table_len = len;
        }
        if (rc == 0) {
            rc = buf_printf(out, "# %s\n%s = ", o->description, o->key + len + 1);
        }
        if (rc == 0 && o->is_secret) {
            rc = append_toml_string(out, get_str(c, o)[0] != '\0' ? "(set)" : "");
        } else if (rc == 0) {
            rc = cfg_option_value_text(c, o, out);
        }
        if (rc == 0) {
            rc = buf_append_char(out, '\n');
        }
    }
    return rc;
}

size_t cfg_option_count(void)
{
    return cfg__n_options;
}

const struct cfg_option *cfg_option_at(size_t i)
{
    return i < cfg__n_options ? &cfg__options[i] : NULL;
}

const struct cfg_option *cfg_option_find(const char *key)
{
    for (size_t i = 0; i < cfg__n_options; i++) {
        if (strcmp(cfg__options[i].key, key) == 0) {
            return &cfg__options[i];
        }
    }
    return NULL;
}

int cfg_option_default_text(const struct cfg_option *o, struct buf *out)
{
    switch (o->type) {
    case CFG_TYPE_STRING:
        return append_toml_string(out, o->def_str);
    case CFG_TYPE_INT:
        return buf_printf(out, "%" PRId64, o->def_int);
    case CFG_TYPE_ENUM:
        return append_enum(out, o, (int)o->def_int);
    case CFG_TYPE_BOOL:
        return buf_append_str(out, o->def_int ? "true" : "false");
    case CFG_TYPE_STRING_ARRAY:
        return buf_append_str(out, "[]");
    }
    return OST_EINVAL;
}

int cfg_option_value_text(const struct cfg *c, const struct cfg_option *o, struct buf *out)
{
    switch (o->type) {
    case CFG_TYPE_STRING:
        return append_toml_string(out, get_str(c, o));
    case CFG_TYPE_INT:
        return buf_printf(out, "%" PRId64, get_int(c, o));
    case CFG_TYPE_ENUM:
        return append_enum(out, o, get_enum(c, o));
    case CFG_TYPE_BOOL:
        return buf_append_str(out, get_bool(c, o) ? "true" : "false");
    case CFG_TYPE_STRING_ARRAY:
        return append_strings(out, get_strs(c, o));
    }
    return OST_EINVAL;
}
