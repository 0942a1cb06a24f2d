#define _POSIX_C_SOURCE 200809L
#include "agg.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topn.h"
#include "workclock.h"

#define MAX_TEXT 4096
/* Site 0's text: file, function, no application frame (the last '\0' implied). */
#define OTHER_SITES "<other sites: master table full>\0?\0"
/*
 * Fractions of the threshold T. A site gets detector state once it holds
 * DETECT_FROM (T/4) and loses it below DETECT_UNTIL (T/8), so only sites
 * big enough to matter carry it: at most tracked bytes / (T/8) of them.
 * Its growth is counted from the last point at which it held less than
 * DETECT_RISE (T/16), when there is one since it last had a detector:
 * a line that grows from nothing is judged from where it began to rise,
 * as a sum with a static part is from its low (from its first T/4, a
 * line's leak was announced T/4 later in all than the same leak spread
 * over lines). A worker's share that falls by RELEASE_MIN (T/8) to at
 * most half its peak is a release, which a leak never does.
 */
#define DETECT_FROM(t) ((t) / 4)
#define DETECT_UNTIL(t) ((t) / 8)
#define DETECT_RISE(t) ((t) / 16)
#define RELEASE_MIN(t) ((t) / 8)

/* The fields of a site's text that ignore patterns are matched against. */
#define FIELD_FILE 0
#define FIELD_FUNC 1
#define FIELD_APP_FILE 2
/* What intern_site returns, and a worker's site_map holds, for an ignored
 * identity that found no room: nothing is stored, its deltas are dropped
 * (site 0, where other sites without room go, is judged). Never an id,
 * nor an id + 1: max_sites <= UINT32_MAX / 2. */
#define UNSTORED UINT32_MAX
#define NO_ENDPOINT UINT32_MAX /* apply: credit no endpoint (a sum's bytes) */

/*
 * Each worker's bytes at each site, and their high since the worker last
 * released half of them, are stored by worker, then by site, in pages of
 * SHARE_PAGE sites allocated when the worker first names a site there.
 * The drain reads one worker's ring at a time, so a cycle walks one
 * worker's compact array instead of one scattered block per site: with 64
 * workers x 10,000 sites that is the difference between a cache miss per
 * delta and a stream (tests/bench/drain.c).
 */
#define SHARE_PAGE_BITS 10
#define SHARE_PAGE (1u << SHARE_PAGE_BITS)

typedef struct share {
    int64_t bytes;
    int64_t peak;
} share_t;

/* What the master knows of one worker's generation. */
struct worker {
    int64_t pid;
    uint64_t spawn;
    uint32_t *site_map;      /* local site id -> global id + 1, 0 = unknown, or UNSTORED */
    uint32_t *endpoint_map;  /* local endpoint id -> global endpoint id */
    lw_wire_reader_t reader; /* its ring's messages (zeroed: ready) */
    uint32_t collected;      /* the collection round it last said it ran (Gates) */
};

#define DEPARTURES 16

/*
 * Eviction. A full table makes room for a new identity by taking the id of
 * a site that nothing holds and whose loss loses nothing:
 *  - no local id of a running worker generation maps to it (`maps`: a SITE
 *    record adds one; a local id mapped anew, or the end of its generation
 *    at the next HELLO, takes it away): that worker sends more deltas;
 *  - no site rolls up to it or is summed in it (`leaves`, dropped as
 *    such a site goes);
 *  - no worker holds a byte of it;
 *  - it has no detector state: a site keeps one while it holds T/8 or more,
 *    and for good once alerted (the report and LAST WORDS name it).
 * Counting references instead of scanning keeps the test O(workers).
 *
 * Each change that can make a site evictable (its last mapping or leaf
 * gone, its detector dropped, its bytes gone at a HELLO) offers the site to
 * the spare queue, oldest first. An offered site stays whole and indexed
 * until its id is needed: if its identity comes back first (a new worker
 * generation running the same code), it is simply found again, and its
 * stale queue entry is dropped when it reaches the head. So a new identity
 * in a full table costs the stale heads dropped on the way (each offer is
 * dropped at most once) plus one eviction: its index entry removed by
 * backward shift (no tombstones, so lookups never slow down with churn;
 * each site's home slot is kept, so a shift rehashes nothing), its share
 * cleared in each worker, the caller told (cfg.evicted). Measured at 64
 * workers x 65,536 sites, that is about what a new site costs with a
 * never-used id (2-4 us a definition). The per-delta path is unchanged;
 * judging a changed site adds a test of its bytes and detector.
 */
struct refs {
    uint32_t maps;     /* local ids of running generations mapped to the site */
    uint32_t leaves;   /* sites whose rollup_of, function_of or file_of is the site */
    bool queued;       /* in the spare queue */
};

/* One source line of a sum: its sites (its own bytes, what libraries
 * allocate for it, each traceback that reaches it) together. */
struct line_sum {
    int32_t line;
    uint32_t id;       /* the site that grew most: the line's name and traceback */
    int64_t grown, via, best;
};

struct lw_agg {
    lw_departure_t departures[DEPARTURES];  /* a ring; the oldest are overwritten */
    uint32_t ndepartures;
    lw_agg_cfg_t cfg;
    lw_alloc_t alloc;
    lw_agg_site_t *sites;    /* [max_sites]; [0] = other sites */
    uint32_t nsites;
    uint32_t *index;         /* [2 * max_sites] linear probing on identity, 0 = empty */
    uint32_t *home;          /* [max_sites] each site's home slot: probes and backward
                                shifts compare these, not texts and hashes */
    uint32_t *changed;       /* [max_sites] ids whose site has `changed` set */
    uint32_t nchanged;
    uint32_t *pending;       /* [max_sites] ids whose site has `pending` set: LEAK
                                verdicts not yet announced or quieted, oldest first */
    uint32_t npending;
    struct line_sum *lines;  /* [max_sites] scratch: a sum's lines merged (merge_lines) */
    int64_t *ep_bytes;       /* [max_endpoints] scratch: a sum's endpoints (endpoints_of) */
    int64_t *held;           /* [max_sites] bytes for sums held back in a feed (hold) */
    uint32_t *holding;       /* [max_sites] the sums with bytes held back, */
    uint32_t nholding;       /* marked by held_mark */
    uint8_t *held_mark;
    bool held_collected;     /* the bytes held back are a collection's (wire.h) */
    struct refs *refs;       /* [max_sites] what holds each site */
    uint32_t *spare;         /* [max_sites] ring of offered ids, oldest first */
    uint32_t spare_head, nspare;
    char **endpoints;        /* [max_endpoints]; [0] = "other" */
    uint32_t nendpoints;
    uint32_t nslots;         /* workers, mules, spoolers (cfg.procs) */
    struct worker *workers;  /* [nslots + 1] */
    share_t **shares;        /* [(nslots + 1) * npages] pages, NULL until used */
    uint32_t npages;
    lw_agg_stats_t stats;
    lw_workclock_t clock;    /* the axis sites are judged on (workclock.h) */
    bool fed;                /* records arrived since the last judgement */
    uint32_t round;          /* the collection round asked last (agg.h, Gates) */
    bool round_asked;        /* ... by this judgement */
    uint64_t now_us;         /* the last look's time */
};

