/* wire: the bytes each message makes, round trips of every kind and of texts
 * of every length around a record's 24 bytes up to the maximum, a site's
 * identity fields (empty, many frames, cut at the maximum), malformed
 * sequences (each counted, the reader back at the next header), reading
 * split across batches, random records. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define CANARY 0xA5
#define STREAM_MAX 4096

static lw_record_t recs[STREAM_MAX];

/* A message read back, its text copied out of the reader. */
typedef struct got {
    lw_wire_msg_t msg;
    char text[LW_WIRE_TEXT_MAX + 1];
} got_t;

static got_t got[64];

/* Reads n records as one batch; returns the messages, copied into got[]. */
static size_t read_all(lw_wire_reader_t *r, const lw_record_t *in, size_t n)
{
    const lw_record_t *next = in;
    size_t m = 0;
    lw_wire_msg_t msg;

    while (lw_wire_read(r, &next, in + n, &msg)) {
        assert_true(next > in && next <= in + n);
        assert_true(m < sizeof(got) / sizeof(got[0]));
        got[m].msg = msg;
        if (msg.text) {
            assert_true(msg.text_len <= LW_WIRE_TEXT_MAX);
            assert_int_equal(msg.text[msg.text_len], '\0');
            memcpy(got[m].text, msg.text, msg.text_len + 1);
            got[m].msg.text = got[m].text;
        }
        m++;
    }
    assert_ptr_equal(next, in + n);
    return m;
}

static void assert_msg_equal(const lw_wire_msg_t *a, const lw_wire_msg_t *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->id, b->id);
    switch (a->kind) {
    case LW_REC_HELLO:
        assert_int_equal(a->u.hello.pid, b->u.hello.pid);
        assert_int_equal(a->u.hello.spawn, b->u.hello.spawn);
        assert_int_equal(a->u.hello.spawned_us, b->u.hello.spawned_us);
        break;
    case LW_REC_DELTA:
        assert_int_equal(a->u.delta.bytes, b->u.delta.bytes);
        assert_int_equal(a->u.delta.count, b->u.delta.count);
        assert_int_equal(a->u.delta.endpoint, b->u.delta.endpoint);
        assert_int_equal(a->u.delta.flags, b->u.delta.flags);
        break;
    case LW_REC_SITE:
        assert_int_equal(a->u.site.line, b->u.site.line);
        assert_int_equal(a->u.site.app_line, b->u.site.app_line);
        assert_int_equal(a->u.site.nframes, b->u.site.nframes);
        /* fall through */
    default:
        assert_int_equal(a->text_len, b->text_len);
        assert_memory_equal(a->text, b->text, a->text_len);
    }
}

/* Encodes msg at recs[*n] (asserting it fits), advancing *n. */
static void encode(size_t *n, const lw_wire_msg_t *msg)
{
    int k = lw_wire_encode(&recs[*n], STREAM_MAX - *n, msg);

    assert_true(k > 0);
    *n += (size_t)k;
}

static lw_record_t record(uint16_t kind, uint32_t id)
{
    lw_record_t r;

    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.id = id;
    return r;
}

