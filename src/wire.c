#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * A text being encoded goes straight into the TEXT records behind the header
 * out[0], with no buffer of its own: byte i of the text is byte
 * i % LW_RECORD_TEXT of out[1 + i / LW_RECORD_TEXT]. The TEXT records'
 * own fields are written once the text is done (seal).
 */
struct pen {
    lw_record_t *out;
    uint32_t at;   /* bytes written */
    uint32_t cap;  /* bytes that may be written */
};

/* Appends n bytes; false, and nothing written, when they do not fit. */
static bool put(struct pen *p, const char *s, size_t n)
{
    if (n > p->cap - p->at)
        return false;
    while (n > 0) {
        uint32_t off = p->at % LW_RECORD_TEXT;
        size_t chunk = n < LW_RECORD_TEXT - off ? n : LW_RECORD_TEXT - off;
        memcpy(p->out[1 + p->at / LW_RECORD_TEXT].u.text + off, s, chunk);
        p->at += (uint32_t)chunk;
        s += chunk;
        n -= chunk;
    }
    return true;
}

/* Appends s and its '\0'; false, and nothing written, when they do not fit. */
static bool put_field(struct pen *p, const char *s)
{
    return put(p, s ? s : "", (s ? strlen(s) : 0) + 1);
}

/* Makes TEXT records of the text written: their kind and length, and 0 in
 * what the last one leaves unused. Returns the records, header included. */
static int seal(const struct pen *p)
{
    uint32_t n = LW_WIRE_RECORDS(p->at);

    for (uint32_t i = 1; i < n; i++) {
        lw_record_t *r = &p->out[i];
        uint32_t len = p->at - (i - 1) * LW_RECORD_TEXT;
        if (len > LW_RECORD_TEXT)
            len = LW_RECORD_TEXT;
        r->kind = LW_REC_TEXT;
        r->len = (uint16_t)len;
        r->id = 0;
        memset(r->u.text + len, 0, LW_RECORD_TEXT - len);
    }
    return (int)n;
}

/* A zeroed record of that kind and id. */
static lw_record_t *header(lw_record_t *out, uint16_t kind, uint32_t id)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->id = id;
    return out;
}

int lw_wire_encode(lw_record_t *out, size_t max, const lw_wire_msg_t *msg)
{
    struct pen p = {out, 0, msg->text_len};
    lw_record_t *h;

    switch (msg->kind) {
    case LW_REC_HELLO:
    case LW_REC_DELTA:
        if (max < 1)
            return -ENOSPC;
        h = header(out, (uint16_t)msg->kind, msg->id);
        if (msg->kind == LW_REC_HELLO) {
            h->u.hello = msg->u.hello;
        }
        else {
            h->u.delta.bytes = msg->u.delta.bytes;
            h->u.delta.count = msg->u.delta.count;
            h->u.delta.endpoint = msg->u.delta.endpoint;
            h->u.delta.flags = msg->u.delta.flags;
        }
        return 1;
    case LW_REC_SITE:
    case LW_REC_ENDPOINT:
    case LW_REC_HELD:
        if (msg->text_len > LW_WIRE_TEXT_MAX)
            return -EMSGSIZE;
        if (max < LW_WIRE_RECORDS(msg->text_len))
            return -ENOSPC;
        put(&p, msg->text, msg->text_len);
        h = header(out, (uint16_t)msg->kind, msg->id);
        h->u.site.text_len = msg->text_len;
        if (msg->kind == LW_REC_SITE) {
            h->u.site.line = msg->u.site.line;
            h->u.site.app_line = msg->u.site.app_line;
            h->u.site.nframes = msg->u.site.nframes;
        }
        return seal(&p);
    default:
        return -EINVAL;
    }
}

/* Of the first n bytes of s (n < strlen(s)), those before the character that
 * byte n falls in: a cut name stays UTF-8. */
