/*
 * frames.h - where a Python allocation comes from, read inside the hooks.
 *
 * Inside an allocator hook we may not allocate, call Python or run the
 * garbage collector. The public ways to reach the current frame
 * (PyEval_GetFrame, PyThreadState_GetFrame) materialise a PyFrameObject: an
 * allocation of a GC-tracked object that can start a collection and run
 * arbitrary finalizers in the middle of someone else's malloc. So, like
 * CPython's own tracemalloc, frames.c reads the interpreter's frame chain
 * (3.11 internals) and resolves lines with the public PyCode_Addr2Line,
 * which only reads the code object's line table.
 *
 * Names (file, qualified function name) are copied out of the code object
 * the first time it is seen, into an interned string table (src/strtab.h),
 * and handed out as ids: a site or a traceback holds no reference to any
 * code object, so code compiled per request (namedtuple(), dataclasses,
 * template engines) is freed as it would be without leakwatch, and the
 * same code compiled again is the same site. A cache maps code objects to
 * their ids; a code object's death clears its entry, so a new one at the
 * same address is never taken for it.
 */
#ifndef LW_FRAMES_H
#define LW_FRAMES_H

#include <stdint.h>

#include "../src/sites.h"

/* One traceback entry, resolved when its site was first seen. */
typedef struct lw_frame {
    uint32_t file, func;   /* name ids, lw_frames_name() */
    int32_t line;
} lw_frame_t;

/*
 * In a fresh worker, with the GIL held, before any hook runs: maps the name
 * table and the code cache, learns which file names belong to the stdlib
 * and installed packages (not to the application), and starts watching
 * code objects' deaths. Returns 0; -ENOMEM when the tables cannot be
 * mapped (nothing else done); -EINVAL when sysconfig is unavailable (a
 * Python error cleared; only site-/dist-packages and frozen modules then
 * count as libraries).
 */
int lw_frames_init(void);

/*
 * Fills key with the innermost frame and the innermost application frame of
 * the running thread (GIL held). Returns 0; -ENOENT when no Python code
 * runs (key then describes "no Python frame", line -1); -ENOSPC when the
 * name table is full (key zeroed: the caller counts the sample elsewhere).
 */
int lw_frames_site_hooksafe(lw_site_key_t *key);

/* Whether Python's cyclic collector is running (GIL held): a sampled block
 * freed now was garbage (wire.h, LW_DELTA_COLLECTED). */
bool lw_frames_collecting_hooksafe(void);

/* Copies up to `max` frames, innermost first. Returns the count. */
int lw_frames_traceback_hooksafe(lw_frame_t *out, int max);

/* The text of a name id, UTF-8; "?" for none. */
const char *lw_frames_name(uint32_t id);

#endif