static share_t *share_of(const lw_agg_t *agg, uint32_t wid, uint32_t id)
{
    share_t *page = agg->shares[(size_t)wid * agg->npages + (id >> SHARE_PAGE_BITS)];

    return page ? &page[id & (SHARE_PAGE - 1)] : NULL;
}

/* Makes room for worker `wid`'s share of site `id`. 0, or -ENOMEM. */
static int need_share(lw_agg_t *agg, uint32_t wid, uint32_t id)
{
    share_t **page = &agg->shares[(size_t)wid * agg->npages + (id >> SHARE_PAGE_BITS)];

    if (!*page)
        *page = agg->alloc.calloc(SHARE_PAGE, sizeof(share_t));
    return *page ? 0 : -ENOMEM;
}

/* What makes two sites one: the first four fields of the text (file,
 * function, app file, app function), the lines, being a rollup, the kind. */
typedef struct identity {
    const char *text;
    uint32_t len;            /* of those four fields */
    int32_t line, app_line;
    bool rollup;
    uint8_t kind;
} identity_t;

static identity_t identity(const char *text, uint32_t len, int32_t line, int32_t app_line,
                           bool rollup, uint8_t kind)
{
    return (identity_t){text, lw_wire_identity_len(text, len), line, app_line, rollup, kind};
}

static identity_t identity_of(const lw_agg_site_t *s)
{
    return identity(s->text, s->text_len, s->line, s->app_line, s->rollup, s->kind);
}

/* The index slot where the identity's probe starts. */
static uint32_t home_slot(const lw_agg_t *agg, const identity_t *k)
{
    uint64_t h = UINT64_C(1469598103934665603);

    for (uint32_t i = 0; i < k->len; i++)
        h = (h ^ (unsigned char)k->text[i]) * UINT64_C(1099511628211);
    h ^= (uint64_t)(uint32_t)k->line * UINT64_C(0x9E3779B97F4A7C15);
    h ^= (uint64_t)(uint32_t)k->app_line * UINT64_C(0xC2B2AE3D27D4EB4F);
    h ^= k->rollup ? UINT64_C(0x165667B19E3779F9) : 0;
    h ^= (uint64_t)k->kind * UINT64_C(0x27D4EB2F165667C5);
    return (uint32_t)(h % (2 * (uint64_t)agg->cfg.max_sites));
}

/* The slot holding the identity's site, else the empty slot ending its
 * probe from `home` (home_slot of k). */
static uint32_t find_slot(const lw_agg_t *agg, const identity_t *k, uint32_t home)
{
    uint32_t slots = 2 * agg->cfg.max_sites;

    for (uint32_t i = home;; i = (i + 1) % slots) {
        uint32_t id = agg->index[i];
        const lw_agg_site_t *s = &agg->sites[id];
        if (id == 0 || (agg->home[id] == home && s->line == k->line &&
                        s->app_line == k->app_line && s->rollup == k->rollup &&
                        s->kind == k->kind &&
                        identity_of(s).len == k->len && !memcmp(s->text, k->text, k->len)))
            return i;
    }
}

/* Takes site `id` out of the index by backward shift: each later entry of
 * the cluster that may sit in the hole moves up, so no probe ever crosses
 * a tombstone. */
static void unindex(lw_agg_t *agg, uint32_t id)
{
    uint32_t slots = 2 * agg->cfg.max_sites, hole = agg->home[id];

    while (agg->index[hole] != id)
        hole = (hole + 1) % slots;
    for (uint32_t j = (hole + 1) % slots; agg->index[j]; j = (j + 1) % slots) {
        uint32_t home = agg->home[agg->index[j]];
        /* it may move back unless its home lies after the hole, up to j */
        if ((j + slots - home) % slots >= (j + slots - hole) % slots) {
            agg->index[hole] = agg->index[j];
            hole = j;
        }
    }
    agg->index[hole] = 0;
}

void lw_agg_free(lw_agg_t *agg)
{
    if (!agg)
        return;
    for (uint32_t i = 0; agg->sites && i < agg->nsites; i++) {
        agg->alloc.free(agg->sites[i].text);
        agg->alloc.free(agg->sites[i].det);
        agg->alloc.free(agg->sites[i].held);
    }
    for (uint32_t i = 0; agg->endpoints && i < agg->nendpoints; i++)
        agg->alloc.free(agg->endpoints[i]);
    for (uint32_t w = 0; agg->workers && w <= agg->nslots; w++) {
        agg->alloc.free(agg->workers[w].site_map);
        agg->alloc.free(agg->workers[w].endpoint_map);
    }
    for (size_t p = 0; agg->shares && p < (size_t)(agg->nslots + 1) * agg->npages; p++)
        agg->alloc.free(agg->shares[p]);
    agg->alloc.free(agg->shares);
    agg->alloc.free(agg->workers);
    agg->alloc.free(agg->endpoints);
    agg->alloc.free(agg->spare);
    agg->alloc.free(agg->refs);
    agg->alloc.free(agg->pending);
    agg->alloc.free(agg->lines);
    agg->alloc.free(agg->ep_bytes);
    agg->alloc.free(agg->held);
    agg->alloc.free(agg->holding);
    agg->alloc.free(agg->held_mark);
    agg->alloc.free(agg->changed);
    agg->alloc.free(agg->home);
    agg->alloc.free(agg->index);
    agg->alloc.free(agg->sites);
    agg->alloc.free(agg);
}

/* Whether an ignore pattern matches `name`. */
static bool matches(const lw_agg_t *agg, const char *name)
{
    for (uint32_t i = 0; i < agg->cfg.nignore; i++) {
        if (fnmatch(agg->cfg.ignore[i], name, 0) == 0)
            return true;
    }
    return false;
}

/* Whether a new identity is ignored (agg.h): its file or its application
 * file matches. text[len] is '\0'. A site without an application frame
 * has "" there, which only patterns of stars match, and those match its
 * file too. */
static bool ignored_identity(const lw_agg_t *agg, const char *text, uint32_t len)
{
    return matches(agg, lw_wire_field(text, len, FIELD_FILE)) ||
           matches(agg, lw_wire_field(text, len, FIELD_APP_FILE));
}

static char *copy_text(lw_agg_t *agg, const char *text, uint32_t len)
{
    char *p = agg->alloc.calloc(1, (size_t)len + 1);

    if (p)
        memcpy(p, text, len);
    return p;
}

/* Site 0, where what finds no room goes: judged, since growth there is
 * still growth. 0, or -ENOMEM. */
static int make_other_sites(lw_agg_t *agg)
{
    lw_agg_site_t *s = &agg->sites[0];

    s->text = copy_text(agg, OTHER_SITES, sizeof(OTHER_SITES));
    if (!s->text)
        return -ENOMEM;
    s->text_len = sizeof(OTHER_SITES);
    s->line = s->app_line = LW_AGG_OTHER_LINE;
    s->judged = true;
    s->low = INT64_MAX;
    return 0;
}