/* The records plugin/engine.c wrote by hand before this module, byte for byte. */
static void test_wire_encodes_the_bytes_the_engine_sent(void **state)
{
    static const char text[] = "/srv/app.py\0handler\0/srv/app.py\0handler\0/srv/app.py\0"
                               "12\0handler"; /* 63 bytes with the last '\0' */
    const lw_wire_frame_t frame = {"/srv/app.py", 12, "handler"};
    const lw_wire_site_t site = {5, 12, 12, "/srv/app.py", "handler", "/srv/app.py", "handler",
                                 &frame, 1};
    lw_wire_msg_t hello = {.kind = LW_REC_HELLO, .u.hello = {4242, 3, 1700000000123456}};
    lw_wire_msg_t delta = {.kind = LW_REC_DELTA, .id = 7,
                           .u.delta = {-4096, -65536, 2, LW_DELTA_COLLECTED}};
    lw_wire_msg_t endpoint = {.kind = LW_REC_ENDPOINT, .id = 2, .text = "/orders/{id}",
                              .text_len = 12};
    lw_record_t want[4], out[8];

    (void)state;
    want[0] = record(LW_REC_HELLO, 0);
    want[0].u.hello.pid = 4242;
    want[0].u.hello.spawn = 3;
    want[0].u.hello.spawned_us = 1700000000123456;
    assert_int_equal(lw_wire_encode(out, 1, &hello), 1);
    assert_memory_equal(out, want, sizeof(lw_record_t));

    want[0] = record(LW_REC_DELTA, 7);
    want[0].u.delta.bytes = -4096;
    want[0].u.delta.count = -65536;
    want[0].u.delta.endpoint = 2;
    want[0].u.delta.flags = LW_DELTA_COLLECTED; /* the engine's reserved 0 before: a flag now */
    assert_int_equal(lw_wire_encode(out, 1, &delta), 1);
    assert_memory_equal(out, want, sizeof(lw_record_t));

    want[0] = record(LW_REC_ENDPOINT, 2);
    want[0].u.site.text_len = 12;
    want[1] = record(LW_REC_TEXT, 0);
    want[1].len = 12;
    memcpy(want[1].u.text, "/orders/{id}", 12);
    assert_int_equal(lw_wire_encode(out, 8, &endpoint), 2);
    assert_memory_equal(out, want, 2 * sizeof(lw_record_t));

    want[0] = record(LW_REC_SITE, 5);
    want[0].u.site.line = 12;
    want[0].u.site.app_line = 12;
    want[0].u.site.text_len = sizeof(text);
    want[0].u.site.nframes = 1;
    for (int i = 1; i <= 3; i++) {
        want[i] = record(LW_REC_TEXT, 0);
        want[i].len = i < 3 ? 24 : sizeof(text) - 48;
        memcpy(want[i].u.text, text + 24 * (i - 1), want[i].len);
    }
    memset(out, CANARY, sizeof(out)); /* bytes a record leaves unused must be 0 */
    assert_int_equal(lw_wire_encode_site(out, 8, &site), 4);
    assert_memory_equal(out, want, 4 * sizeof(lw_record_t));
}

static void test_wire_round_trips_every_kind(void **state)
{
    static const char other[] = "<other sites: table full>\0?\0\0"; /* 4 fields */
    const lw_wire_msg_t msgs[] = {
        {.kind = LW_REC_HELLO, .u.hello = {4242, 7, 1700000000123456}},
        {.kind = LW_REC_HELLO, .u.hello = {-1, UINT64_MAX, 0}},
        {.kind = LW_REC_ENDPOINT, .id = 1, .text = "/orders/{id}", .text_len = 12},
        {.kind = LW_REC_ENDPOINT, .id = 0, .text = "", .text_len = 0},
        {.kind = LW_REC_SITE, .id = 0, .u.site = {-3, -3, 0}, .text = other,
         .text_len = sizeof(other)},
        {.kind = LW_REC_SITE, .id = 16383, .u.site = {INT32_MAX, INT32_MIN, 128}, .text = "",
         .text_len = 0},
        {.kind = LW_REC_DELTA, .id = 16383, .u.delta = {-123456789, -3 * 65536, 1023}},
        {.kind = LW_REC_DELTA, .id = 9, .u.delta = {-8192, -65536, 3, LW_DELTA_COLLECTED}},
        {.kind = LW_REC_DELTA, .id = 0, .u.delta = {INT64_MAX, INT64_MIN, 0}},
        {.kind = LW_REC_HELD, .id = 7, .text = "held by: Profiler.records (list, 4 items)",
         .text_len = 41},
        {.kind = LW_REC_HELD, .id = 8, .text = "", .text_len = 0},
    };
    const size_t nmsgs = sizeof(msgs) / sizeof(msgs[0]);
    lw_wire_reader_t r;
    size_t n = 0;

    (void)state;
    lw_wire_reader_init(&r);
    for (size_t i = 0; i < nmsgs; i++)
        encode(&n, &msgs[i]);
    assert_int_equal(read_all(&r, recs, n), nmsgs);
    for (size_t i = 0; i < nmsgs; i++)
        assert_msg_equal(&got[i].msg, &msgs[i]);
    assert_int_equal(r.malformed, 0);
}

