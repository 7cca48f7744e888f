/* test_jsyntax.c — pass 1 of the save fast path (common/jsyntax.c) on its own: the block
 * scanners of strings (16 bytes with SSE2, 8-byte words) at every position of a block and at
 * the end of the buffer, the UTF-8 validator, strings through jsyntax_check against jansson's
 * verdict (multi-byte sequences and escapes across block boundaries, invalid bytes in each
 * position), and the tape pass 2 reads (nodes, members, kinds, heights).  Every buffer is
 * malloc'd at its exact size (the sentinel NUL included), so that ASan reports any read past
 * its end. */
#include "common/jsyntax.h"
#include "tests/unit/unit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef const unsigned char *(*run_fn)(const unsigned char *, const unsigned char *);
static const run_fn runs[] = {jsyntax_plain_run, jsyntax_plain_run_word};

static bool plain(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* the byte-by-byte definition */
static const unsigned char *run_ref(const unsigned char *p, const unsigned char *e)
{
    while (p < e && plain(*p))
        p++;
    return p;
}

START_TEST(test_run_special_at_every_position)
{
    static const unsigned char specials[] = {'"', '\\', 0x00, 0x01, 0x1F, 0x80, 0xC3, 0xFF};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
        for (size_t len = 0; len <= 40; len++) {
            unsigned char *buf = malloc(len ? len : 1);
            ck_assert_ptr_nonnull(buf);
            memset(buf, 'a', len);
            /* all plain, also 0x20 and 0x7F (the bounds of the class): the end */
            if (len > 0)
                buf[0] = 0x20;
            if (len > 1)
                buf[len - 1] = 0x7F;
            ck_assert_ptr_eq(runs[r](buf, buf + len), buf + len);
            for (size_t start = 0; start < len && start < 17; start++)
                ck_assert_ptr_eq(runs[r](buf + start, buf + len), buf + len);
            memset(buf, 'a', len);
            for (size_t i = 0; i < len; i++)
                for (size_t s = 0; s < sizeof specials; s++) {
                    buf[i] = specials[s];
                    for (size_t start = 0; start <= i; start++)
                        ck_assert_msg(runs[r](buf + start, buf + len) == buf + i,
                                      "run %zu len %zu special 0x%02x at %zu from %zu", r, len,
                                      specials[s], i, start);
                    buf[i] = 'a';
                }
            free(buf);
        }
}
END_TEST

START_TEST(test_run_random_bytes)
{
    srand(1234);
    for (int it = 0; it < 3000; it++) {
        size_t len = (size_t)(rand() % 70);
        unsigned char *buf = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(buf);
        for (size_t i = 0; i < len; i++) /* mostly plain, now and then anything */
            buf[i] =
                rand() % 24 ? (unsigned char)(0x20 + rand() % 0x60) : (unsigned char)(rand() % 256);
        for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
            ck_assert_ptr_eq(runs[r](buf, buf + len), run_ref(buf, buf + len));
        free(buf);
    }
}
END_TEST

static size_t utf8(const char *s, size_t n)
{
    unsigned char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, s, n);
    size_t r = jsyntax_utf8_seq(buf, buf + n);
    free(buf);
    return r;
}

