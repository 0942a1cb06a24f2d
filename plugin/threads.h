/*
 * threads.h - the master's threads (analyst, listeners): how they start, and
 * the descriptors they hold while uWSGI may fork.
 *
 * uWSGI forks a worker from the master's main thread whenever one must be
 * (re)spawned, and a fork copies whatever is open at that moment into the
 * new worker, where nothing would ever close it: a client connection left
 * open there outlived the master's close() (`nc ... | python3 -m json.tool`
 * hung until that worker exited), and the analyst's /proc reads leaked a
 * descriptor per unlucky respawn. So each thread records the descriptor it
 * holds in its slot, and every child of the master closes what is recorded,
 * first thing after the fork (fork handlers, lw_threads_init).
 */
#ifndef LW_THREADS_H
#define LW_THREADS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Who holds a descriptor: one slot per master thread. */
enum lw_held_slot { LW_HELD_ANALYST, LW_HELD_REPORT, LW_HELD_HTTP, LW_HELD_SLOTS };

/* In init (master, before any thread or fork). Returns pthread_atfork's result. */
int lw_threads_init(void);

/*
 * Starts one of the master's threads with at least LW_THREAD_STACK_MIN of
 * stack, whatever the libc's default. Returns pthread_create's result.
 */
int lw_thread_start(pthread_t *thread, void *(*run)(void *));

/* Records `fd` as what `slot`'s thread holds (a descriptor it just opened). */
void lw_held_keep(enum lw_held_slot slot, int fd);

/* Forgets slot's descriptor and closes it; a socket is shut down first, which
 * ends it for its peer even where a fork copied it. */
void lw_held_release(enum lw_held_slot slot, int is_socket);

/*
 * Reads a small file whole into buf (NUL-terminated; a longer file is cut),
 * holding its descriptor in the analyst's slot (init, which also calls it,
 * runs before any thread). Returns the bytes read, or -1.
 */
ssize_t lw_read_text(const char *path, char *buf, size_t len);

/* Seconds on a clock that never goes back (the page's history, connection deadlines). */
int64_t lw_mono_seconds(void);

#endif