/* Texts of every length over the first records, and up to the maximum. */
static void test_wire_round_trips_text_of_every_length(void **state)
{
    static char text[LW_WIRE_TEXT_MAX + 4 * LW_RECORD_TEXT + 4];
    uint32_t lens[4 * LW_RECORD_TEXT + 4];
    size_t nlens = 0;
    lw_wire_reader_t r;

    (void)state;
    for (uint32_t len = 0; len <= 3 * LW_RECORD_TEXT + 1; len++)
        lens[nlens++] = len;
    lens[nlens++] = LW_WIRE_TEXT_MAX - LW_RECORD_TEXT - 1;
    lens[nlens++] = LW_WIRE_TEXT_MAX - LW_RECORD_TEXT;
    lens[nlens++] = LW_WIRE_TEXT_MAX - 1;
    lens[nlens++] = LW_WIRE_TEXT_MAX;
    for (size_t i = 0; i < sizeof(text); i++) /* any byte, '\0' and 0xff included */
        text[i] = (char)(i * 37 % 256);
    lw_wire_reader_init(&r);
    for (size_t i = 0; i < nlens; i++) {
        static const int kinds[] = {LW_REC_SITE, LW_REC_ENDPOINT, LW_REC_HELD};
        for (size_t j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++) {
            int kind = kinds[j];
            lw_wire_msg_t m = {.kind = kind, .id = (uint32_t)i, .text = text + i,
                               .text_len = lens[i]};
            size_t n = 0;
            m.u.site.line = kind == LW_REC_SITE ? (int32_t)i : 0;
            memset(recs, CANARY, sizeof(recs));
            encode(&n, &m);
            assert_int_equal(n, LW_WIRE_RECORDS(lens[i]));
            for (size_t k = 1; k < n; k++) {
                uint32_t len = lens[i] - (uint32_t)(k - 1) * LW_RECORD_TEXT;
                len = len < LW_RECORD_TEXT ? len : LW_RECORD_TEXT;
                assert_int_equal(recs[k].kind, LW_REC_TEXT);
                assert_int_equal(recs[k].len, len);
                for (uint32_t b = len; b < LW_RECORD_TEXT; b++)
                    assert_int_equal(recs[k].u.text[b], 0);
            }
            assert_int_equal(recs[n].kind, CANARY << 8 | CANARY); /* nothing written past */
            for (size_t k = 0; k + 1 < n; k++) /* the message comes with its last record */
                assert_int_equal(read_all(&r, &recs[k], 1), 0);
            assert_int_equal(read_all(&r, &recs[n - 1], 1), 1);
            assert_msg_equal(&got[0].msg, &m);
        }
    }
    assert_int_equal(r.malformed, 0);
}

