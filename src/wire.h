/*
 * wire.h - what a worker's ring carries: fixed 32-byte records, the messages
 * they make, how a worker encodes them and how the master reads them back.
 *
 * Messages. A worker generation opens with HELLO. It defines each site once
 * (SITE and the site's identity text) and each endpoint once (ENDPOINT and
 * its name) before any DELTA names them by their worker-local ids; HELD
 * answers the master's question what holds a site (its text says it). A text
 * follows its header in TEXT records of up to LW_RECORD_TEXT bytes; the
 * header announces the text's length, and the message is complete when that
 * many bytes have come. The worker pushes a message's records as one group
 * (lw_ring_push is all or nothing), so a correct stream never interleaves;
 * the reader trusts nothing all the same: a TEXT without a header, a TEXT
 * that is empty, oversized or runs past the announced length, a header
 * announcing more than LW_WIRE_TEXT_MAX, an unknown kind, and a text cut
 * short by any other record are each counted and dropped, and reading
 * resumes at the next header.
 *
 * A site's identity text is '\0'-terminated fields: file, function, the
 * application frame's file and function ("" when there is none), then file,
 * line (decimal) and function per traceback frame, innermost first. The
 * first four fields (with the lines in the header) are what makes two sites
 * one (lw_wire_identity_len); the frames are the representative traceback.
 *
 * The encoders fill arrays from their caller and never allocate: the worker
 * calls them under its GIL right after a request. The record layout is the
 * bytes in shared memory, pinned below field by field.
 */
#ifndef LW_WIRE_H
#define LW_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pseudo-sites: a SITE whose line is below 0 is no line of code. Its text's
 * file field is its name (below) and it has no function; renderers say the
 * name alone. The master's own overflow site is agg.h's LW_AGG_OTHER_LINE.
 */
#define LW_LINE_NO_FRAME (-1) /* allocated from C with no Python code running */
#define LW_LINE_SHELF (-2)    /* blocks of objects that died sampled: CPython's free lists */
#define LW_LINE_OVERFLOW (-3) /* a worker's site table was full */
#define LW_NAME_NO_FRAME "<no Python frame>"
#define LW_NAME_SHELF "<CPython free lists>"
#define LW_NAME_OVERFLOW "<other sites: table full>"

enum lw_record_kind {
    LW_REC_HELLO = 1,  /* a new worker generation: u.hello */
    LW_REC_SITE,       /* a site's identity: u.site, then TEXT records */
    LW_REC_ENDPOINT,   /* an endpoint name: u.site.text_len, then TEXT records */
    LW_REC_TEXT,       /* up to 24 bytes of the text announced before */
    LW_REC_DELTA,      /* a site's change: u.delta */
    LW_REC_HELD,       /* what holds a site (holders.h), as asked: id the site,
                          u.site.text_len, then TEXT records */
};

#define LW_RECORD_TEXT 24

/* A DELTA's flags. COLLECTED: what Python's cyclic collector freed at the
 * site (any collection: Python's own, the gc policy's, a round the master
 * asked), published apart from the rest of its change: garbage, not a
 * release (agg.h, Gates). Other bits are ignored. */
#define LW_DELTA_COLLECTED 1u

/* A new worker generation, as sent (in a record) and as read (in a message). */
typedef struct lw_wire_hello {
    int64_t pid;
    uint64_t spawn;
    uint64_t spawned_us;
} lw_wire_hello_t;