START_TEST(test_utf8_seq)
{
    ck_assert_uint_eq(utf8("\xC2\x80", 2), 2);
    ck_assert_uint_eq(utf8("\xDF\xBF", 2), 2);
    ck_assert_uint_eq(utf8("\xE0\xA0\x80", 3), 3);
    ck_assert_uint_eq(utf8("\xEF\xBF\xBF", 3), 3);
    ck_assert_uint_eq(utf8("\xED\x9F\xBF", 3), 3); /* U+D7FF */
    ck_assert_uint_eq(utf8("\xF0\x90\x80\x80", 4), 4);
    ck_assert_uint_eq(utf8("\xF4\x8F\xBF\xBF", 4), 4); /* U+10FFFF */
    ck_assert_uint_eq(utf8("\xC0\x80", 2), 0);         /* overlong */
    ck_assert_uint_eq(utf8("\xC1\xBF", 2), 0);
    ck_assert_uint_eq(utf8("\xE0\x9F\xBF", 3), 0);
    ck_assert_uint_eq(utf8("\xF0\x8F\xBF\xBF", 4), 0);
    ck_assert_uint_eq(utf8("\xED\xA0\x80", 3), 0);     /* U+D800 */
    ck_assert_uint_eq(utf8("\xED\xBF\xBF", 3), 0);     /* U+DFFF */
    ck_assert_uint_eq(utf8("\xF4\x90\x80\x80", 4), 0); /* over U+10FFFF */
    ck_assert_uint_eq(utf8("\xF5\x80\x80\x80", 4), 0);
    ck_assert_uint_eq(utf8("\x80", 1), 0); /* a continuation byte first */
    ck_assert_uint_eq(utf8("\xFF", 1), 0);
    /* cut by the end of the buffer; a bad continuation byte in each position */
    static const char *const full[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
    for (size_t f = 0; f < 3; f++) {
        size_t n = strlen(full[f]);
        for (size_t cut = 1; cut < n; cut++)
            ck_assert_uint_eq(utf8(full[f], cut), 0);
        for (size_t i = 1; i < n; i++) {
            char t[4];
            memcpy(t, full[f], n);
            t[i] = 'a';
            ck_assert_uint_eq(utf8(t, n), 0);
            t[i] = (char)0xC0;
            ck_assert_uint_eq(utf8(t, n), 0);
        }
    }
}
END_TEST

static struct jsyntax syn; /* large: not on the stack */

/* jsyntax_check of text[n] in an exact buffer with its sentinel; the tape stays in syn. */
static bool check_text(const char *text, size_t n)
{
    char *buf = malloc(n + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, text, n);
    buf[n] = '\0';
    bool ok = jsyntax_check(&syn, buf, n);
    free(buf);
    return ok;
}

static bool check_str(const char *text)
{
    return check_text(text, strlen(text));
}

static bool jansson_accepts(const char *text, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    json_decref(j);
    return j != NULL;
}

/* "<pad><piece><pad>" as a JSON string, for pads of 0..40 bytes: the piece crosses every
 * offset of a 16- and an 8-byte block; the verdict must be jansson's. */
static void piece_everywhere(const char *piece, size_t pn, bool valid)
{
    char text[128];
    for (size_t pad = 0; pad <= 40; pad++)
        for (size_t tail = 0; tail <= 17; tail += 17) {
            size_t n = 0;
            text[n++] = '"';
            memset(text + n, 'x', pad);
            n += pad;
            memcpy(text + n, piece, pn);
            n += pn;
            memset(text + n, 'y', tail);
            n += tail;
            text[n++] = '"';
            ck_assert_msg(jansson_accepts(text, n) == valid, "jansson: piece at %zu", pad);
            ck_assert_msg(check_text(text, n) == valid, "piece %zu bytes at %zu, tail %zu: %s", pn,
                          pad, tail, valid ? "refused" : "accepted");
            /* the string cut before its closing quote (the buffer ends inside it) */
            ck_assert(!check_text(text, n - 1));
        }
}

START_TEST(test_strings_across_blocks)
{
    static const struct {
        const char *s;
        bool valid;
    } pieces[] = {
        {"\xC3\xA9", true},
        {"\xE2\x82\xAC", true},
        {"\xF0\x9F\x98\x80", true},
        {"\\n", true},
        {"\\\"", true},
        {"\\\\", true},
        {"\\/", true},
        {"\\u00e9", true},
        {"\\uD83D\\uDE00", true},
        {"\xC3", false},
        {"\xE2\x82", false},
        {"\xF0\x9F\x98", false},
        {"\xC3\x28", false},
        {"\xE2\x28\xAC", false},
        {"\xE2\x82\x28", false},
        {"\xF0\x28\x98\x80", false},
        {"\xF0\x9F\x28\x80", false},
        {"\xF0\x9F\x98\x28", false},
        {"\x80", false},
        {"\xED\xA0\x80", false},
        {"\xC0\xAF", false},
        {"\x01", false},
        {"\x1F", false},
        {"\t", false},
        {"\\x", false},
        {"\\u12G4", false},
        {"\\", false},
    };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        /* \uD83D\uDE00 is valid, but the fast path leaves escaped surrogates to jansson */
        bool fast = pieces[i].valid && strstr(pieces[i].s, "\\uD8") == NULL;
        if (fast || !pieces[i].valid)
            piece_everywhere(pieces[i].s, strlen(pieces[i].s), pieces[i].valid);
    }
    /* a NUL inside the body is no JSON, wherever it is */
    piece_everywhere("\0", 1, false);
    jsyntax_free(&syn);
}
END_TEST