static void test_wire_encode_refuses_what_it_cannot_send(void **state)
{
    static char text[LW_WIRE_TEXT_MAX + 1];
    lw_wire_msg_t big = {.kind = LW_REC_SITE, .text = text, .text_len = LW_WIRE_TEXT_MAX + 1};
    lw_wire_msg_t name = {.kind = LW_REC_ENDPOINT, .text = text, .text_len = 25};
    lw_wire_msg_t hello = {.kind = LW_REC_HELLO};
    const lw_wire_site_t site = {.file = "f"};
    lw_record_t out[4], before[4];

    (void)state;
    memset(out, CANARY, sizeof(out));
    memcpy(before, out, sizeof(out));
    assert_int_equal(lw_wire_encode(out, STREAM_MAX, &big), -EMSGSIZE);
    assert_int_equal(lw_wire_encode(out, 2, &name), -ENOSPC); /* 25 bytes take 2 TEXT records */
    assert_int_equal(lw_wire_encode(out, 0, &hello), -ENOSPC);
    for (int kind = 0; kind < 8; kind++) {
        lw_wire_msg_t m = {.kind = kind};
        if (kind == LW_REC_TEXT || kind == 0 || kind > LW_REC_HELD)
            assert_int_equal(lw_wire_encode(out, 4, &m), -EINVAL);
    }
    assert_int_equal(lw_wire_encode_site(out, 1, &site), -ENOSPC);
    assert_memory_equal(out, before, sizeof(out)); /* no error wrote anything */
    assert_int_equal(lw_wire_encode(out, 3, &name), 3);
}

/* Checks every field of a site's text read back against the site. */
static void assert_fields(const got_t *g, const lw_wire_site_t *s, uint32_t nframes)
{
    const char *head[] = {s->file, s->func, s->app_file, s->app_func};
    const char *text = g->msg.text;
    uint32_t len = g->msg.text_len, ident = 0;
    char line[16];

    assert_int_equal(g->msg.kind, LW_REC_SITE);
    assert_int_equal(g->msg.id, s->id);
    assert_int_equal(g->msg.u.site.line, s->line);
    assert_int_equal(g->msg.u.site.app_line, s->app_line);
    assert_int_equal(g->msg.u.site.nframes, nframes);
    for (uint32_t k = 0; k < 4; k++) {
        assert_string_equal(lw_wire_field(text, len, k), head[k] ? head[k] : "");
        ident += (uint32_t)strlen(head[k] ? head[k] : "") + 1;
    }
    assert_int_equal(lw_wire_identity_len(text, len), ident);
    for (uint32_t f = 0; f < nframes; f++) {
        snprintf(line, sizeof(line), "%d", (int)s->frames[f].line);
        assert_string_equal(lw_wire_field(text, len, 4 + 3 * f),
                            s->frames[f].file ? s->frames[f].file : "");
        assert_string_equal(lw_wire_field(text, len, 5 + 3 * f), line);
        assert_string_equal(lw_wire_field(text, len, 6 + 3 * f),
                            s->frames[f].func ? s->frames[f].func : "");
    }
    assert_string_equal(lw_wire_field(text, len, 4 + 3 * nframes), ""); /* no more fields */
    assert_int_equal(text[len - 1], '\0');
}

static void test_wire_site_fields_round_trip(void **state)
{
    static lw_wire_frame_t many[40];
    static char names[40][2][32];
    static const lw_wire_frame_t one = {"/srv/app.py", 12, "handler"};
    static const lw_wire_frame_t empty[] = {{"", 0, ""}, {NULL, -1, NULL}};
    const lw_wire_site_t sites[] = {
        {1, 12, 12, "/srv/app.py", "handler", "/srv/app.py", "handler", &one, 1},
        {2, 1353, 10, "/usr/lib/python3.11/logging/__init__.py", "Logger.getLogger",
         "/srv/app.py", "view", &one, 1},
        {3, -1, -1, "<no Python frame>", "", "", "", NULL, 0},
        {4, 0, 0, "", "", "", "", empty, 2},
        {5, 7, 0, NULL, NULL, NULL, NULL, empty, 2},
        {16383, 40, 1000, "/srv/lib/deep.py", "f", "/srv/app.py", "route", many, 40},
    };
    const size_t nsites = sizeof(sites) / sizeof(sites[0]);
    lw_wire_reader_t r;

    (void)state;
    for (int f = 0; f < 40; f++) {
        snprintf(names[f][0], sizeof(names[f][0]), "/srv/lib/mod_%02d.py", f);
        snprintf(names[f][1], sizeof(names[f][1]), "fn_%d", f);
        many[f] = (lw_wire_frame_t){names[f][0], f * 100 - 1, f % 3 ? names[f][1] : ""};
    }
    lw_wire_reader_init(&r);
    for (size_t i = 0; i < nsites; i++) {
        int n = lw_wire_encode_site(recs, LW_WIRE_SITE_RECORDS, &sites[i]);
        assert_true(n > 1);
        assert_int_equal(read_all(&r, recs, (size_t)n), 1);
        assert_fields(&got[0], &sites[i], sites[i].nframes);
    }
    assert_int_equal(r.malformed, 0);
}