lw_agg_t *lw_agg_new(const lw_agg_cfg_t *cfg, const lw_alloc_t *alloc)
{
    lw_agg_t *agg = alloc->calloc(1, sizeof(*agg));

    if (!agg)
        return NULL;
    agg->cfg = *cfg;
    agg->alloc = *alloc;
    agg->nslots = lw_procs_count(&cfg->procs);
    if (cfg->max_sites < 2 || cfg->max_sites > UINT32_MAX / 2 || agg->nslots == 0 ||
        cfg->max_endpoints < 1) /* index slots are uint32_t */
        goto fail;
    agg->sites = alloc->calloc(cfg->max_sites, sizeof(lw_agg_site_t));
    agg->index = alloc->calloc(2 * (size_t)cfg->max_sites, sizeof(uint32_t));
    agg->home = alloc->calloc(cfg->max_sites, sizeof(uint32_t));
    agg->changed = alloc->calloc(cfg->max_sites, sizeof(uint32_t));
    agg->pending = alloc->calloc(cfg->max_sites, sizeof(uint32_t));
    agg->lines = alloc->calloc(cfg->max_sites, sizeof(struct line_sum));
    agg->ep_bytes = alloc->calloc(cfg->max_endpoints, sizeof(int64_t));
    agg->held = alloc->calloc(cfg->max_sites, sizeof(int64_t));
    agg->holding = alloc->calloc(cfg->max_sites, sizeof(uint32_t));
    agg->held_mark = alloc->calloc(cfg->max_sites, 1);
    agg->refs = alloc->calloc(cfg->max_sites, sizeof(struct refs));
    agg->spare = alloc->calloc(cfg->max_sites, sizeof(uint32_t));
    agg->endpoints = alloc->calloc(cfg->max_endpoints, sizeof(char *));
    agg->workers = alloc->calloc(agg->nslots + 1, sizeof(struct worker));
    agg->npages = (cfg->max_sites + SHARE_PAGE - 1) / SHARE_PAGE;
    agg->shares = alloc->calloc((size_t)(agg->nslots + 1) * agg->npages, sizeof(share_t *));
    if (!agg->sites || !agg->index || !agg->home || !agg->changed || !agg->pending ||
        !agg->lines || !agg->ep_bytes || !agg->held || !agg->holding || !agg->held_mark ||
        !agg->refs || !agg->spare ||
        !agg->endpoints || !agg->workers || !agg->shares)
        goto fail;
    for (uint32_t w = 1; w <= agg->nslots; w++) {
        if (need_share(agg, w, 0) < 0) /* "other sites" takes what finds no room */
            goto fail;
        agg->workers[w].site_map = alloc->calloc(cfg->local_sites, sizeof(uint32_t));
        agg->workers[w].endpoint_map = alloc->calloc(cfg->local_endpoints, sizeof(uint32_t));
        if (!agg->workers[w].site_map || !agg->workers[w].endpoint_map)
            goto fail;
    }
    agg->endpoints[0] = copy_text(agg, "other", 5);
    if (!agg->endpoints[0])
        goto fail;
    agg->nendpoints = 1;
    if (make_other_sites(agg) < 0)
        goto fail;
    agg->nsites = 1;
    return agg;
fail:
    lw_agg_free(agg);
    return NULL;
}

/* True when nothing holds site `id` and nothing would be lost with it
 * (the essay above); cheap tests first. */
static bool evictable(const lw_agg_t *agg, uint32_t id)
{
    const lw_agg_site_t *s = &agg->sites[id];

    if (id == 0 || s->live != 0 || s->det || agg->refs[id].maps || agg->refs[id].leaves)
        return false;
    for (uint32_t w = 1; w <= agg->nslots; w++) {
        const share_t *sh = share_of(agg, w, id);
        if (sh && sh->bytes)
            return false;
    }
    return true;
}

/* Queues site `id` as a spare when it is evictable and not queued yet
 * (its bytes and detector first: what most changed sites fail on). */
static void offer(lw_agg_t *agg, uint32_t id)
{
    if (agg->sites[id].live != 0 || agg->sites[id].det || agg->refs[id].queued ||
        !evictable(agg, id))
        return;
    agg->refs[id].queued = true;
    agg->spare[(agg->spare_head + agg->nspare++) % agg->cfg.max_sites] = id;
}

static void pop_spare(lw_agg_t *agg)
{
    agg->refs[agg->spare[agg->spare_head]].queued = false;
    agg->spare_head = (agg->spare_head + 1) % agg->cfg.max_sites;
    agg->nspare--;
}

/* The id a new site would take: a never-used one while any is left, else
 * the oldest spare's, dropping spares held again on the way; 0 if none. */
static uint32_t free_id(lw_agg_t *agg)
{
    if (agg->nsites < agg->cfg.max_sites)
        return agg->nsites;
    for (; agg->nspare; pop_spare(agg)) {
        if (evictable(agg, agg->spare[agg->spare_head]))
            return agg->spare[agg->spare_head];
    }
    return 0;
}

/* One site fewer links to `up` (0: none). */
static void unlink_up(lw_agg_t *agg, uint32_t up)
{
    if (up && --agg->refs[up].leaves == 0)
        offer(agg, up);
}

/* Gives up site `id`'s place: index entry, text, shares, links up; the
 * caller is told. The id stays in the changed list if it was there, so the
 * next site there is judged once even if it does not change: a site with
 * no detector and no bytes is then only looked at. */
static void evict(lw_agg_t *agg, uint32_t id)
{
    lw_agg_site_t *s = &agg->sites[id];
    uint32_t up[] = {s->rollup_of, s->function_of, s->file_of};
    bool listed = s->changed;

    unindex(agg, id);
    for (uint32_t w = 1; w <= agg->nslots; w++) {
        share_t *sh = share_of(agg, w, id);
        if (sh) /* bytes are 0 already; the peak may not be */
            *sh = (share_t){0, 0};
    }
    agg->alloc.free(s->text);
    agg->alloc.free(s->held);
    memset(s, 0, sizeof(*s));
    s->changed = listed;
    agg->stats.evicted++;
    if (agg->cfg.evicted)
        agg->cfg.evicted(agg->cfg.evicted_ctx, id);
    for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++)
        unlink_up(agg, up[i]);
}

/* Finds or adds a site (text[len] is '\0' unless it is a rollup); 0 (other
 * sites) when no id is free or memory is short, UNSTORED then for an
 * ignored identity. Whether a site is ignored is decided here, once.
 * *fresh says whether it was added. A sum that finds no room is no
 * overflow: its lines are still judged. */
