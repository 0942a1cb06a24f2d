/*
 * threads.c - the master's threads and the descriptors they hold (see
 * threads.h for why a fork must not keep them).
 *
 * held_lock makes a record and its descriptor agree at the moment of a
 * fork: a record is made after its open and cleared before its close, both
 * under the lock, and uWSGI's fork waits for the lock (prepare handler). A
 * fork between accept() and the record still leaks that one connection
 * into the child; its client gets its end anyway, because a connection is
 * shut down before it is closed.
 */
#include <uwsgi.h> /* the system headers, with uWSGI's feature macros */

#include "threads.h"

/*
 * The deepest path of a master thread needs a few tens of KiB (an 8 KiB
 * request head, uwsgi_log's 4 KiB, the 16 KiB Theil-Sen scratch); nothing
 * sized by the worker count lives on these stacks. The default stack depends
 * on the libc (glibc takes RLIMIT_STACK, 8 MiB on most hosts; musl gives
 * 128 KiB), so the floor makes every libc give what the tests run with.
 */
#define LW_THREAD_STACK_MIN (256 * 1024)

static int held[LW_HELD_SLOTS] = {-1, -1, -1}; /* under held_lock */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

static void lw_atfork_prepare(void)
{
    pthread_mutex_lock(&held_lock);
}

static void lw_atfork_parent(void)
{
    pthread_mutex_unlock(&held_lock);
}

/* In every child of the master (workers; commands an alarm runs): the
 * descriptors its threads held are not the child's to keep. Done here, the
 * first thing after the fork, rather than in post_fork: uWSGI closes and
 * opens descriptors in between, so a number recorded could by then name
 * another file. */
static void lw_atfork_child(void)
{
    for (int slot = 0; slot < LW_HELD_SLOTS; slot++) {
        if (held[slot] >= 0)
            close(held[slot]);
        held[slot] = -1;
    }
    pthread_mutex_unlock(&held_lock);
}

int lw_threads_init(void)
{
    return pthread_atfork(lw_atfork_prepare, lw_atfork_parent, lw_atfork_child);
}

int lw_thread_start(pthread_t *thread, void *(*run)(void *))
{
    pthread_attr_t attr;
    size_t stack = 0;
    int rc = pthread_attr_init(&attr);

    if (rc != 0)
        return rc;
    if (pthread_attr_getstacksize(&attr, &stack) != 0 || stack < LW_THREAD_STACK_MIN)
        pthread_attr_setstacksize(&attr, LW_THREAD_STACK_MIN);
    rc = pthread_create(thread, &attr, run, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

void lw_held_keep(enum lw_held_slot slot, int fd)
{
    pthread_mutex_lock(&held_lock);
    held[slot] = fd;
    pthread_mutex_unlock(&held_lock);
}

void lw_held_release(enum lw_held_slot slot, int is_socket)
{
    int fd;

    pthread_mutex_lock(&held_lock);
    fd = held[slot];
    held[slot] = -1;
    if (fd >= 0 && is_socket)
        shutdown(fd, SHUT_RDWR); /* ends it for the client even where a fork copied it */
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&held_lock);
}

int64_t lw_mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

ssize_t lw_read_text(const char *path, char *buf, size_t len)
{
    size_t have = 0;
    ssize_t n = 0;
    int fd;

    pthread_mutex_lock(&held_lock); /* no fork between the open and its record */
    fd = held[LW_HELD_ANALYST] = open(path, O_RDONLY | O_CLOEXEC);
    pthread_mutex_unlock(&held_lock);
    if (fd < 0)
        return -1;
    while (have + 1 < len && (n = read(fd, buf + have, len - 1 - have)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        have += (size_t)n;
    }
    lw_held_release(LW_HELD_ANALYST, 0);
    buf[have] = '\0';
    return n < 0 ? -1 : (ssize_t)have;
}