/* Encodes a site, reads it back into got[0]; returns the records it took. */
static int site_round_trip(const lw_wire_site_t *s, size_t max)
{
    lw_wire_reader_t r;
    int n;

    memset(recs, CANARY, sizeof(recs));
    n = lw_wire_encode_site(recs, max, s);
    assert_true(n > 1 && (size_t)n <= max);
    assert_int_equal(recs[max].kind, CANARY << 8 | CANARY); /* nothing written past max */
    lw_wire_reader_init(&r);
    assert_int_equal(read_all(&r, recs, (size_t)n), 1);
    assert_int_equal(r.malformed, 0);
    return n;
}

static void test_wire_site_is_cut_at_the_maximum(void **state)
{
    static lw_wire_frame_t frames[128];
    static char file[LW_WIRE_SITE_TEXT];
    lw_wire_site_t s = {9, 5, 5, "f", "g", "", "", frames, 128};
    const uint32_t frame = 60 + 1 + 5 + 5; /* file, line 1000..1127, "func", '\0's */
    uint32_t size = 0, kept = 0;

    (void)state;
    /* 128 frames after 6 bytes of identity: whole frames up to 2048 */
    memset(file, 'x', 60);
    for (int f = 0; f < 128; f++)
        frames[f] = (lw_wire_frame_t){file, 1000 + f, "func"};
    for (size = 6; size + frame <= LW_WIRE_SITE_TEXT; size += frame)
        kept++;
    assert_int_equal(site_round_trip(&s, LW_WIRE_SITE_RECORDS + 4), LW_WIRE_RECORDS(size));
    assert_int_equal(got[0].msg.text_len, size);
    assert_fields(&got[0], &s, kept);

    /* one frame that makes exactly LW_WIRE_SITE_TEXT bytes is kept; a byte more, not */
    memset(file, 'y', LW_WIRE_SITE_TEXT - 6 - 5);
    s.nframes = 1;
    frames[0] = (lw_wire_frame_t){file, 1, "x"};
    assert_int_equal(site_round_trip(&s, LW_WIRE_SITE_RECORDS), LW_WIRE_SITE_RECORDS);
    assert_int_equal(got[0].msg.text_len, LW_WIRE_SITE_TEXT);
    assert_fields(&got[0], &s, 1);
    file[LW_WIRE_SITE_TEXT - 6 - 5] = 'y';
    assert_int_equal(site_round_trip(&s, LW_WIRE_SITE_RECORDS + 4), 2);
    assert_fields(&got[0], &s, 0);

    /* a smaller array cuts at what it holds: 3 records of text, 72 bytes, 3 frames of 20 */
    memset(file, 0, sizeof(file));
    memset(file, 'z', 15);
    s.nframes = 128;
    for (int f = 0; f < 128; f++)
        frames[f] = (lw_wire_frame_t){file, 7, "f"};
    assert_int_equal(site_round_trip(&s, 4), 4);
    assert_int_equal(got[0].msg.text_len, 6 + 3 * 20);
    assert_fields(&got[0], &s, 3);
}