static size_t whole_chars(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* Appends identity field s, cut to leave room for `later` more '\0's. */
static void put_identity_field(struct pen *p, const char *s, uint32_t later)
{
    size_t room = p->cap - p->at - later - 1, n;

    s = s ? s : "";
    n = strnlen(s, room + 1);
    if (n > room)
        n = whole_chars(s, room);
    put(p, s, n);
    put(p, "", 1);
}

int lw_wire_encode_site(lw_record_t *out, size_t max, const lw_wire_site_t *site)
{
    const char *identity[] = {site->file, site->func, site->app_file, site->app_func};
    const uint32_t nidentity = sizeof(identity) / sizeof(identity[0]);
    struct pen p = {out, 0, LW_WIRE_SITE_TEXT};
    uint32_t nframes = 0;
    char line[16];
    lw_record_t *h;

    if (max < 2) /* room for the identity fields' '\0's at least */
        return -ENOSPC;
    if (max < LW_WIRE_SITE_RECORDS && (max - 1) * LW_RECORD_TEXT < p.cap)
        p.cap = (uint32_t)(max - 1) * LW_RECORD_TEXT;
    for (uint32_t k = 0; k < nidentity; k++)
        put_identity_field(&p, identity[k], nidentity - 1 - k);
    for (uint32_t f = 0; f < site->nframes; f++) {
        const lw_wire_frame_t *fr = &site->frames[f];
        uint32_t mark = p.at;
        snprintf(line, sizeof(line), "%d", (int)fr->line);
        if (!put_field(&p, fr->file) || !put_field(&p, line) || !put_field(&p, fr->func)) {
            p.at = mark; /* whole frames only; the outer ones go */
            break;
        }
        nframes++;
    }
    h = header(out, LW_REC_SITE, site->id);
    h->u.site.line = site->line;
    h->u.site.app_line = site->app_line;
    h->u.site.text_len = p.at;
    h->u.site.nframes = nframes;
    return seal(&p);
}

void lw_wire_reader_init(lw_wire_reader_t *r)
{
    memset(r, 0, sizeof(*r));
}

/* Any record but a TEXT ends a text still arriving: it was cut short. */
static void drop_text(lw_wire_reader_t *r)
{
    if (r->assembling) {
        r->assembling = false;
        r->malformed++;
    }
}

/* The SITE, ENDPOINT or HELD message whose text is complete. */
static bool deliver_text(lw_wire_reader_t *r, lw_wire_msg_t *msg)
{
    const lw_record_t *h = &r->head;

    r->assembling = false;
    r->text[r->have] = '\0';
    memset(msg, 0, sizeof(*msg));
    msg->kind = (enum lw_record_kind)h->kind;
    msg->id = h->id;
    if (h->kind == LW_REC_SITE) {
        msg->u.site.line = h->u.site.line;
        msg->u.site.app_line = h->u.site.app_line;
        msg->u.site.nframes = h->u.site.nframes;
    }
    msg->text = r->text;
    msg->text_len = r->have;
    return true;
}

static bool take_text(lw_wire_reader_t *r, const lw_record_t *rec, lw_wire_msg_t *msg)
{
    if (!r->assembling) {
        r->malformed++;
        return false;
    }
    /* a text that does not add up is not trusted, whatever follows */
    if (rec->len == 0 || rec->len > LW_RECORD_TEXT ||
        rec->len > r->head.u.site.text_len - r->have) {
        r->assembling = false;
        r->malformed++;
        return false;
    }
    memcpy(r->text + r->have, rec->u.text, rec->len);
    r->have += rec->len;
    return r->have == r->head.u.site.text_len && deliver_text(r, msg);
}

static bool take_header(lw_wire_reader_t *r, const lw_record_t *rec, lw_wire_msg_t *msg)
{
    if (rec->u.site.text_len > LW_WIRE_TEXT_MAX) {
        r->malformed++;
        return false;
    }
    r->head = *rec;
    r->have = 0;
    r->assembling = true;
    return rec->u.site.text_len == 0 && deliver_text(r, msg);
}

/* One record; true when it completes a message. */
static bool read_one(lw_wire_reader_t *r, const lw_record_t *rec, lw_wire_msg_t *msg)
{
    if (rec->kind == LW_REC_TEXT)
        return take_text(r, rec, msg);
    drop_text(r);
    switch (rec->kind) {
    case LW_REC_DELTA:
        lw__wire_delta(rec, msg);
        return true;
    case LW_REC_HELLO:
        memset(msg, 0, sizeof(*msg));
        msg->kind = LW_REC_HELLO;
        msg->id = rec->id;
        msg->u.hello = rec->u.hello;
        return true;
    case LW_REC_SITE:
    case LW_REC_ENDPOINT:
    case LW_REC_HELD:
        return take_header(r, rec, msg);
    default:
        r->malformed++;
        return false;
    }
}

/* lw_wire_read() past its inline DELTA. */
bool lw__wire_read(lw_wire_reader_t *r, const lw_record_t **next, const lw_record_t *end,
                   lw_wire_msg_t *msg)
{
    for (const lw_record_t *rec = *next; rec < end; rec++) {
        if (read_one(r, rec, msg)) {
            *next = rec + 1;
            return true;
        }
    }
    *next = end;
    return false;
}

/* Where field i starts; past len when the text has fewer fields. */
static uint32_t field_at(const char *text, uint32_t len, uint32_t i)
{
    uint32_t at = 0;

    for (uint32_t f = 0; f < i && at < len; f++)
        at += (uint32_t)strnlen(text + at, len - at) + 1;
    return at;
}

const char *lw_wire_field(const char *text, uint32_t len, uint32_t i)
{
    uint32_t at = field_at(text, len, i);

    return at < len ? text + at : "";
}

uint32_t lw_wire_identity_len(const char *text, uint32_t len)
{
    uint32_t at = field_at(text, len, 4);

    return at > len ? len : at;
}
