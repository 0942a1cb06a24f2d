/*
 * wire.h - what a worker's ring carries: fixed 32-byte records. The record
 * layout is the bytes in shared memory, pinned below field by field; the
 * ring itself (ring.h) knows only their size.
 */
#ifndef LW_WIRE_H
#define LW_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum lw_record_kind {
    LW_REC_HELLO = 1,  /* a new worker generation: u.hello */
    LW_REC_SITE,       /* a site's identity: u.site, then TEXT records */
    LW_REC_ENDPOINT,   /* an endpoint name: u.site.text_len, then TEXT records */
    LW_REC_TEXT,       /* up to 24 bytes of the text announced before */
    LW_REC_DELTA,      /* a site's change: u.delta */
};

#define LW_RECORD_TEXT 24

typedef struct lw_record {
    uint16_t kind;
    uint16_t len;      /* TEXT: bytes used in u.text */
    uint32_t id;       /* worker-local site or endpoint id */
    union {
        struct {
            int64_t pid;
            uint64_t spawn;
            uint64_t spawned_us;
        } hello;
        struct {
            int32_t line;
            int32_t app_line;
            uint32_t text_len; /* bytes of text in the TEXT records that follow */
            uint32_t nframes;
            uint64_t reserved;
        } site;
        struct {
            int64_t bytes;
            int64_t count;     /* LW_COUNT_ONE units */
            uint32_t endpoint; /* worker-local endpoint id, 0 = unknown */
            uint32_t reserved;
        } delta;
        char text[LW_RECORD_TEXT];
    } u;
} lw_record_t;

_Static_assert(sizeof(lw_record_t) == 32, "a record is 32 bytes");
_Static_assert(offsetof(lw_record_t, len) == 2 && offsetof(lw_record_t, id) == 4 &&
                   offsetof(lw_record_t, u) == 8,
               "record header");
_Static_assert(offsetof(lw_record_t, u.hello.spawn) == 16 &&
                   offsetof(lw_record_t, u.hello.spawned_us) == 24,
               "HELLO fields");
_Static_assert(offsetof(lw_record_t, u.site.app_line) == 12 &&
                   offsetof(lw_record_t, u.site.text_len) == 16 &&
                   offsetof(lw_record_t, u.site.nframes) == 20 &&
                   offsetof(lw_record_t, u.site.reserved) == 24,
               "SITE and ENDPOINT fields");
_Static_assert(offsetof(lw_record_t, u.delta.count) == 16 &&
                   offsetof(lw_record_t, u.delta.endpoint) == 24 &&
                   offsetof(lw_record_t, u.delta.reserved) == 28,
               "DELTA fields");

#endif