static uint32_t intern_site(lw_agg_t *agg, const char *text, uint32_t len, int32_t line,
                            int32_t app_line, uint32_t nframes, bool rollup, uint8_t kind,
                            bool *fresh)
{
    identity_t k = identity(text, len, line, app_line, rollup, kind);
    uint32_t home = home_slot(agg, &k), id = agg->index[find_slot(agg, &k, home)];
    bool ignored;
    char *copy;

    *fresh = false;
    if (id)
        return id;
    /* a rollup's or sum's file is its leaf's application file, which did not match */
    ignored = !rollup && kind == LW_AGG_LINE && ignored_identity(agg, text, len);
    id = free_id(agg);
    copy = id ? copy_text(agg, text, len) : NULL;
    if (!copy) {
        if (ignored)
            return UNSTORED;
        agg->stats.overflowed += kind == LW_AGG_LINE;
        return 0;
    }
    *fresh = true;
    if (id == agg->nsites) {
        agg->nsites++;
    } else {
        pop_spare(agg);
        evict(agg, id);
    }
    agg->sites[id].text = copy;
    agg->sites[id].text_len = len;
    agg->sites[id].line = line;
    agg->sites[id].app_line = app_line;
    agg->sites[id].nframes = nframes;
    agg->sites[id].rollup = rollup;
    agg->sites[id].kind = kind;
    agg->sites[id].low = INT64_MAX;
    agg->sites[id].ignored = ignored;
    agg->sites[id].judged = !ignored;
    agg->home[id] = home;
    agg->index[find_slot(agg, &k, home)] = id; /* probed again: eviction shifted entries */
    return id;
}

/* A rollup's identity: the app frame as the site, the leaf's traceback kept. */
static uint32_t intern_rollup(lw_agg_t *agg, const lw_agg_site_t *leaf, bool *fresh)
{
    char text[MAX_TEXT];
    const char *app_file = lw_agg_field(leaf, 2), *app_func = lw_agg_field(leaf, 3);
    size_t a = strlen(app_file) + 1, b = strlen(app_func) + 1;
    uint32_t rest = leaf->text_len - identity_of(leaf).len;

    if (a + b + 2 + rest > sizeof(text))
        rest = 0;
    memcpy(text, app_file, a);
    memcpy(text + a, app_func, b);
    text[a + b] = '\0';
    text[a + b + 1] = '\0';
    memcpy(text + a + b + 2, leaf->text + leaf->text_len - rest, rest);
    return intern_site(agg, text, (uint32_t)(a + b + 2 + rest), leaf->app_line, leaf->app_line,
                       rest ? leaf->nframes : 0, true, LW_AGG_LINE, fresh);
}

/* The sum of a function (func given) or of a file (func ""): 0 if no room. */
static uint32_t intern_sum(lw_agg_t *agg, const char *file, const char *func, uint8_t kind)
{
    char text[MAX_TEXT];
    size_t a = strlen(file) + 1, b = strlen(func) + 1;
    bool fresh;

    if (a + b + 2 > sizeof(text))
        return 0;
    memcpy(text, file, a);
    memcpy(text + a, func, b);
    text[a + b] = text[a + b + 1] = '\0';
    return intern_site(agg, text, (uint32_t)(a + b + 2), 0, 0, 0, false, kind, &fresh);
}

/* Site `id` links up to `up` (0: nothing). */
static uint32_t link_up(lw_agg_t *agg, uint32_t up)
{
    if (up)
        agg->refs[up].leaves++;
    return up;
}

/*
 * A new line-level site (a judged line, or an application line library
 * sites roll up to) is summed in its function and its file: made here if
 * need be, each held by the link before the next is made (making one can
 * evict only what nothing holds). Pseudo-sites (no line) are summed in
 * nothing. Linked once, when the site is new, so a sum has every byte of
 * its lines from the start.
 */
static void link_sums(lw_agg_t *agg, uint32_t id)
{
    lw_agg_site_t *s = &agg->sites[id];
    const char *file = lw_agg_field(s, FIELD_FILE);
    uint32_t f;

    if (id == 0 || s->line < 0 || !s->judged || s->kind != LW_AGG_LINE)
        return;
    f = s->function_of = link_up(agg, intern_sum(agg, file, lw_agg_field(s, FIELD_FUNC),
                                                 LW_AGG_FUNCTION));
    if (f && !agg->sites[f].file_of)
        agg->sites[f].file_of = link_up(agg, intern_sum(agg, file, "", LW_AGG_FILE));
    s->file_of = link_up(agg, f ? agg->sites[f].file_of : intern_sum(agg, file, "", LW_AGG_FILE));
}

static uint32_t intern_endpoint(lw_agg_t *agg, const char *name, uint32_t len)
{
    for (uint32_t i = 1; i < agg->nendpoints; i++) {
        if (strlen(agg->endpoints[i]) == len && !memcmp(agg->endpoints[i], name, len))
            return i;
    }
    if (agg->nendpoints >= agg->cfg.max_endpoints)
        return 0;
    agg->endpoints[agg->nendpoints] = copy_text(agg, name, len);
    return agg->endpoints[agg->nendpoints] ? agg->nendpoints++ : 0;
}

/* Invariant: an id is in the changed list exactly when its site's `changed` is set. */
static void mark_changed(lw_agg_t *agg, uint32_t id)
{
    if (!agg->sites[id].changed) {
        agg->sites[id].changed = true;
        agg->changed[agg->nchanged++] = id;
    }
}

static void credit_endpoint(lw_agg_site_t *s, uint32_t endpoint, int64_t bytes)
{
    int slot = 0;

    /* space-saving: the endpoint's slot, else the smallest one is replaced */
    for (int i = 0; i < LW_AGG_TOP_ENDPOINTS; i++) {
        if (s->top[i].endpoint == endpoint && s->top[i].bytes > 0) {
            slot = i;
            break;
        }
        if (s->top[i].bytes < s->top[slot].bytes)
            slot = i;
    }
    if (s->top[slot].endpoint != endpoint)
        s->top[slot].endpoint = endpoint;
    s->top[slot].bytes += bytes;
}

static void apply(lw_agg_t *agg, uint32_t wid, uint32_t id, int64_t bytes, uint32_t endpoint,
                  bool collected)
{
    lw_agg_site_t *s = &agg->sites[id];
    share_t *sh = share_of(agg, wid, id); /* present: the site was mapped with room */
    int64_t *share = &sh->bytes, *peak = &sh->peak;

    s->live += bytes;
    *share += bytes;
    /* A worker released half of its share (a buffer emptied, a cache
     * flushed): a leak never does that, so the site must now beat its old
     * high, whatever the other workers' phases make of the sum. What a
     * collection freed (wire.h, LW_DELTA_COLLECTED) is no release: it was
     * garbage, never held, and leaves the peak with it (a Django view
     * keeping an ORM instance a request under 9.8 KiB of garbage was
     * measured from the peak of its last such fall: at 3.3 T in all). */
    if (*share > *peak)
        *peak = *share;
    else if (collected && bytes < 0) {
        *peak = *peak + bytes > *share ? *peak + bytes : *share;
        s->garbage = true;
        s->collected -= bytes;
    }
    else if (*peak - *share >= RELEASE_MIN(agg->cfg.detect.threshold) && 2 * *share <= *peak) {
        if (s->det)
            lw_detect_pin(s->det);
        s->releases = true;
        *peak = *share;
    }
    if (bytes > 0 && endpoint != NO_ENDPOINT)
        credit_endpoint(s, endpoint, bytes);
    mark_changed(agg, id);
}