START_TEST(test_string_at_buffer_end)
{
    char text[64];
    for (size_t n = 1; n < 40; n++) {
        text[0] = '"';
        memset(text + 1, 'z', n - 1);
        ck_assert(!check_text(text, n)); /* no closing quote before the end */
        text[n] = '"';
        ck_assert(check_text(text, n + 1));
        if (n > 1) { /* the last quote escaped: none closes the string */
            text[n - 1] = '\\';
            ck_assert(!check_text(text, n + 1));
        }
    }
    jsyntax_free(&syn);
}
END_TEST

START_TEST(test_tape)
{
    const char *doc = "{\"a\":[1,-2,3.5],\"b\":{\"c\":[[]],\"d\":\"x\\ny\"},\"e\":[1,\"s\"],"
                      "\"f\":true,\"g\":false,\"h\":null,\"i\":\"plain\",\"j\":0}";
    ck_assert(check_text(doc, strlen(doc)));
    ck_assert_uint_eq(syn.nnode, 6); /* {} [1,-2,3.5] {c,d} [[]] [] [1,"s"] */
    const struct jsyntax_node *nd = syn.node;
    ck_assert_uint_eq(nd[0].kind, JSYNTAX_OBJECT);
    ck_assert_uint_eq(nd[0].n, 8);
    ck_assert_uint_eq(nd[0].height, 4);
    ck_assert_uint_eq(nd[0].next, 6);
    ck_assert_uint_eq(nd[1].kind, JSYNTAX_ARRAY);
    ck_assert_uint_eq(nd[1].n, 3);
    ck_assert(nd[1].numbers);
    ck_assert_uint_eq(nd[1].height, 1);
    ck_assert_uint_eq(nd[1].next, 2);
    ck_assert_uint_eq(nd[2].kind, JSYNTAX_OBJECT);
    ck_assert_uint_eq(nd[2].height, 3);
    ck_assert_uint_eq(nd[2].next, 5);
    ck_assert_uint_eq(nd[3].n, 1);
    ck_assert(!nd[3].numbers);
    ck_assert_uint_eq(nd[3].next, 5);
    ck_assert_uint_eq(nd[4].n, 0);
    ck_assert_uint_eq(nd[4].height, 1);
    ck_assert_uint_eq(nd[5].n, 2);
    ck_assert(!nd[5].numbers);
    const struct jsyntax_member *m = syn.mem + nd[0].first;
    static const uint32_t kinds[] = {JSYNTAX_ARRAY, JSYNTAX_OBJECT, JSYNTAX_ARRAY,  JSYNTAX_TRUE,
                                     JSYNTAX_FALSE, JSYNTAX_NULL,   JSYNTAX_STRING, JSYNTAX_UINT};
    for (int i = 0; i < 8; i++) {
        ck_assert_uint_eq(m[i].kn, 1);
        ck_assert_int_eq(doc[m[i].k], "abefghij"[i]);
        ck_assert_uint_eq(m[i].kind, kinds[i]);
    }
    ck_assert_uint_eq(m[0].node, 1);
    ck_assert_uint_eq(m[1].node, 2);
    ck_assert_uint_eq(m[2].node, 5);
    ck_assert_int_eq(strncmp(doc + m[0].v, "[1,-2,3.5]", m[0].ve - m[0].v), 0);
    ck_assert_int_eq(strncmp(doc + m[6].v, "\"plain\"", m[6].ve - m[6].v), 0);
    const struct jsyntax_member *b = syn.mem + nd[2].first;
    ck_assert_uint_eq(nd[2].n, 2);
    ck_assert_uint_eq(b[1].kind, JSYNTAX_STRING_ESC);
    ck_assert_uint_eq(b[0].node, 3);
    /* a body that is no container has no node */
    ck_assert(check_text("17", 2));
    ck_assert_uint_eq(syn.nnode, 0);
    jsyntax_free(&syn);
}
END_TEST

static uint32_t number_kind(const char *num)
{
    char text[96];
    snprintf(text, sizeof text, "{\"n\":%s}", num);
    if (!check_text(text, strlen(text)))
        return 0;
    return syn.mem[syn.node[0].first].kind;
}

