/* shm: layout, claims keyed by pid, lossless cumulative counters, the
 * seqlock's repair after a worker dies mid-claim, and a real reader/writer
 * pair in two processes over shared memory. */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm.h"

#define RING 8 /* records per worker ring: small, a power of two */

static lw_shm_t *make(uint32_t nworkers, uint32_t ncores)
{
    size_t size = lw_shm_size(nworkers, ncores, RING);
    void *mem;

    assert_true(size > 0);
    mem = calloc(1, size);
    assert_non_null(mem);
    assert_int_equal(lw_shm_init(mem, size, nworkers, ncores, RING), 0);
    return mem;
}

static uint32_t claims(lw_shm_t *shm, uint32_t wid)
{
    return atomic_load(&lw_shm_worker(shm, wid)->claims);
}

static void count(lw_shm_t *shm, uint32_t wid, uint32_t core, int n)
{
    lw_core_slot_t *slot = lw_shm_core(shm, wid, core);

    assert_non_null(slot);
    for (int i = 0; i < n; i++)
        lw_core_count_hooksafe(slot);
}

static void test_shm_size_and_limits(void **state)
{
    (void)state;
    assert_int_equal(lw_shm_size(0, 1, RING), 0);
    assert_int_equal(lw_shm_size(1, 0, RING), 0);
    assert_int_equal(lw_shm_size(LW_SHM_MAX_WORKERS + 1, 1, RING), 0);
    assert_int_equal(lw_shm_size(1, LW_SHM_MAX_CORES + 1, RING), 0);
    assert_int_equal(lw_shm_size(1, 1, 3), 0); /* not a power of two */
    assert_int_equal(lw_shm_size(1, 1, 1), 0);
    assert_true(lw_shm_size(LW_SHM_MAX_WORKERS, LW_SHM_MAX_CORES, RING) > 0);
    /* header, worker slots (two lines each), core slots, then one 64-byte
     * aligned ring per worker */
    assert_int_equal(lw_shm_size(4, 2, RING), 64 + 4 * 128 + 8 * 64 + 4 * lw_ring_bytes(RING));
    assert_int_equal(lw_ring_bytes(RING) % 64, 0);
}

static void test_shm_init_writes_the_header(void **state)
{
    lw_shm_t *shm = make(4, 2);

    (void)state;
    assert_int_equal(shm->magic, LW_SHM_MAGIC);
    assert_int_equal(shm->version, LW_SHM_VERSION);
    assert_int_equal(shm->nslots, 4);
    assert_int_equal(shm->ncores, 2);
    assert_int_equal(shm->size, lw_shm_size(4, 2, RING));
    assert_int_equal(shm->ring_capacity, RING);
    for (uint32_t w = 1; w <= 4; w++) {
        lw_worker_slot_t *slot = lw_shm_worker(shm, w);

        assert_non_null(slot);
        assert_int_equal(slot->wid, w);
        assert_int_equal(atomic_load(&slot->pid), 0);
        assert_int_equal(claims(shm, w), 0);
    }
    free(shm);
}

static void test_shm_init_refuses_a_wrong_size_untouched(void **state)
{
    size_t want = lw_shm_size(4, 2, RING);
    unsigned char *mem = malloc(want + 64);
    const size_t sizes[] = {0, 100, want - 1, want + 1, want + 64};

    (void)state;
    assert_non_null(mem);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(mem, 0x33, want + 64);
        assert_int_equal(lw_shm_init(mem, sizes[i], 4, 2, RING), -EINVAL);
        for (size_t b = 0; b < want + 64; b++) {
            if (mem[b] != 0x33)
                fail_msg("size %zu: byte %zu written", sizes[i], b);
        }
    }
    assert_int_equal(lw_shm_init(mem, want, 0, 2, RING), -EINVAL);
    assert_int_equal(lw_shm_init(NULL, want, 4, 2, RING), -EINVAL);
    assert_int_equal(mem[0], 0x33);
    free(mem);
}

static void test_shm_lookups_out_of_range_are_null(void **state)
{
    lw_shm_t *shm = make(4, 2);

    (void)state;
    assert_null(lw_shm_worker(shm, 0));
    assert_null(lw_shm_worker(shm, 5));
    assert_non_null(lw_shm_worker(shm, 4));
    assert_null(lw_shm_core(shm, 0, 0));
    assert_null(lw_shm_core(shm, 5, 0));
    assert_null(lw_shm_core(shm, 1, 2));
    assert_non_null(lw_shm_core(shm, 4, 1));
    assert_null(lw_shm_ring(shm, 0));
    assert_null(lw_shm_ring(shm, 5));
    free(shm);
}