/*
 * A sum's bytes are held back while a feed reads deltas and applied once
 * per sum at its end (or before any other record): many lines of one
 * function or file change in one batch, and a sum then costs one update
 * per batch instead of one per delta (make bench: the drain). Its
 * endpoints are not counted: lw_agg_endpoints_of sums its lines'.
 */
static void hold(lw_agg_t *agg, uint32_t id, int64_t bytes)
{
    if (!agg->held_mark[id]) {
        agg->held_mark[id] = 1;
        agg->holding[agg->nholding++] = id;
    }
    agg->held[id] += bytes;
}

static void release_held(lw_agg_t *agg, uint32_t wid)
{
    for (uint32_t i = 0; i < agg->nholding; i++) {
        uint32_t id = agg->holding[i];
        if (agg->held[id])
            apply(agg, wid, id, agg->held[id], NO_ENDPOINT, agg->held_collected);
        agg->held[id] = 0;
        agg->held_mark[id] = 0;
    }
    agg->nholding = 0;
}

/* Notes what the ending generation of `wid` held among the suspect sites. */
static void note_departure(lw_agg_t *agg, uint32_t wid)
{
    lw_departure_t *d = &agg->departures[agg->ndepartures++ % DEPARTURES];

    memset(d, 0, sizeof(*d));
    d->wid = wid;
    d->pid = agg->workers[wid].pid;
    d->nsuspects = (uint32_t)lw_agg_top_sites(agg, wid, true, d->suspects, 3);
    for (uint32_t k = 0; k < d->nsuspects; k++)
        d->bytes[k] = lw_agg_share(agg, d->suspects[k], wid);
}

size_t lw_agg_departures(lw_agg_t *agg, lw_departure_t *out, size_t max)
{
    uint32_t first = agg->ndepartures > DEPARTURES ? agg->ndepartures - DEPARTURES : 0;
    size_t n = 0;

    for (uint32_t i = first; i < agg->ndepartures && n < max; i++)
        out[n++] = agg->departures[i % DEPARTURES];
    agg->ndepartures = 0;
    return n;
}

/* One mapping to site `id` fewer. */
static void unref(lw_agg_t *agg, uint32_t id)
{
    if (--agg->refs[id].maps == 0)
        offer(agg, id);
}

/* Drops the mapping a site_map value holds, if any. */
static void unmap(lw_agg_t *agg, uint32_t mapped)
{
    if (mapped && mapped != UNSTORED)
        unref(agg, mapped - 1);
}

/* Maps worker w's local site id to global `id` (0 included), counted; or
 * to UNSTORED, which holds nothing. */
static void map_local(lw_agg_t *agg, struct worker *w, uint32_t local, uint32_t id)
{
    uint32_t old = w->site_map[local];

    if (id != UNSTORED)
        agg->refs[id].maps++; /* first: the same id mapped again never reaches 0 */
    w->site_map[local] = id == UNSTORED ? UNSTORED : id + 1;
    unmap(agg, old);
}

/* A new generation of worker `wid`: its previous share of everything goes,
 * and what its local ids held. */
static void forget_worker(lw_agg_t *agg, uint32_t wid, const lw_wire_msg_t *hello)
{
    struct worker *w = &agg->workers[wid];

    if (w->pid) /* a generation we knew has ended */
        note_departure(agg, wid);
    for (uint32_t id = 0; id < agg->nsites; id++) {
        share_t *sh = share_of(agg, wid, id);
        if (!sh) { /* a whole page this worker never used */
            id |= SHARE_PAGE - 1;
            continue;
        }
        int64_t share = sh->bytes;
        lw_agg_site_t *s = &agg->sites[id];
        sh->peak = 0;
        if (!share)
            continue;
        s->live -= share;
        sh->bytes = 0;
        if (s->low != INT64_MAX)
            s->low -= share;
        s->has_rise = false; /* what it held then is not known */
        if (s->det)
            lw_detect_shift(s->det, -share);
        mark_changed(agg, id);
    }
    for (uint32_t local = 0; local < agg->cfg.local_sites; local++)
        unmap(agg, w->site_map[local]);
    memset(w->site_map, 0, agg->cfg.local_sites * sizeof(uint32_t));
    memset(w->endpoint_map, 0, agg->cfg.local_endpoints * sizeof(uint32_t));
    w->pid = hello->u.hello.pid;
    w->spawn = hello->u.hello.spawn;
}

static void finish_text(lw_agg_t *agg, uint32_t wid, struct worker *w, const lw_wire_msg_t *p)
{
    if (p->kind == LW_REC_ENDPOINT) {
        if (p->id < agg->cfg.local_endpoints)
            w->endpoint_map[p->id] = intern_endpoint(agg, p->text, p->text_len);
        return;
    }
    if (p->id >= agg->cfg.local_sites) {
        agg->stats.malformed++;
        return;
    }
    bool fresh, rollup_fresh = false;
    uint32_t id = intern_site(agg, p->text, p->text_len, p->u.site.line, p->u.site.app_line,
                              p->u.site.nframes, false, LW_AGG_LINE, &fresh);
    map_local(agg, w, p->id, id); /* held from here: making its rollup cannot evict it */
    if (id == UNSTORED)
        return;
    lw_agg_site_t *s = &agg->sites[id];
    const char *app_file = lw_agg_field(s, FIELD_APP_FILE);
    if (id && !s->ignored && app_file[0] && s->rollup_of == 0 &&
        (strcmp(app_file, lw_agg_field(s, FIELD_FILE)) || s->app_line != s->line)) {
        s->rollup_of = link_up(agg, intern_rollup(agg, s, &rollup_fresh));
        s->judged = s->rollup_of == 0; /* judged through its rollup */
    }
    if (rollup_fresh)
        link_sums(agg, s->rollup_of);
    if (fresh && s->rollup_of) { /* a library line feeds its application line's sums */
        s->function_of = link_up(agg, agg->sites[s->rollup_of].function_of);
        s->file_of = link_up(agg, agg->sites[s->rollup_of].file_of);
    } else if (fresh) {
        link_sums(agg, id);
    }
    if (need_share(agg, wid, id) < 0 || need_share(agg, wid, s->rollup_of) < 0 ||
        need_share(agg, wid, s->function_of) < 0 || need_share(agg, wid, s->file_of) < 0) {
        agg->stats.overflowed += !s->ignored;
        map_local(agg, w, p->id, s->ignored ? UNSTORED : 0);
    }
}