/* Identity fields too long for the text are cut, at a character, and stay four. */
static void test_wire_site_cuts_identity_fields_that_alone_do_not_fit(void **state)
{
    static char file[2002], func[401], cut[401];
    const lw_wire_frame_t frame = {"/srv/app.py", 1, "f"};
    lw_wire_site_t s = {1, 1, 1, file, func, "/srv/app.py", "view", &frame, 1};

    (void)state;
    memset(file, 'a', 2001);
    for (int i = 0; i < 200; i++) /* "é" is two bytes: 0xc3 0xa9 */
        memcpy(func + 2 * i, "\xc3\xa9", 2);
    /* func: 2048 - 2002 - 3 '\0's to come = 43 bytes, so 21 whole characters;
     * app file: 1 byte and its '\0', app function: its '\0' */
    site_round_trip(&s, LW_WIRE_SITE_RECORDS);
    memcpy(cut, func, 42);
    assert_string_equal(lw_wire_field(got[0].msg.text, got[0].msg.text_len, 0), file);
    assert_string_equal(lw_wire_field(got[0].msg.text, got[0].msg.text_len, 1), cut);
    assert_string_equal(lw_wire_field(got[0].msg.text, got[0].msg.text_len, 2), "/");
    assert_string_equal(lw_wire_field(got[0].msg.text, got[0].msg.text_len, 3), "");
    assert_int_equal(got[0].msg.u.site.nframes, 0);
    assert_int_equal(got[0].msg.text_len, LW_WIRE_SITE_TEXT);
    assert_int_equal(lw_wire_identity_len(got[0].msg.text, got[0].msg.text_len),
                     LW_WIRE_SITE_TEXT);
}

/*
 * Malformed sequences, written as tokens: H hello, D delta, S<n> / E<n> a
 * SITE / ENDPOINT header announcing n bytes, T<n> a TEXT of n bytes, X<k> a
 * record of kind k. Each case must yield `messages`, then read a valid
 * SITE and DELTA that follow, and have counted `malformed` by then.
 */
static const struct malformed_case {
    const char *records;
    uint64_t malformed;
    size_t messages;
} malformed_cases[] = {
    {"T5", 1, 0},                   /* a TEXT without a header */
    {"S30 T24 T6", 0, 1},           /* (valid) */
    {"S0", 0, 1},                   /* (valid: an empty text comes with its header) */
    {"S30 T24 T24", 1, 0},          /* past the announced length */
    {"S30 T24 T7", 1, 0},           /* past it by one byte */
    {"S30 T25 T5", 2, 0},           /* a TEXT longer than a record; what follows is stray */
    {"S30 T0 T24 T6", 3, 0},        /* an empty TEXT; what follows is stray */
    {"S4097 T24", 2, 0},            /* beyond the maximum; its TEXT is stray */
    {"E4294967295", 1, 0},          /* far beyond */
    {"S4096 T24", 1, 0},            /* the maximum, cut short by the SITE after the case */
    {"X0", 1, 0},                   /* unknown kinds */
    {"X99 X65535 X7", 3, 0},
    {"S30 T24 S30 T24 T6", 1, 1},   /* a header interrupted by another header */
    {"E30 T24 S30 T24 T6", 1, 1},
    {"S30 T24 D", 1, 1},            /* ... by a DELTA, which is read */
    {"E30 T24 H", 1, 1},            /* ... by a HELLO, which is read */
    {"S30 X99 T6", 3, 0},           /* ... by an unknown record; the rest is stray */
    {"T24 T24 H D", 2, 2},
};

/* Appends the records a case's tokens name at recs[*n]. */
static void build(const char *tokens, size_t *n)
{
    for (const char *t = tokens; *t;) {
        char op = *t++;
        unsigned long v = strtoul(t, (char **)&t, 10);
        lw_record_t *r = &recs[(*n)++];
        *r = record(op == 'H' ? LW_REC_HELLO : op == 'D' ? LW_REC_DELTA : op == 'S' ? LW_REC_SITE
                    : op == 'E' ? LW_REC_ENDPOINT : op == 'T' ? LW_REC_TEXT : (uint16_t)v, 1);
        if (op == 'S' || op == 'E')
            r->u.site.text_len = (uint32_t)v;
        if (op == 'T') {
            r->len = (uint16_t)v;
            memset(r->u.text, 't', sizeof(r->u.text));
        }
        while (*t == ' ')
            t++;
    }
}