START_TEST(test_numbers)
{
    ck_assert_uint_eq(number_kind("0"), JSYNTAX_UINT);
    ck_assert_uint_eq(number_kind("123456789012345678"), JSYNTAX_UINT); /* 18 digits */
    ck_assert_uint_eq(number_kind("1234567890123456789"), 0);           /* left to jansson */
    ck_assert_uint_eq(number_kind("-12345678901234567"), JSYNTAX_NUMBER);
    ck_assert_uint_eq(number_kind("-123456789012345678"), 0);
    ck_assert_uint_eq(number_kind("-0"), JSYNTAX_NUMBER);
    ck_assert_uint_eq(number_kind("1.5"), JSYNTAX_NUMBER);
    ck_assert_uint_eq(number_kind("1e5"), JSYNTAX_NUMBER);
    ck_assert_uint_eq(number_kind("1E+5"), JSYNTAX_NUMBER);
    ck_assert_uint_eq(number_kind("2.5e-3"), JSYNTAX_NUMBER);
    ck_assert_uint_eq(number_kind("1e201"), 0);
    static const char *const bad[] = {"01", "-",  "1.",   ".5",  "1e",  "1e+",
                                      "+1", "-a", "1.e5", "0x1", "--1", "1ee5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(number_kind(bad[i]) == 0, "%s", bad[i]);
        char text[32];
        snprintf(text, sizeof text, "{\"n\":%s}", bad[i]);
        ck_assert(!jansson_accepts(text, strlen(text)));
    }
    /* a number that ends the body: the sentinel stops it */
    ck_assert(check_text("12", 2));
    ck_assert(check_text("1.25e3", 6));
    ck_assert(!check_text("1.", 2));
    ck_assert(!check_text("1e", 2));
    ck_assert(!check_text("-", 1));
    jsyntax_free(&syn);
}
END_TEST

/* Every byte after numbers of each shape and length: the verdict is jansson's. */
START_TEST(test_number_ends)
{
    static const char *const heads[] = {"", "-", "0.", "-1.", "12e", "3.5E-"};
    char num[40], text[64];
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++)
        for (int nd = 1; nd <= 12; nd++) {
            snprintf(num, sizeof num, "%s%.*s", heads[h], nd, "123456789012");
            for (int c = 0; c < 256; c++) {
                if (c == '"' || c == '[' || c == '{' || c == 't' || c == 'f' || c == 'n')
                    continue; /* would start a value: invalid for both, tested elsewhere */
                size_t n = (size_t)snprintf(text, sizeof text, "[%s", num);
                text[n++] = (char)c;
                text[n++] = ']';
                /* the fast path may refuse more than jansson (a NUL: jansson reads "[1\\0]" as
                 * [1]), never accept more */
                bool ok = check_text(text, n), ref = jansson_accepts(text, n);
                ck_assert_msg(!ok || ref, "%s then 0x%02x: accepted", num, c);
                /* exponents over 200 are left to jansson (range) */
                if (c != 0 && !strpbrk(num, "eE"))
                    ck_assert_msg(ok == ref, "%s then 0x%02x", num, c);
            }
        }
    jsyntax_free(&syn);
}
END_TEST

/* An object of n keys k0..k{n-1}; with dup, key dup_at repeats key 0. */
static bool keys_object(int n, int dup_at)
{
    char text[2048];
    size_t len = 0;
    text[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s\"k%d\":%d", i ? "," : "",
                                i == dup_at ? 0 : i, i);
    text[len++] = '}';
    return check_text(text, len);
}

START_TEST(test_duplicate_keys)
{
    /* 64 distinct keys share 64 bits of the key set: bits collide, no duplicate */
    ck_assert(keys_object(JSYNTAX_MAX_KEYS, -1));
    ck_assert(!keys_object(JSYNTAX_MAX_KEYS + 1, -1));
    for (int at = 1; at < JSYNTAX_MAX_KEYS; at++)
        ck_assert_msg(!keys_object(JSYNTAX_MAX_KEYS, at), "duplicate at %d", at);
    ck_assert(!check_str("{\"\":1,\"\":2}"));
    ck_assert(check_str("{\"\":1,\"a\":{\"\":2}}")); /* another object's key */
    ck_assert(!check_str("{\"ab\":1,\"b\":2,\"ab\":3}"));
    jsyntax_free(&syn);
}
END_TEST

static Suite *jsyntax_suite(void)
{
    Suite *s = suite_create("jsyntax");
    TCase *tc = tcase_create("jsyntax");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_run_special_at_every_position);
    tcase_add_test(tc, test_run_random_bytes);
    tcase_add_test(tc, test_utf8_seq);
    tcase_add_test(tc, test_strings_across_blocks);
    tcase_add_test(tc, test_string_at_buffer_end);
    tcase_add_test(tc, test_tape);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_number_ends);
    tcase_add_test(tc, test_duplicate_keys);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(jsyntax_suite)