static void feed_one(lw_agg_t *agg, uint32_t wid, struct worker *w, const lw_wire_msg_t *r)
{
    if (r->kind != LW_REC_DELTA && agg->nholding)
        release_held(agg, wid); /* what follows may map, evict or forget */
    switch (r->kind) {
    case LW_REC_HELLO:
        forget_worker(agg, wid, r);
        return;
    case LW_REC_SITE:
    case LW_REC_ENDPOINT:
        finish_text(agg, wid, w, r);
        return;
    case LW_REC_HELD:
        if (agg->cfg.held)
            agg->cfg.held(agg->cfg.held_ctx, wid, w->pid, r->id, r->text, r->text_len);
        return;
    case LW_REC_DELTA: {
        uint32_t local = r->id, ep = r->u.delta.endpoint;
        bool collected = r->u.delta.flags & LW_DELTA_COLLECTED;
        if (local >= agg->cfg.local_sites || w->site_map[local] == 0) {
            agg->stats.malformed++;
            return;
        }
        agg->stats.deltas++;
        if (w->site_map[local] == UNSTORED)
            return; /* an ignored site that found no room */
        uint32_t id = w->site_map[local] - 1;
        uint32_t gep = ep < agg->cfg.local_endpoints ? w->endpoint_map[ep] : 0;
        const lw_agg_site_t *s = &agg->sites[id];
        if (collected != agg->held_collected) { /* a collection's bytes are held apart */
            release_held(agg, wid);
            agg->held_collected = collected;
        }
        apply(agg, wid, id, r->u.delta.bytes, gep, collected);
        if (s->rollup_of)
            apply(agg, wid, s->rollup_of, r->u.delta.bytes, gep, collected);
        if (s->function_of)
            hold(agg, s->function_of, r->u.delta.bytes);
        if (s->file_of)
            hold(agg, s->file_of, r->u.delta.bytes);
        return;
    }
    default: /* the reader yields no other kind */
        return;
    }
}

int lw_agg_feed(lw_agg_t *agg, uint32_t wid, const lw_record_t *recs, size_t n)
{
    const lw_record_t *next = recs;
    struct worker *w;
    lw_wire_msg_t msg;
    uint64_t malformed;

    if (wid == 0 || wid > agg->nslots)
        return -EINVAL;
    w = &agg->workers[wid];
    malformed = w->reader.malformed;
    while (lw_wire_read(&w->reader, &next, recs + n, &msg))
        feed_one(agg, wid, w, &msg);
    release_held(agg, wid);
    agg->fed |= n > 0;
    agg->stats.malformed += w->reader.malformed - malformed;
    return 0;
}

/* Feeds a changed site's total to its detector; true when that makes an alert. */
static bool judge_site(lw_agg_t *agg, lw_agg_site_t *s, uint64_t work)
{
    bool fresh = false;
    int64_t alerted;

    if (!s->judged)
        return false;
    if (s->live < s->low)
        s->low = s->live;
    /* Detector state only for sites big enough to matter, and dropped
     * when a site shrinks back. */
    if (s->det && s->live < DETECT_UNTIL(agg->cfg.detect.threshold) && !s->det->alerted_growth) {
        if (s->releases && s->det->high > s->released_high)
            s->released_high = s->det->high; /* its peaks outlive it */
        agg->alloc.free(s->det);
        s->det = NULL;
    }
    if (!s->det && s->live < DETECT_RISE(agg->cfg.detect.threshold)) {
        s->rise = (lw_point_t){work, s->live, lw_workclock_requests(&agg->clock)};
        s->has_rise = true;
    }
    if (!s->det && s->live >= DETECT_FROM(agg->cfg.detect.threshold)) {
        fresh = (s->det = agg->alloc.calloc(1, sizeof(lw_detect_site_t))) != NULL;
        if (fresh && s->has_rise && s->rise.requests < work) /* its growth from there */
            lw_detect_update_served(s->det, &agg->cfg.detect, s->rise.requests,
                                    s->rise.served, s->rise.bytes);
        s->has_rise = false;
    }
    if (!s->det) {
        s->collected = 0;
        return false;
    }
    lw_detect_collected(s->det, s->collected);
    s->collected = 0;
    alerted = s->det->alerted_growth;
    s->verdict = lw_detect_update_served(s->det, &agg->cfg.detect, work,
                                         lw_workclock_requests(&agg->clock), s->live);
    /* its span, on the work axis, said in requests and seconds */
    lw_workclock_span(&agg->clock, work - s->verdict.requests, &s->verdict.requests,
                      &s->verdict_seconds);
    s->verdict.per_request =
        s->verdict.requests ? (double)s->verdict.growth / (double)s->verdict.requests : 0.0;
    if (fresh && s->releases) /* a site that released must beat its old peaks */
        lw_detect_pin_at(s->det, s->released_high);
    if (s->verdict.kind == LW_VERDICT_LEAK && !s->pending)
        s->gate_alerted = alerted; /* what a withdrawn verdict gives back */
    return s->verdict.kind == LW_VERDICT_LEAK;
}

/* A LEAK verdict on `s` waits for a collection round asked after it. */
static void gate(lw_agg_t *agg, lw_agg_site_t *s)
{
    if (!agg->round_asked) {
        agg->round++;
        agg->round_asked = true;
    }
    s->gate_round = agg->round;
    s->gate_us = agg->now_us;
}

/* Whether site `id`'s gate is open: every worker that holds a share of it
 * ran its round, or the wait is over. */
static bool gate_open(const lw_agg_t *agg, uint32_t id)
{
    const lw_agg_site_t *s = &agg->sites[id];

    if (agg->now_us - s->gate_us >= LW_AGG_GATE_US)
        return true;
    for (uint32_t wid = 1; wid <= agg->nslots; wid++) {
        const share_t *sh = share_of(agg, wid, id);
        if (sh && sh->bytes && (int32_t)(agg->workers[wid].collected - s->gate_round) < 0)
            return false;
    }
    return true;
}

/* A gated verdict whose gate opened: false if withdrawn (what stays after
 * the collections no longer passes the size rule). */
static bool passes_gate(lw_agg_t *agg, lw_agg_site_t *s)
{
    s->gate_round = 0;
    if (!s->det || lw_detect_holds(s->det, &agg->cfg.detect, s->live))
        return true;
    lw_detect_withdraw(s->det, &agg->cfg.detect, s->gate_alerted);
    return false;
}

/* Whether an announcement of site `s` would repeat one already made: a
 * line or function it sums, or a sum it is part of, was announced. */
static bool said_already(const lw_agg_t *agg, const lw_agg_site_t *s)
{
    return s->below_announced || (s->function_of && agg->sites[s->function_of].announced) ||
           (s->file_of && agg->sites[s->file_of].announced);
}

static void announce(lw_agg_t *agg, lw_agg_site_t *s)
{
    s->announced = true;
    if (s->function_of)
        agg->sites[s->function_of].below_announced = true;
    if (s->file_of)
        agg->sites[s->file_of].below_announced = true;
}

/* Bytes site `s` grew since first judged; 0 before. */
static int64_t growth_of(const lw_agg_site_t *s)
{
    return s->low == INT64_MAX || s->live < s->low ? 0 : s->live - s->low;
}

/* The function of file sum `id` that holds DOMINANT of its growth, else 0.
 * O(sites), per alert. */
#define DOMINANT(part, whole) (8 * (part) >= 7 * (whole))
static uint32_t dominant_function(const lw_agg_t *agg, uint32_t id)
{
    int64_t whole = growth_of(&agg->sites[id]), best = 0;
    uint32_t found = 0;

    for (uint32_t i = 1; i < agg->nsites && whole > 0; i++) {
        const lw_agg_site_t *s = &agg->sites[i];
        if (s->kind == LW_AGG_FUNCTION && s->file_of == id && growth_of(s) > best) {
            best = growth_of(s);
            found = i;
        }
    }
    return whole > 0 && DOMINANT(best, whole) ? found : 0;
}