static void test_wire_malformed_sequences_are_counted_and_skipped(void **state)
{
    static const char text[] = "/srv/app.py\0handler\0\0"; /* 4 fields, 21 bytes */
    const lw_wire_msg_t site = {.kind = LW_REC_SITE, .id = 3, .u.site = {12, 12, 0},
                                .text = text, .text_len = sizeof(text)};
    const lw_wire_msg_t delta = {.kind = LW_REC_DELTA, .id = 3, .u.delta = {100, 1, 0}};

    (void)state;
    for (size_t c = 0; c < sizeof(malformed_cases) / sizeof(malformed_cases[0]); c++) {
        const struct malformed_case *mc = &malformed_cases[c];
        lw_wire_reader_t r;
        size_t n = 0, messages, m;
        build(mc->records, &n);
        lw_wire_reader_init(&r);
        messages = read_all(&r, recs, n);
        n = 0;
        encode(&n, &site);
        encode(&n, &delta);
        m = read_all(&r, recs, n);
        if (messages != mc->messages || r.malformed != mc->malformed || m != 2)
            fail_msg("\"%s\": %zu messages, %llu malformed, then %zu of 2", mc->records,
                     messages, (unsigned long long)r.malformed, m);
        assert_msg_equal(&got[0].msg, &site);
        assert_msg_equal(&got[1].msg, &delta);
    }
}

/* A worker's stream: HELLO, endpoints, sites of many text lengths, deltas. */
static size_t stream(void)
{
    static char text[LW_WIRE_TEXT_MAX];
    size_t n = 0;

    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + i % 26);
    encode(&n, &(lw_wire_msg_t){.kind = LW_REC_HELLO, .u.hello = {77, 2, 3}});
    for (uint32_t e = 1; e <= 5; e++)
        encode(&n, &(lw_wire_msg_t){.kind = LW_REC_ENDPOINT, .id = e, .text = text,
                                    .text_len = 7 * e});
    for (uint32_t s = 1; s <= 12; s++) {
        encode(&n, &(lw_wire_msg_t){.kind = LW_REC_SITE, .id = s, .u.site = {(int32_t)s, 0, s},
                                    .text = text + s, .text_len = s * s * 13 % 700});
        encode(&n, &(lw_wire_msg_t){.kind = LW_REC_DELTA, .id = s, .u.delta = {s, s, s % 5}});
    }
    encode(&n, &(lw_wire_msg_t){.kind = LW_REC_SITE, .id = 13, .text = text,
                                .text_len = LW_WIRE_TEXT_MAX});
    return n;
}

/* The drain reads a ring in batches into one buffer it reuses: any split
 * reads the same messages as one pass. */
static void test_wire_reads_across_batches(void **state)
{
    static got_t whole[32];
    static lw_record_t batch[64];
    size_t n = stream(), nwhole;
    lw_wire_reader_t r;

    (void)state;
    lw_wire_reader_init(&r);
    nwhole = read_all(&r, recs, n);
    assert_int_equal(nwhole, 1 + 5 + 2 * 12 + 1);
    memcpy(whole, got, sizeof(whole));
    for (size_t i = 0; i < nwhole; i++)
        whole[i].msg.text = whole[i].msg.text ? whole[i].text : NULL;
    for (size_t size = 1; size <= 64; size++) {
        size_t m = 0;
        lw_wire_reader_init(&r);
        for (size_t at = 0; at < n; at += size) {
            size_t k = n - at < size ? n - at : size;
            memcpy(batch, recs + at, k * sizeof(lw_record_t));
            size_t got_now = read_all(&r, batch, k);
            for (size_t j = 0; j < got_now; j++, m++) {
                assert_true(m < nwhole);
                assert_msg_equal(&got[j].msg, &whole[m].msg);
            }
            memset(batch, CANARY, sizeof(batch)); /* the reader keeps nothing of it */
        }
        assert_int_equal(m, nwhole);
        assert_int_equal(r.malformed, 0);
    }
}