/* Records [p, p + size) as span n; returns n + 1. */
static int span(char **lo, char **hi, int n, void *p, size_t size)
{
    assert_non_null(p);
    lo[n] = p;
    hi[n] = lo[n] + size;
    return n + 1;
}

/* Every worker slot, core slot and ring: inside the region, none overlapping. */
static void test_shm_slots_are_distinct_and_inside(void **state)
{
    enum { W = 4, C = 3, N = W + W * C + W };
    lw_shm_t *shm = make(W, C);
    char *base = (char *)shm, *end = base + shm->size;
    char *lo[N], *hi[N];
    int n = 0;

    (void)state;
    for (uint32_t w = 1; w <= W; w++) {
        n = span(lo, hi, n, lw_shm_worker(shm, w), sizeof(lw_worker_slot_t));
        for (uint32_t c = 0; c < C; c++)
            n = span(lo, hi, n, lw_shm_core(shm, w, c), sizeof(lw_core_slot_t));
        n = span(lo, hi, n, lw_shm_ring(shm, w), lw_ring_bytes(RING));
        assert_int_equal(lw_ring_space(lw_shm_ring(shm, w)), RING); /* ready to use */
    }
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++) {
        assert_true(lo[i] >= base + sizeof(lw_shm_t)); /* after the header */
        assert_true(hi[i] <= end);
        assert_int_equal((uintptr_t)(lo[i] - base) % 64, 0); /* own cache lines */
        for (int j = i + 1; j < N; j++) {
            if (lo[i] < hi[j] && lo[j] < hi[i])
                fail_msg("slots %d and %d overlap", i, j);
        }
    }
    free(shm);
}

static void test_shm_claim_sets_owner_and_counts_spawns(void **state)
{
    lw_shm_t *shm = make(2, 2);
    lw_worker_view_t v;

    (void)state;
    assert_int_equal(lw_shm_claim(shm, 0, 42, 1), -EINVAL);
    assert_int_equal(lw_shm_claim(shm, 3, 42, 1), -EINVAL);
    assert_int_equal(claims(shm, 1), 0);
    assert_int_equal(claims(shm, 2), 0);

    assert_int_equal(lw_shm_claim(shm, 1, 1001, 5), 0);
    assert_int_equal(atomic_load(&lw_shm_worker(shm, 1)->pid), 1001);
    assert_int_equal(claims(shm, 1), 2); /* one claim: odd, then even again */
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.pid, 1001);
    assert_int_equal(v.spawns, 1);
    assert_int_equal(v.spawned_us, 5);
    assert_int_equal(v.requests, 0);

    assert_int_equal(lw_shm_read(shm, 2, &v), 0); /* the other slot: untouched */
    assert_int_equal(v.pid, 0);
    assert_int_equal(v.spawns, 0);
    free(shm);
}

static void test_shm_read_sums_the_cores(void **state)
{
    lw_shm_t *shm = make(2, 2);
    lw_worker_view_t v = {0}, before;

    (void)state;
    lw_shm_claim(shm, 1, 1001, 5);
    count(shm, 1, 0, 7);
    count(shm, 1, 1, 5);
    count(shm, 2, 0, 100); /* another worker's counts stay its own */
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.requests, 12);
    assert_int_equal(lw_shm_read(shm, 2, &v), 0);
    assert_int_equal(v.requests, 100);
    before = v;
    assert_int_equal(lw_shm_read(shm, 0, &v), -EINVAL);
    assert_int_equal(lw_shm_read(shm, 3, &v), -EINVAL);
    assert_memory_equal(&v, &before, sizeof(v));
    free(shm);
}