static int by_line(const void *a, const void *b)
{
    const struct line_sum *x = a, *y = b;

    return (x->line > y->line) - (x->line < y->line);
}

/*
 * The lines whose bytes feed sum `id` (for a line: itself) and grew since
 * judged, into agg->lines, one entry per source line: within one function
 * or file a line number is one line, so its sites count together (what it
 * allocates itself, what libraries allocate for it, each traceback that
 * reaches it), and the site that grew most names it. Returns how many;
 * *total gets their summed growth. O(sites + lines log lines), per alert
 * and report: never per delta.
 */
static uint32_t merge_lines(const lw_agg_t *agg, uint32_t id, int64_t *total)
{
    struct line_sum *l = agg->lines;
    uint32_t n = 0, k = 0;

    *total = 0;
    for (uint32_t i = 1; i < agg->nsites; i++) {
        const lw_agg_site_t *s = &agg->sites[i];
        int64_t g = growth_of(s);
        if (s->kind != LW_AGG_LINE || !s->judged || g <= 0 ||
            (i != id && s->function_of != id && s->file_of != id))
            continue;
        l[n++] = (struct line_sum){s->line, i, g, s->rollup ? g : 0, g};
        *total += g;
    }
    qsort(l, n, sizeof(*l), by_line);
    for (uint32_t i = 0; i < n; i++) {
        if (k && l[k - 1].line == l[i].line) {
            l[k - 1].grown += l[i].grown;
            l[k - 1].via += l[i].via;
            if (l[i].best > l[k - 1].best) {
                l[k - 1].best = l[i].best;
                l[k - 1].id = l[i].id;
            }
        } else
            l[k++] = l[i];
    }
    return k;
}

/* The line of function sum `id` that holds DOMINANT of its growth (its
 * sites together, merge_lines), else 0. O(sites), per alert. */
static uint32_t dominant_line(const lw_agg_t *agg, uint32_t id)
{
    int64_t whole = growth_of(&agg->sites[id]), total;
    uint32_t n = whole > 0 ? merge_lines(agg, id, &total) : 0, top = 0;

    for (uint32_t i = 1; i < n; i++)
        if (agg->lines[i].grown > agg->lines[top].grown)
            top = i;
    return n && DOMINANT(agg->lines[top].grown, whole) ? agg->lines[top].id : 0;
}

/*
 * The name a sum's alert goes under: a file's function, or a function's
 * (or that function's) line, that holds nearly all of its growth is the
 * leak, and said as such. A sum sees a leak's growth from its first bytes
 * (it holds other bytes, so it is judged from the start) while a line is
 * judged once it holds T/4, so a leak at one line often crosses in its
 * sums first.
 */
static uint32_t narrowest(const lw_agg_t *agg, uint32_t id)
{
    uint32_t part;

    if (agg->sites[id].kind == LW_AGG_FILE && (part = dominant_function(agg, id)))
        id = part;
    if (agg->sites[id].kind == LW_AGG_FUNCTION && (part = dominant_line(agg, id)))
        id = part;
    return id;
}

/*
 * Takes the pending LEAK verdicts, lines first, then functions, then
 * files (agg.h, Sums): each is announced into out, or quieted when it
 * would say again what an announcement said. Stops when out is full; the
 * rest stays pending, in order.
 */
static size_t announce_pending(lw_agg_t *agg, lw_alert_t *out, size_t max)
{
    size_t n = 0;

    for (uint8_t kind = LW_AGG_LINE; kind <= LW_AGG_FILE; kind++) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < agg->npending; i++) {
            uint32_t id = agg->pending[i];
            lw_agg_site_t *s = &agg->sites[id];
            if (s->kind != kind || (n == max && !said_already(agg, s))) {
                agg->pending[kept++] = id;
                continue;
            }
            /* a sum, or a line collections shrank, waits at its gate (agg.h, Gates) */
            if (agg->cfg.gate && (kind != LW_AGG_LINE || s->garbage) && !said_already(agg, s)) {
                if (!s->gate_round)
                    gate(agg, s);
                if (!gate_open(agg, id)) {
                    agg->pending[kept++] = id;
                    continue;
                }
                if (!passes_gate(agg, s)) {
                    s->pending = false;
                    continue; /* garbage made it: its detector keeps the streak */
                }
            }
            s->pending = false;
            if (said_already(agg, s))
                continue; /* its detector remembers the alert: it speaks again at doublings */
            uint32_t named = narrowest(agg, id);
            lw_agg_site_t *ns = &agg->sites[named];
            if (named != id && ns->det) /* its own verdict comes at a doubling of this */
                lw_detect_alerted(ns->det, ns->verdict.growth > agg->cfg.detect.threshold
                                               ? ns->verdict.growth
                                               : agg->cfg.detect.threshold);
            announce(agg, ns);
            out[n].site = named;
            out[n].verdict = ns->verdict;
            n++;
        }
        agg->npending = kept;
    }
    return n;
}

size_t lw_agg_judge(lw_agg_t *agg, uint64_t requests, lw_alert_t *out, size_t max)
{
    lw_agg_look(agg, requests, 0);
    return lw_agg_judge_now(agg, out, max);
}

uint64_t lw_agg_look(lw_agg_t *agg, uint64_t requests, uint64_t now_us)
{
    bool fed = agg->fed;

    agg->fed = false;
    agg->now_us = now_us;
    return lw_workclock_look(&agg->clock, now_us, requests, fed);
}

uint32_t lw_agg_collect_round(const lw_agg_t *agg)
{
    return agg->round;
}

void lw_agg_collected(lw_agg_t *agg, uint32_t wid, uint32_t round)
{
    if (wid >= 1 && wid <= agg->nslots)
        agg->workers[wid].collected = round;
}

const lw_workclock_t *lw_agg_clock(const lw_agg_t *agg)
{
    return &agg->clock;
}

bool lw_agg_over_time(const lw_agg_site_t *s)
{
    return s->verdict_seconds * (1e6 / LW_WORKCLOCK_TICK_US) > (double)s->verdict.requests;
}

size_t lw_agg_judge_now(lw_agg_t *agg, lw_alert_t *out, size_t max)
{
    uint64_t work = agg->clock.npts ? agg->clock.pts[agg->clock.npts - 1].x : 0;

    agg->round_asked = false;
    for (uint32_t i = 0; i < agg->nchanged; i++) {
        uint32_t id = agg->changed[i];
        lw_agg_site_t *s = &agg->sites[id];
        s->changed = false;
        if (judge_site(agg, s, work) && !s->pending) {
            s->pending = true;
            agg->pending[agg->npending++] = id;

        }
        offer(agg, id); /* its detector or its last bytes may just have gone */
    }
    agg->nchanged = 0;
    return announce_pending(agg, out, max);
}

