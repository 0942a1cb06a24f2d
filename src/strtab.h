/*
 * strtab.h - interned strings for a worker's site names, usable in hooks.
 *
 * A site is named by its file and function (and its application frame's),
 * and those names come from code objects. Holding the code objects to read
 * the names later pins them and everything they hold (per-request
 * generated code: namedtuple(), dataclasses, template engines), and keying
 * sites by code-object address makes a new site of every such compilation.
 * So the names are copied once, at first sight, into this table, and sites
 * are keyed by their ids: the same file and function compiled again is the
 * same site, and nothing of the code object is kept.
 *
 * Open addressing over ids (load at most 1/2; the index grows in place, see
 * index.h), entries and the text arena
 * in memory from the caller; the table never allocates, so interning fits
 * inside allocator hooks. Id 0 is never handed out: callers use it for "no
 * name". Strings are never removed; when the table or the arena is full,
 * interning refuses and counts it.
 */
#ifndef LW_STRTAB_H
#define LW_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#define LW_STR_NONE 0

typedef struct lw_str {
    uint64_t hash;
    uint32_t off;         /* in the arena; the text is NUL-terminated there */
    uint32_t len;
} lw_str_t;

typedef struct lw_strtab {
    lw_str_t *entries;    /* [capacity + 1]; [0] is "no name" */
    uint32_t *index;      /* [2 * capacity] ids, 0 = empty slot; [slots] in use */
    char *arena;          /* [arena_bytes] */
    uint32_t capacity;    /* strings at most */
    uint32_t slots;       /* of the index, grown as used (lw_index_grows) */
    uint32_t used;        /* ids handed out so far (the next is used + 1) */
    uint32_t arena_bytes;
    uint32_t arena_used;
    uint64_t refused;     /* interns that found the table or the arena full */
} lw_strtab_t;

/* Bytes of memory for `capacity` strings (1 .. 1<<24) and an arena of
 * `arena_bytes` (>= 1, < 4 GiB); 0 when out of range. */
size_t lw_strtab_bytes(uint32_t capacity, uint32_t arena_bytes);

/* Lays the table out in `mem` (lw_strtab_bytes() zeroed bytes). 0, or -EINVAL. */
int lw_strtab_init(lw_strtab_t *t, void *mem, uint32_t capacity, uint32_t arena_bytes);

/*
 * The id of the `len` bytes at `s`, adding them if new. Returns 1 (new) or
 * 0 (known) with *id set; -ENOSPC when the table or the arena is full
 * (counted in `refused`, *id = LW_STR_NONE, table unchanged).
 */
int lw_strtab_intern_hooksafe(lw_strtab_t *t, const char *s, uint32_t len, uint32_t *id);

/* The text of `id`, NUL-terminated; "" for LW_STR_NONE or an id not handed out. */
const char *lw_strtab_text(const lw_strtab_t *t, uint32_t id);

#endif
