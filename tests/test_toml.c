/* Tests for config/toml: every value type, tables and keys, arrays, comments
 * and line ends, and every kind of error with its exact line and message. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "config/toml.h"
#include "tests/check.h"

static int parse(const char *text, struct toml_doc **out)
{
    struct toml_error err = { 0 };
    int rc = toml_parse(text, strlen(text), out, &err);
    if (rc < 0) {
        fprintf(stderr, "    parse failed at line %d: %s\n", err.line, err.msg);
    }
    return rc;
}

/* The value at key, which must exist and have type. */
static const struct toml_value *get(const struct toml_doc *d, const char *key, enum toml_type t)
{
    const struct toml_entry *e = toml_find(d, key);
    if (e == NULL || e->val.type != t) {
        fprintf(stderr, "    %s: %s\n", key, e ? "wrong type" : "missing");
        return NULL;
    }
    return &e->val;
}

static void test_scalars(void)
{
    struct toml_doc *d = NULL;
    CHECK_OK(parse("s = \"hello\"\n"
                   "lit = 'C:\\dir\\n'\n"
                   "empty = \"\"\n"
                   "i = 42\n"
                   "neg = -17\n"
                   "pos = +5\n"
                   "zero = -0\n"
                   "max = 9_223_372_036_854_775_807\n"
                   "min = -9223372036854775808\n"
                   "hex = 0xDEAD_beef\n"
                   "oct = 0o755\n"
                   "bin = 0b1010\n"
                   "f = 3.25\n"
                   "fz = 0.5\n"
                   "e = -2e-3\n"
                   "fe = 6.5E+2\n"
                   "fu = 1_000.5\n"
                   "pinf = +inf\n"
                   "ninf = -inf\n"
                   "nan = nan\n"
                   "t = true\n"
                   "fl = false\n",
                   &d));
    const struct toml_value *v;
    CHECK((v = get(d, "s", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "hello");
    CHECK((v = get(d, "lit", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "C:\\dir\\n");
    CHECK((v = get(d, "empty", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "");
    CHECK((v = get(d, "i", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, 42);
    CHECK((v = get(d, "neg", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, -17);
    CHECK((v = get(d, "pos", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, 5);
    CHECK((v = get(d, "zero", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, 0);
    CHECK((v = get(d, "max", TOML_INT)) != NULL);
    CHECK(v->u.i == INT64_MAX);
    CHECK((v = get(d, "min", TOML_INT)) != NULL);
    CHECK(v->u.i == INT64_MIN);
    CHECK((v = get(d, "hex", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, 0xdeadbeef);
    CHECK((v = get(d, "oct", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, 0755);
    CHECK((v = get(d, "bin", TOML_INT)) != NULL);
    CHECK_INT_EQ(v->u.i, 10);
    CHECK((v = get(d, "f", TOML_FLOAT)) != NULL);
    CHECK(v->u.f == 3.25);
    CHECK((v = get(d, "fz", TOML_FLOAT)) != NULL);
    CHECK(v->u.f == 0.5);
    CHECK((v = get(d, "e", TOML_FLOAT)) != NULL);
    CHECK(v->u.f == -2e-3);
    CHECK((v = get(d, "fe", TOML_FLOAT)) != NULL);
    CHECK(v->u.f == 650.0);
    CHECK((v = get(d, "fu", TOML_FLOAT)) != NULL);
    CHECK(v->u.f == 1000.5);
    CHECK((v = get(d, "pinf", TOML_FLOAT)) != NULL);
    CHECK(v->u.f > 1e308);
    CHECK((v = get(d, "ninf", TOML_FLOAT)) != NULL);
    CHECK(v->u.f < -1e308);
    CHECK((v = get(d, "nan", TOML_FLOAT)) != NULL);
    CHECK(v->u.f != v->u.f);
    CHECK((v = get(d, "t", TOML_BOOL)) != NULL);
    CHECK(v->u.b);
    CHECK((v = get(d, "fl", TOML_BOOL)) != NULL);
    CHECK(!v->u.b);
    CHECK_INT_EQ(toml_count(d), 22);
    CHECK(toml_entry_at(d, 22) == NULL);
    CHECK(toml_find(d, "nope") == NULL);
    toml_free(d);
}

static void test_escapes(void)
{
    struct toml_doc *d = NULL;
    CHECK_OK(parse("c = \"a\\bb\\tc\\nd\\fe\\rf\\\"g\\\\h\"\n"
                   "u = \"\\u00e9\\u20AC\\U0001F600\\u0041\"\n"
                   "raw = \"caf\xc3\xa9 \xf0\x9f\x98\x80\"\n"
                   "lit = '\\u00e9 \"x\"'\n"
                   "tab = \"a\tb\"\n",
                   &d));
    const struct toml_value *v;
    CHECK((v = get(d, "c", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "a\bb\tc\nd\fe\rf\"g\\h");
    CHECK((v = get(d, "u", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                         "A");
    CHECK((v = get(d, "raw", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    CHECK((v = get(d, "lit", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "\\u00e9 \"x\"");
    CHECK((v = get(d, "tab", TOML_STRING)) != NULL);
    CHECK_STR_EQ(v->u.s, "a\tb");
    toml_free(d);
}

static void test_tables_and_keys(void)
{
    struct toml_doc *d = NULL;
    CHECK_OK(parse("top = 1\n"
                   "[server]\n"
                   "host = \"h\"\n"
                   "[server.tls]\n"
                   "cert = \"c\"\n"
                   "[db]\n"
                   "a.b.c = 1\n"
                   "a . b . d = 2\n"
                   "\"quoted key\" = 3\n"
                   "'lit.key' = 4\n"
                   "\"bare\" = 5\n"
                   "[ spaced . \"ta ble\" ]\n"
                   "\"a\".'b' = 6\n"
                   "[x.y]\n"
                   "[x]\n"
                   "[fruit]\n"
                   "apple.color = \"red\"\n"
                   "[fruit.apple.texture]\n"
                   "smooth = true\n"
                   "[db.a.b.e]\n",
                   &d));
    static const struct {
        const char *key;
        enum toml_type type;
        int line;
    } want[] = {
        { "top", TOML_INT, 1 },
        { "server", TOML_TABLE, 2 },
        { "server.host", TOML_STRING, 3 },
        { "server.tls", TOML_TABLE, 4 },
        { "server.tls.cert", TOML_STRING, 5 },
        { "db", TOML_TABLE, 6 },
        { "db.a.b.c", TOML_INT, 7 },
        { "db.a.b.d", TOML_INT, 8 },
        { "db.\"quoted key\"", TOML_INT, 9 },
        { "db.\"lit.key\"", TOML_INT, 10 },
        { "db.bare", TOML_INT, 11 },
        { "spaced.\"ta ble\"", TOML_TABLE, 12 },
        { "spaced.\"ta ble\".a.b", TOML_INT, 13 },
        { "x.y", TOML_TABLE, 14 },
        { "x", TOML_TABLE, 15 },
        { "fruit", TOML_TABLE, 16 },
        { "fruit.apple.color", TOML_STRING, 17 },
        { "fruit.apple.texture", TOML_TABLE, 18 },
        { "fruit.apple.texture.smooth", TOML_BOOL, 19 },
        { "db.a.b.e", TOML_TABLE, 20 },
    };
    CHECK_INT_EQ(toml_count(d), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct toml_entry *e = toml_entry_at(d, i);
        CHECK_STR_EQ(e->key, want[i].key);
        CHECK_INT_EQ(e->val.type, want[i].type);
        CHECK_INT_EQ(e->line, want[i].line);
    }
    toml_free(d);
}

static void test_arrays(void)
{
    struct toml_doc *d = NULL;
    CHECK_OK(parse("ints = [1, 2, 3]\n"
                   "strs = [\"x\", 'y', \"z\\u0041\"]\n"
                   "empty = []\n"
                   "multi = [\n"
                   "  \"one\", # first\n"
                   "  # a whole comment line\n"
                   "\n"
                   "  \"two\",\n"
                   "]\n"
                   "nested = [[1, 2], [\"a\"], []]\n"
                   "mixed = [1, 2.5, true, \"s\"]\n"
                   "after = 1\n",
                   &d));
    const struct toml_value *v;
    CHECK((v = get(d, "ints", TOML_ARRAY)) != NULL);
    CHECK_INT_EQ(v->u.arr.n, 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT_EQ(v->u.arr.items[i].type, TOML_INT);
        CHECK_INT_EQ(v->u.arr.items[i].u.i, (int64_t)i + 1);
    }
    CHECK((v = get(d, "strs", TOML_ARRAY)) != NULL);
    CHECK_INT_EQ(v->u.arr.n, 3);
    CHECK_STR_EQ(v->u.arr.items[0].u.s, "x");
    CHECK_STR_EQ(v->u.arr.items[1].u.s, "y");
    CHECK_STR_EQ(v->u.arr.items[2].u.s, "zA");
    CHECK((v = get(d, "empty", TOML_ARRAY)) != NULL);
    CHECK_INT_EQ(v->u.arr.n, 0);
    CHECK((v = get(d, "multi", TOML_ARRAY)) != NULL);
    CHECK_INT_EQ(v->u.arr.n, 2);
    CHECK_STR_EQ(v->u.arr.items[0].u.s, "one");
    CHECK_STR_EQ(v->u.arr.items[1].u.s, "two");
    CHECK_INT_EQ(toml_find(d, "multi")->line, 4);
    CHECK((v = get(d, "nested", TOML_ARRAY)) != NULL);
    CHECK_INT_EQ(v->u.arr.n, 3);
    CHECK_INT_EQ(v->u.arr.items[0].type, TOML_ARRAY);
    CHECK_INT_EQ(v->u.arr.items[0].u.arr.n, 2);
    CHECK_INT_EQ(v->u.arr.items[0].u.arr.items[1].u.i, 2);
    CHECK_STR_EQ(v->u.arr.items[1].u.arr.items[0].u.s, "a");
    CHECK_INT_EQ(v->u.arr.items[2].u.arr.n, 0);
    CHECK((v = get(d, "mixed", TOML_ARRAY)) != NULL);
    CHECK_INT_EQ(v->u.arr.n, 4);
    CHECK_INT_EQ(v->u.arr.items[1].type, TOML_FLOAT);
    CHECK_INT_EQ(v->u.arr.items[2].type, TOML_BOOL);
    CHECK_INT_EQ(v->u.arr.items[3].type, TOML_STRING);
    CHECK_INT_EQ(toml_find(d, "after")->line, 12);
    toml_free(d);
}

static void test_comments_and_crlf(void)
{
    struct toml_doc *d = NULL;
    CHECK_OK(parse("# leading comment\n"
                   "\n"
                   "   # indented comment with \"quotes\" = and [brackets]\n"
                   "[t] # after a header\n"
                   "\ta = 1 # after a value\n"
                   "b = \"# not a comment\"#right after\n"
                   "#\n"
                   "c = [ # after a bracket\n"
                   "  1 # after an item\n"
                   "  , 2 ] # done\n"
                   "# trailing comment without newline",
                   &d));
    CHECK_INT_EQ(toml_count(d), 4);
    CHECK_INT_EQ(toml_find(d, "t")->line, 4);
    CHECK_INT_EQ(toml_find(d, "t.a")->line, 5);
    CHECK_STR_EQ(toml_find(d, "t.b")->val.u.s, "# not a comment");
    CHECK_INT_EQ(toml_find(d, "t.c")->val.u.arr.n, 2);
    toml_free(d);

    d = NULL;
    CHECK_OK(parse("a = 1\r\n\r\n[t]\r\nb = \"x\" # c\r\nc = [\r\n 1,\r\n]\r\nd = 'y'", &d));
    CHECK_INT_EQ(toml_count(d), 5);
    CHECK_INT_EQ(toml_find(d, "t")->line, 3);
    CHECK_STR_EQ(toml_find(d, "t.b")->val.u.s, "x");
    CHECK_INT_EQ(toml_find(d, "t.d")->line, 8);
    CHECK_STR_EQ(toml_find(d, "t.d")->val.u.s, "y");
    toml_free(d);

    d = NULL;
    CHECK_OK(toml_parse(NULL, 0, &d, NULL));
    CHECK_INT_EQ(toml_count(d), 0);
    toml_free(d);
    toml_free(NULL);
}

/* Parses len bytes that must fail at line with msg; *out must stay as is. */
static bool fails_with(const char *text, size_t len, int line, const char *msg)
{
    struct toml_doc *sentinel = (struct toml_doc *)&sentinel, *d = sentinel;
    struct toml_error err = { 0 };
    int rc = toml_parse(text, len, &d, &err);
    if (rc == OST_EPARSE && err.line == line && strcmp(err.msg, msg) == 0 && d == sentinel) {
        return true;
    }
    fprintf(stderr, "    input: \"%.*s\"\n    want %d: %s\n    got  %d: %s (rc %d)\n", (int)len,
            text, line, msg, err.line, err.msg, rc);
    if (rc == 0) {
        toml_free(d);
    }
    return false;
}

static void test_errors(void)
{
    static const struct {
        const char *text;
        int line;
        const char *msg;
    } cases[] = {
        /* duplicate keys and redefined tables */
        { "a = 1\nb = 2\na = 3\n", 3, "duplicate key a" },
        { "[t]\nx = 1\n\nx = 2\n", 4, "duplicate key t.x" },
        { "a = 1\n\"a\" = 2\n", 2, "duplicate key a" },
        { "[a.b]\n[a]\nb = 1\n", 3, "duplicate key a.b" },
        { "a.b = 1\na = 2\n", 2, "duplicate key a" },
        { "[t]\nx = 1\n[u]\n[t]\n", 4, "table [t] is defined twice" },
        { "[t]\n[ \"t\" ]\n", 2, "table [t] is defined twice" },
        { "[f]\na.b = 1\n[f.a]\n", 3, "table [f.a] was already defined by dotted keys" },
        { "[a.b]\nx = 1\n[a]\nb.y = 2\n", 4, "cannot add to table [a.b] with dotted keys" },
        { "a = 1\n[a.b]\n", 2, "a is a value, not a table" },
        { "a = 1\na.b = 2\n", 2, "a is a value, not a table" },
        { "a = 1\n[a]\n", 2, "a is a value, not a table" },
        /* strings */
        { "a = 1\ns = \"x\\qy\"\n", 2, "invalid escape sequence \\q" },
        { "s = \"x\\ y\"\n", 1, "invalid escape sequence" },
        { "s = \"\\u12G4\"\n", 1, "invalid \\u escape: expected 4 hex digits" },
        { "s = \"\\U0001F60\"\n", 1, "invalid \\U escape: expected 8 hex digits" },
        { "s = \"\\uD800\"\n", 1, "\\u escape is not a Unicode scalar value" },
        { "s = \"\\U00110000\"\n", 1, "\\U escape is not a Unicode scalar value" },
        { "s = \"\\UFFFFFFFF\"\n", 1, "\\U escape is not a Unicode scalar value" },
        { "s = \"\\u0000\"\n", 1, "NUL characters are not supported" },
        { "a = 1\ns = \"a\x01z\"\n", 2, "control character U+0001 is not allowed" },
        { "a = 1\n# x\x7f\n", 2, "control character U+007F is not allowed" },
        { "a = 1\rb = 2\n", 1, "carriage return without line feed" },
        { "a = 1\ns = \"\xc3\x28\"\n", 2, "invalid UTF-8" },
        { "s = \"\xc0\xaf\"\n", 1, "invalid UTF-8" },
        { "s = \"\xed\xa0\x80\"\n", 1, "invalid UTF-8" },
        { "s = \"\xf4\x90\x80\x80\"\n", 1, "invalid UTF-8" },
        { "s = \"\xe2\x82\"", 1, "invalid UTF-8" },
        { "a = 1\ns = \"abc\nt = 2\n", 2, "unterminated string" },
        { "s = 'abc\n", 1, "unterminated string" },
        { "a = 1\r\ns = \"abc\r\n", 2, "unterminated string" },
        { "s = \"abc\\", 1, "unterminated string" },
        { "s = \"\"\"x\"\"\"\n", 1, "multi-line strings are not supported" },
        { "s = '''x'''\n", 1, "multi-line strings are not supported" },
        /* keys, '=' and trailing text */
        { "a = 1\nb 2\n", 2, "expected '=' after key" },
        { "a\n", 1, "expected '=' after key" },
        { "a = 1 2\n", 1, "unexpected text after value" },
        { "s = \"x\" y\n", 1, "unexpected text after value" },
        { "a = [1] ]\n", 1, "unexpected text after value" },
        { "[t] x\n", 1, "unexpected text after table header" },
        { "$ = 1\n", 1, "invalid key" },
        { "a. = 1\n", 1, "invalid key" },
        { "a..b = 1\n", 1, "invalid key" },
        { "= 1\n", 1, "invalid key" },
        { "[]\n", 1, "invalid key" },
        { "[a\n", 1, "expected ']' after table name" },
        { "[a b]\n", 1, "expected ']' after table name" },
        { "[[t]]\n", 1, "arrays of tables are not supported" },
        /* values */
        { "a =\n", 1, "expected a value" },
        { "a = # c\n", 1, "expected a value" },
        { "a = hello\n", 1, "expected a value" },
        { "a = True\n", 1, "expected a value" },
        { "a = .5\n", 1, "expected a value" },
        { "t = {a = 1}\n", 1, "inline tables are not supported" },
        { "d = 1979-05-27\n", 1, "dates and times are not supported" },
        { "t = 07:32:00\n", 1, "dates and times are not supported" },
        { "a = 1__2\n", 1, "invalid integer" },
        { "a = 1_\n", 1, "invalid integer" },
        { "a = 12a\n", 1, "invalid integer" },
        { "a = +-1\n", 1, "invalid integer" },
        { "a = -\n", 1, "invalid integer" },
        { "a = 0x\n", 1, "invalid integer" },
        { "a = 0xG1\n", 1, "invalid integer" },
        { "a = 0b102\n", 1, "invalid integer" },
        { "a = 0o8\n", 1, "invalid integer" },
        { "a = 0x_1\n", 1, "invalid integer" },
        { "a = 9223372036854775808\n", 1, "integer out of range" },
        { "a = -9223372036854775809\n", 1, "integer out of range" },
        { "a = 0x8000000000000000\n", 1, "integer out of range" },
        { "a = 012\n", 1, "leading zeros are not allowed" },
        { "a = -01\n", 1, "leading zeros are not allowed" },
        { "a = 0_1\n", 1, "leading zeros are not allowed" },
        { "a = 00.5\n", 1, "leading zeros are not allowed" },
        { "a = 0_1.5\n", 1, "leading zeros are not allowed" },
        { "a = 1.\n", 1, "invalid float" },
        { "a = 1.5.2\n", 1, "invalid float" },
        { "a = 1e\n", 1, "invalid float" },
        { "a = 1._5\n", 1, "invalid float" },
        { "a = 1.e5\n", 1, "invalid float" },
        { "a = 1e400\n", 1, "float out of range" },
        /* arrays */
        { "a = [1, 2\n", 1, "unterminated array" },
        { "x = 1\na = [\n  1,\n  2,\n", 2, "unterminated array" },
        { "a = [[1]\n", 1, "unterminated array" },
        { "a = [1 2]\n", 1, "expected ',' or ']' in array" },
        { "a = [\n1\n\"x\"]\n", 3, "expected ',' or ']' in array" },
        { "a = [1,\nb = 2\n", 2, "expected a value" },
        { "a = [,]\n", 1, "expected a value" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(fails_with(cases[i].text, strlen(cases[i].text), cases[i].line, cases[i].msg));
    }
    static const char nul[] = "a = 1\nb = 2\n\0";
    CHECK(fails_with(nul, sizeof(nul) - 1, 3, "control character U+0000 is not allowed"));
}

/* Nesting up to TOML_MAX_DEPTH parses; one level more fails. */
static void test_depth(void)
{
    for (int extra = 0; extra <= 1; extra++) {
        int depth = TOML_MAX_DEPTH + extra;
        struct buf arrays, key, split;
        buf_init(&arrays);
        buf_init(&key);
        buf_init(&split);
        buf_append_str(&arrays, "x = 1\na = ");
        for (int i = 0; i < depth; i++) {
            buf_append_char(&arrays, '[');
        }
        for (int i = 0; i < depth; i++) {
            buf_append_char(&arrays, ']');
        }
        buf_append_str(&key, "x = 1\n\nk");
        buf_append_str(&split, "[t0");
        for (int i = 1; i < depth; i++) {
            buf_printf(&key, ".k%d", i);
            buf_printf(&split, i == depth / 2 ? "]\nk%d" : ".k%d", i);
        }
        buf_append_str(&key, " = 1\n");
        buf_append_str(&split, " = 1\n");
        struct toml_doc *d = NULL;
        const char *texts[] = { buf_cstr(&arrays), buf_cstr(&key), buf_cstr(&split) };
        const int lines[] = { 2, 3, 2 };
        bool ok = true;
        for (int t = 0; t < 3 && ok; t++) {
            if (extra == 0) {
                ok = parse(texts[t], &d) == 0;
                toml_free(d);
            } else {
                ok = fails_with(texts[t], strlen(texts[t]), lines[t],
                                "nesting deeper than 16 levels");
            }
        }
        buf_fini(&arrays);
        buf_fini(&key);
        buf_fini(&split);
        CHECK(ok);
    }
}

static void test_type_names(void)
{
    CHECK_STR_EQ(toml_type_name(TOML_STRING), "a string");
    CHECK_STR_EQ(toml_type_name(TOML_INT), "an integer");
    CHECK_STR_EQ(toml_type_name(TOML_FLOAT), "a float");
    CHECK_STR_EQ(toml_type_name(TOML_BOOL), "a boolean");
    CHECK_STR_EQ(toml_type_name(TOML_ARRAY), "an array");
    CHECK_STR_EQ(toml_type_name(TOML_TABLE), "a table");
    struct toml_doc *d = NULL;
    CHECK_INT_EQ(toml_parse("a = 1", 5, NULL, NULL), OST_EINVAL);
    CHECK_INT_EQ(toml_parse(NULL, 1, &d, NULL), OST_EINVAL);
    CHECK(d == NULL);
}

CHECK_MAIN({ "scalars", test_scalars }, { "escapes", test_escapes },
           { "tables_and_keys", test_tables_and_keys }, { "arrays", test_arrays },
           { "comments_and_crlf", test_comments_and_crlf }, { "errors", test_errors },
           { "depth", test_depth }, { "type_names", test_type_names })