const lw_agg_cfg_t *lw_agg_config(const lw_agg_t *agg)
{
    return &agg->cfg;
}

const lw_agg_site_t *lw_agg_site(const lw_agg_t *agg, uint32_t id)
{
    return id < agg->nsites ? &agg->sites[id] : NULL;
}

const char *lw_agg_endpoint(const lw_agg_t *agg, uint32_t id)
{
    return id < agg->nendpoints ? agg->endpoints[id] : "?";
}

const char *lw_agg_field(const lw_agg_site_t *site, uint32_t i)
{
    return lw_wire_field(site->text, site->text_len, i);
}

int64_t lw_agg_share(const lw_agg_t *agg, uint32_t id, uint32_t wid)
{
    const share_t *sh;

    if (wid == 0 || wid > agg->nslots || id >= agg->nsites)
        return 0;
    sh = share_of(agg, wid, id);
    return sh ? sh->bytes : 0;
}

bool lw_agg_walk_target(const lw_agg_t *agg, uint32_t id, uint32_t *wid, uint32_t *local)
{
    lw_agg_line_t top;
    uint32_t nlines, line = id, best_site = 0, best_w = 0;
    int64_t total, best = 0;

    if (id == 0 || id >= agg->nsites)
        return false;
    if (agg->sites[id].kind != LW_AGG_LINE) {
        if (!lw_agg_lines_of(agg, id, &top, 1, &nlines, &total))
            return false;
        line = top.id;
    }
    for (uint32_t s = 1; s < agg->nsites; s++) {
        const lw_agg_site_t *c = &agg->sites[s];
        if (c->kind != LW_AGG_LINE || c->rollup || (s != line && c->rollup_of != line))
            continue;
        for (uint32_t w = 1; w <= agg->nslots; w++) {
            int64_t b = lw_agg_share(agg, s, w);
            if (b > best) {
                best = b;
                best_site = s;
                best_w = w;
            }
        }
    }
    if (!best_site)
        return false;
    for (uint32_t l = 0; l < agg->cfg.local_sites; l++) {
        if (agg->workers[best_w].site_map[l] == best_site + 1) {
            *wid = best_w;
            *local = l;
            return true;
        }
    }
    return false;
}

int64_t lw_agg_pid(const lw_agg_t *agg, uint32_t wid)
{
    return wid && wid <= agg->nslots ? agg->workers[wid].pid : 0;
}

int lw_agg_set_held(lw_agg_t *agg, uint32_t id, const char *text, size_t len)
{
    char *copy;

    if (id >= agg->nsites)
        return -EINVAL;
    if (!(copy = agg->alloc.calloc(1, len + 1)))
        return -ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    agg->alloc.free(agg->sites[id].held);
    agg->sites[id].held = copy;
    return 0;
}

void lw_agg_stats(const lw_agg_t *agg, lw_agg_stats_t *out)
{
    *out = agg->stats;
    out->sites = agg->nsites;
    out->endpoints = agg->nendpoints;
}

static int64_t held(const lw_agg_t *agg, uint32_t id, uint32_t wid)
{
    return wid ? lw_agg_share(agg, id, wid) : agg->sites[id].live;
}

/* Judged, and a line or an announced sum: what lists show. */
static bool listed(const lw_agg_site_t *s)
{
    return s->judged && (s->kind == LW_AGG_LINE || s->announced);
}

size_t lw_agg_top_sites(const lw_agg_t *agg, uint32_t wid, bool suspects_only, uint32_t *out,
                        size_t max)
{
    int64_t bytes[LW_AGG_TOP_MAX];
    lw_topn_t top;

    if (wid > agg->nslots)
        return 0;
    lw_topn_init(&top, out, bytes, max < LW_AGG_TOP_MAX ? max : LW_AGG_TOP_MAX);
    for (uint32_t id = 0; id < agg->nsites; id++) {
        const lw_agg_site_t *s = &agg->sites[id];
        int64_t b = held(agg, id, wid);
        if (!listed(s) || b <= 0 ||
            (suspects_only && (!s->det || s->verdict.kind == LW_VERDICT_NONE)))
            continue;
        lw_topn_offer(&top, id, b);
    }
    return top.n;
}

uint32_t lw_agg_suspects(const lw_agg_t *agg)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < agg->nsites; i++)
        n += listed(&agg->sites[i]) && agg->sites[i].det &&
             agg->sites[i].verdict.kind != LW_VERDICT_NONE;
    return n;
}

const char *lw_agg_kind_name(uint8_t kind)
{
    return kind == LW_AGG_FUNCTION ? "function" : kind == LW_AGG_FILE ? "file" : "line";
}

size_t lw_agg_lines_of(const lw_agg_t *agg, uint32_t id, lw_agg_line_t *out, size_t max,
                       uint32_t *nlines, int64_t *total)
{
    uint32_t idx[LW_AGG_LINES_MAX];
    int64_t grown[LW_AGG_LINES_MAX];
    lw_topn_t top;

    *nlines = 0;
    *total = 0;
    if (id >= agg->nsites)
        return 0;
    *nlines = merge_lines(agg, id, total);
    lw_topn_init(&top, idx, grown, max < LW_AGG_LINES_MAX ? max : LW_AGG_LINES_MAX);
    for (uint32_t i = 0; i < *nlines; i++)
        lw_topn_offer(&top, i, agg->lines[i].grown);
    for (size_t i = 0; i < top.n; i++) {
        const struct line_sum *l = &agg->lines[idx[i]];
        out[i] = (lw_agg_line_t){l->id, l->grown, l->via};
    }
    return top.n;
}

size_t lw_agg_endpoints_of(const lw_agg_t *agg, uint32_t id, uint32_t *endpoints, int64_t *bytes)
{
    lw_topn_t top;
    const lw_agg_site_t *s = id < agg->nsites ? &agg->sites[id] : NULL;

    lw_topn_init(&top, endpoints, bytes, LW_AGG_TOP_ENDPOINTS);
    if (!s)
        return 0;
    if (s->kind == LW_AGG_LINE) {
        for (int i = 0; i < LW_AGG_TOP_ENDPOINTS; i++)
            if (s->top[i].bytes > 0)
                lw_topn_offer(&top, s->top[i].endpoint, s->top[i].bytes);
        return top.n;
    }
    for (uint32_t i = 1; i < agg->nsites; i++) { /* the lines merge_lines weighs */
        const lw_agg_site_t *l = &agg->sites[i];
        if (l->kind != LW_AGG_LINE || !l->judged || (l->function_of != id && l->file_of != id))
            continue;
        for (int k = 0; k < LW_AGG_TOP_ENDPOINTS; k++)
            if (l->top[k].bytes > 0 && l->top[k].endpoint < agg->nendpoints)
                agg->ep_bytes[l->top[k].endpoint] += l->top[k].bytes;
    }
    for (uint32_t e = 0; e < agg->nendpoints; e++) {
        if (agg->ep_bytes[e] > 0)
            lw_topn_offer(&top, e, agg->ep_bytes[e]);
        agg->ep_bytes[e] = 0;
    }
    return top.n;
}