static void test_wire_field_reads_past_the_end_as_empty(void **state)
{
    static const char three[] = "a\0\0b";       /* "a", "", "b" (its '\0' after len) */
    static const char six[] = "f\0g\0h\0i\0j\0k"; /* six fields */

    (void)state;
    assert_string_equal(lw_wire_field(three, 4, 0), "a");
    assert_string_equal(lw_wire_field(three, 4, 1), "");
    assert_string_equal(lw_wire_field(three, 4, 2), "b");
    assert_string_equal(lw_wire_field(three, 4, 3), "");
    assert_string_equal(lw_wire_field(three, 4, 1000), "");
    assert_string_equal(lw_wire_field("", 0, 0), "");
    assert_int_equal(lw_wire_identity_len(three, 4), 4);
    assert_int_equal(lw_wire_identity_len(three, 2), 2);
    assert_int_equal(lw_wire_identity_len(six, sizeof(six)), 8);
    assert_string_equal(lw_wire_field(six, sizeof(six), 5), "k");
    assert_int_equal(lw_wire_identity_len("", 0), 0);
}

/* Random records: never a crash, never a message that breaks the rules. */
static void test_wire_survives_random_records(void **state)
{
    uint64_t x = 88172645463325252u;
    lw_wire_reader_t r;
    lw_wire_msg_t msg;
    size_t messages = 0;

    (void)state;
    lw_wire_reader_init(&r);
    for (int i = 0; i < 200000; i++) {
        lw_record_t rec;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&rec, &x, sizeof(x));
        for (size_t b = 8; b < sizeof(rec); b++)
            ((unsigned char *)&rec)[b] = (unsigned char)(x >> (b % 8 * 8)) ^ (unsigned char)b;
        rec.kind = (uint16_t)(x % 8);            /* mostly known kinds, some not */
        rec.len = (uint16_t)(x >> 20) % 30;      /* often more than a record holds */
        if (rec.kind == LW_REC_SITE || rec.kind == LW_REC_ENDPOINT)
            rec.u.site.text_len = (x >> 40) % 4 ? (uint32_t)(x >> 32) % 80 : (uint32_t)(x >> 32);
        const lw_record_t *next = &rec;
        if (lw_wire_read(&r, &next, &rec + 1, &msg)) {
            messages++;
            assert_true(msg.kind >= LW_REC_HELLO && msg.kind <= LW_REC_DELTA &&
                        msg.kind != LW_REC_TEXT);
            assert_true(msg.text_len <= LW_WIRE_TEXT_MAX);
            if (msg.text)
                assert_int_equal(msg.text[msg.text_len], '\0');
        }
    }
    assert_true(messages > 0 && r.malformed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_encodes_the_bytes_the_engine_sent),
        cmocka_unit_test(test_wire_round_trips_every_kind),
        cmocka_unit_test(test_wire_round_trips_text_of_every_length),
        cmocka_unit_test(test_wire_encode_refuses_what_it_cannot_send),
        cmocka_unit_test(test_wire_site_fields_round_trip),
        cmocka_unit_test(test_wire_site_is_cut_at_the_maximum),
        cmocka_unit_test(test_wire_site_cuts_identity_fields_that_alone_do_not_fit),
        cmocka_unit_test(test_wire_malformed_sequences_are_counted_and_skipped),
        cmocka_unit_test(test_wire_reads_across_batches),
        cmocka_unit_test(test_wire_field_reads_past_the_end_as_empty),
        cmocka_unit_test(test_wire_survives_random_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
