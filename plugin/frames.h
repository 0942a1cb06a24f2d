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
 */
#ifndef LW_FRAMES_H
#define LW_FRAMES_H

#include <stdint.h>

#include "../src/sites.h"

/* One traceback entry: a code object (strong reference) and its last instruction. */
typedef struct lw_frame {
    void *code;
    int lasti;
} lw_frame_t;

/*
 * Learns which file names belong to the stdlib and installed packages (not
 * to the application). Call with the GIL held, outside hooks. Returns 0, or
 * -1 with a Python error cleared (then only site-/dist-packages and frozen
 * modules count as libraries).
 */
int lw_frames_init(void);

/*
 * Fills key with the innermost frame and the innermost application frame of
 * the running thread (GIL held). Returns 0, or -1 when no Python code runs
 * (key then describes "no Python frame").
 */
int lw_frames_site_hooksafe(lw_site_key_t *key);

/*
 * Copies up to `max` frames, innermost first, taking a reference to each
 * code object (kept for the life of the worker: code objects are never
 * released from a hook, since deallocation can run Python). Returns the count.
 */
int lw_frames_traceback_hooksafe(lw_frame_t *out, int max);

/* The line a traceback entry points at. GIL held. */
int lw_frames_line(const lw_frame_t *frame);

/* File and function names of a code object as UTF-8, or "?" (GIL held, not in hooks). */
const char *lw_frames_filename(uintptr_t code);
const char *lw_frames_funcname(uintptr_t code);

#endif