static void test_shm_respawn_keeps_cumulative_requests(void **state)
{
    lw_shm_t *shm = make(1, 2);
    lw_worker_slot_t *slot = lw_shm_worker(shm, 1);
    lw_worker_view_t v;

    (void)state;
    lw_shm_claim(shm, 1, 100, 1);
    count(shm, 1, 0, 10);
    count(shm, 1, 1, 4);
    atomic_store(&slot->samples, 9);
    atomic_store(&slot->lost, 2);
    atomic_store(&slot->tracked, -300);
    atomic_store(&slot->malloc_free, 5000);
    /* the worker dies; its successor claims the slot */
    lw_shm_claim(shm, 1, 200, 2);
    count(shm, 1, 0, 3);
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.pid, 200);
    assert_int_equal(v.spawns, 2);
    assert_int_equal(v.spawned_us, 2);
    assert_int_equal(v.requests, 17); /* never reset */
    assert_int_equal(claims(shm, 1), 4);
    /* the per-generation counters start again */
    assert_int_equal(atomic_load(&slot->samples), 0);
    assert_int_equal(atomic_load(&slot->lost), 0);
    assert_int_equal(atomic_load(&slot->tracked), 0);
    assert_int_equal(atomic_load(&slot->malloc_free), 0);
    free(shm);
}

static void test_shm_half_claimed_slot_is_not_read_then_repaired(void **state)
{
    lw_shm_t *shm = make(1, 1);
    lw_worker_view_t v, before;

    (void)state;
    memset(&v, 0, sizeof(v)); /* padding included: the view is compared bytewise */
    v.pid = 77;
    v.spawns = v.spawned_us = v.requests = 7;
    lw_shm_claim(shm, 1, 100, 1);
    count(shm, 1, 0, 5);
    /* a worker killed in the middle of its claim leaves the sequence odd */
    atomic_store(&lw_shm_worker(shm, 1)->claims, 3);
    before = v;
    assert_int_equal(lw_shm_read(shm, 1, &v), -EAGAIN);
    assert_memory_equal(&v, &before, sizeof(v));
    /* the next owner's claim finishes the dead one's epoch */
    assert_int_equal(lw_shm_claim(shm, 1, 300, 2), 0);
    assert_int_equal(claims(shm, 1) & 1, 0);
    assert_true(claims(shm, 1) > 3);
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.pid, 300);
    assert_int_equal(v.requests, 5);
    free(shm);
}

/*
 * A worker process claims and counts while the master process reads: every
 * successful read is monotonic and never ahead of the writer, the last exact.
 * The parent reads for as long as the child runs; no sleeps, no timing.
 */
static void test_shm_concurrent_writer_and_reader_processes(void **state)
{
    enum { N = 100000 };
    size_t size = lw_shm_size(1, 2, RING);
    lw_shm_t *shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    lw_worker_view_t v;
    uint64_t last = 0;
    int status = 0;
    pid_t child, done;

    (void)state;
    assert_true(shm != MAP_FAILED);
    assert_int_equal(lw_shm_init(shm, size, 1, 2, RING), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        lw_core_slot_t *core = lw_shm_core(shm, 1, 1);
        lw_shm_claim(shm, 1, (int32_t)getpid(), 1);
        for (int i = 0; i < N; i++)
            lw_core_count_hooksafe(core);
        _exit(0);
    }
    do {
        done = waitpid(child, &status, WNOHANG);
        if (lw_shm_read(shm, 1, &v) == 0) {
            if (v.requests < last || v.requests > N)
                fail_msg("read %llu after %llu", (unsigned long long)v.requests,
                         (unsigned long long)last);
            if (v.requests > 0 && v.pid != child)
                fail_msg("requests counted but pid %d, want %d", (int)v.pid, (int)child);
            last = v.requests;
        }
    } while (done == 0);
    assert_int_equal(done, child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.requests, N);
    assert_int_equal(v.pid, child);
    assert_int_equal(v.spawns, 1);
    munmap(shm, size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shm_size_and_limits),
        cmocka_unit_test(test_shm_init_writes_the_header),
        cmocka_unit_test(test_shm_init_refuses_a_wrong_size_untouched),
        cmocka_unit_test(test_shm_lookups_out_of_range_are_null),
        cmocka_unit_test(test_shm_slots_are_distinct_and_inside),
        cmocka_unit_test(test_shm_claim_sets_owner_and_counts_spawns),
        cmocka_unit_test(test_shm_read_sums_the_cores),
        cmocka_unit_test(test_shm_respawn_keeps_cumulative_requests),
        cmocka_unit_test(test_shm_half_claimed_slot_is_not_read_then_repaired),
        cmocka_unit_test(test_shm_concurrent_writer_and_reader_processes),
    };
    return cmocka_run_group_tests_name("shm", tests, NULL, NULL);
}