typedef struct lw_record {
    uint16_t kind;
    uint16_t len;      /* TEXT: bytes used in u.text */
    uint32_t id;       /* worker-local site or endpoint id */
    union {
        lw_wire_hello_t hello;
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
            uint32_t flags;    /* LW_DELTA_* */
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
                   offsetof(lw_record_t, u.delta.flags) == 28,
               "DELTA fields");

/* The longest text a reader takes (a header announcing more is malformed). */
#define LW_WIRE_TEXT_MAX 4096
/* Where lw_wire_encode_site cuts a site's text, dropping outer frames first:
 * a definition then takes at most LW_WIRE_SITE_RECORDS of a worker's ring. */
#define LW_WIRE_SITE_TEXT 2048
/* Records of a SITE or ENDPOINT message whose text is `text_len` bytes. */
#define LW_WIRE_RECORDS(text_len) (1 + ((text_len) + LW_RECORD_TEXT - 1) / LW_RECORD_TEXT)
#define LW_WIRE_SITE_RECORDS LW_WIRE_RECORDS(LW_WIRE_SITE_TEXT)

/* One message, as encoded and as read back. */
typedef struct lw_wire_msg {
    enum lw_record_kind kind; /* HELLO, SITE, ENDPOINT, DELTA or HELD; never TEXT */
    uint32_t id;              /* SITE, ENDPOINT, DELTA, HELD: the worker-local id */
    union {
        lw_wire_hello_t hello;
        struct {
            int32_t line, app_line;
            uint32_t nframes;
        } site;
        struct {
            int64_t bytes;
            int64_t count;     /* LW_COUNT_ONE units */
            uint32_t endpoint; /* worker-local endpoint id, 0 = unknown */
            uint32_t flags;    /* LW_DELTA_* */
        } delta;
    } u;
    const char *text;   /* SITE: identity text; ENDPOINT: name; HELD: what holds it;
                           NULL otherwise */
    uint32_t text_len;  /* bytes of text, its last '\0' included for a SITE */
} lw_wire_msg_t;

/*
 * Encodes `msg` into out[0..max): one record for HELLO and DELTA, the header
 * and LW_WIRE_RECORDS(text_len) - 1 TEXT records for SITE, ENDPOINT and HELD, text
 * as given. Every byte a record leaves unused is 0. Returns the number of
 * records, or -EINVAL (kind TEXT or unknown), -EMSGSIZE (text_len past
 * LW_WIRE_TEXT_MAX) or -ENOSPC (max too small); on error out is unchanged.
 */
int lw_wire_encode(lw_record_t *out, size_t max, const lw_wire_msg_t *msg);

/* A traceback frame, as the worker knows it. */
typedef struct lw_wire_frame {
    const char *file;   /* NULL reads as "" (so do the names below) */
    int32_t line;
    const char *func;
} lw_wire_frame_t;

/* A site, as the worker knows it. */
typedef struct lw_wire_site {
    uint32_t id;                     /* worker-local site id */
    int32_t line, app_line;          /* negative for pseudo-sites */
    const char *file, *func;
    const char *app_file, *app_func; /* "" (or NULL) when there is no application frame */
    const lw_wire_frame_t *frames;   /* innermost first */
    uint32_t nframes;
} lw_wire_site_t;

/*
 * Encodes a SITE message whose identity text is built from `site`'s fields
 * (the layout above), straight into out[0..max), allocating nothing. The
 * text is cut to LW_WIRE_SITE_TEXT and to what out holds, whole frames
 * dropped from the outermost; should the four identity fields alone not fit,
 * they are cut (at a UTF-8 character) and stay four, so the site can always
 * be defined. The header's nframes counts the frames kept. Returns the
 * number of records (at most LW_WIRE_SITE_RECORDS), or -ENOSPC when max < 2
 * (out unchanged). Records past the returned count may have been written.
 */
int lw_wire_encode_site(lw_record_t *out, size_t max, const lw_wire_site_t *site);

/*
 * The state of reading one producer's records: one per ring. Its fields
 * other than `malformed` are the reader's own; a zeroed reader is ready.
 */
typedef struct lw_wire_reader {
    uint64_t malformed;     /* records and texts dropped as malformed; only grows */
    lw_record_t head;       /* the SITE or ENDPOINT whose text is arriving */
    uint32_t have;          /* bytes of it so far */
    bool assembling;
    char text[LW_WIRE_TEXT_MAX + 1]; /* + its '\0' */
} lw_wire_reader_t;

/* A reader before its producer's first record (as zeroed memory is). */
void lw_wire_reader_init(lw_wire_reader_t *r);

/* The reader's own, for lw_wire_read below: every record but a DELTA outside
 * a text, and the DELTA's message. */
bool lw__wire_read(lw_wire_reader_t *r, const lw_record_t **next, const lw_record_t *end,
                   lw_wire_msg_t *msg);

static inline void lw__wire_delta(const lw_record_t *rec, lw_wire_msg_t *msg)
{
    msg->kind = LW_REC_DELTA;
    msg->id = rec->id;
    msg->u.delta.bytes = rec->u.delta.bytes;
    msg->u.delta.count = rec->u.delta.count;
    msg->u.delta.endpoint = rec->u.delta.endpoint;
    msg->u.delta.flags = rec->u.delta.flags;
    msg->text = NULL;
    msg->text_len = 0;
}

/*
 * Reads the producer's records from *next up to end until one completes a
 * message. Returns true with the message in *msg and *next just past that
 * record; false, with *next at end, when the records complete none (a text
 * still arriving, malformed records: counted in r->malformed). A SITE's or
 * ENDPOINT's text, followed by a '\0', lives in the reader until the next
 * call. Records may come in batches of any split, one at a time included:
 * the reader keeps nothing of them but its text.
 *
 * Inline for a DELTA outside a text, nearly every record a cycle reads (up
 * to 640,000 a cycle in tests/bench/drain.c): a call per record made a drain
 * cycle 3% more instructions than the decoding agg.c did by hand, and site
 * definitions 16% more; inline, and a text's records read in one call, that
 * is 1.6% and 2.5% (callgrind), within the bench's noise in time.
 */
static inline bool lw_wire_read(lw_wire_reader_t *r, const lw_record_t **next,
                                const lw_record_t *end, lw_wire_msg_t *msg)
{
    const lw_record_t *rec = *next;

    if (rec < end && rec->kind == LW_REC_DELTA && !r->assembling) {
        *next = rec + 1;
        lw__wire_delta(rec, msg);
        return true;
    }
    return lw__wire_read(r, next, end, msg);
}

/*
 * Field `i` of an identity text of `len` bytes (the layout above: 0 file,
 * 1 function, 2 app file, 3 app function, then 4 + 3f + 0..2 for frame f's
 * file, line, function); "" past the end. The text must be followed by a
 * '\0' (as texts read back are) in case its last field lacks its own.
 */
const char *lw_wire_field(const char *text, uint32_t len, uint32_t i);

/* Bytes of an identity text's first four fields (file, function, app file,
 * app function, '\0's included): what makes two sites one. At most len. */
uint32_t lw_wire_identity_len(const char *text, uint32_t len);

#endif
