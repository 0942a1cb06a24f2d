/* shm: layout, claims keyed by pid, lossless cumulative counters, and a
 * real reader/writer pair in two processes over shared memory. */
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

#define RING 8

static lw_shm_t *make(uint32_t nworkers, uint32_t ncores)
{
    size_t size = lw_shm_size(nworkers, ncores, RING);
    void *mem = calloc(1, size);

    assert_non_null(mem);
    assert_int_equal(lw_shm_init(mem, size, nworkers, ncores, RING), 0);
    return mem;
}

static void test_shm_size_and_limits(void **state)
{
    (void)state;
    assert_int_equal(lw_shm_size(0, 1, RING), 0);
    assert_int_equal(lw_shm_size(1, 0, RING), 0);
    assert_int_equal(lw_shm_size(1, 1, 3), 0);
    assert_int_equal(lw_shm_size(LW_SHM_MAX_WORKERS + 1, 1, RING), 0);
    assert_int_equal(lw_shm_size(1, LW_SHM_MAX_CORES + 1, RING), 0);
    /* header, worker slots, core slots, then one ring per worker */
    assert_int_equal(lw_shm_size(4, 2, RING), 64 + 4 * 64 + 8 * 64 + 4 * (192 + RING * 32));
}

static void test_shm_init_lays_out_and_validates(void **state)
{
    lw_shm_t *shm = make(4, 2);
    char junk[1024];

    (void)state;
    assert_int_equal(shm->magic, LW_SHM_MAGIC);
    assert_int_equal(shm->version, LW_SHM_VERSION);
    assert_int_equal(shm->nworkers, 4);
    assert_int_equal(shm->ncores, 2);
    for (uint32_t w = 1; w <= 4; w++)
        assert_int_equal(lw_shm_worker(shm, w)->wid, w);
    assert_null(lw_shm_worker(shm, 0));
    assert_null(lw_shm_worker(shm, 5));
    assert_null(lw_shm_core(shm, 1, 2));
    assert_null(lw_shm_core(shm, 0, 0));
    /* cores are distinct and inside the region */
    char *end = (char *)shm + shm->size;
    for (uint32_t w = 1; w <= 4; w++) {
        for (uint32_t c = 0; c < 2; c++) {
            char *p = (char *)lw_shm_core(shm, w, c);
            assert_true(p >= (char *)lw_shm_worker(shm, 4) + sizeof(lw_worker_slot_t));
            assert_true(p + sizeof(lw_core_slot_t) <= end);
            if (c)
                assert_ptr_equal(p, (char *)lw_shm_core(shm, w, 0) + sizeof(lw_core_slot_t));
        }
    }
    /* rings follow the cores, one per worker, inside the region, ready to use */
    for (uint32_t w = 1; w <= 4; w++) {
        lw_ring_t *r = lw_shm_ring(shm, w);
        assert_true((char *)r >= (char *)lw_shm_core(shm, 4, 1) + sizeof(lw_core_slot_t));
        assert_true((char *)r + lw_ring_bytes(RING) <= end);
        assert_int_equal(((uintptr_t)r) % 64, ((uintptr_t)shm) % 64);
        assert_int_equal(lw_ring_space(r), RING);
    }
    assert_null(lw_shm_ring(shm, 0));
    assert_null(lw_shm_ring(shm, 5));
    memset(junk, 0x33, sizeof(junk));
    assert_int_equal(lw_shm_init(junk, 100, 4, 2, RING), -EINVAL);
    for (size_t i = 0; i < sizeof(junk); i++)
        assert_int_equal((unsigned char)junk[i], 0x33);
    free(shm);
}

static void test_shm_claim_and_count(void **state)
{
    lw_shm_t *shm = make(2, 2);
    lw_worker_view_t v;

    (void)state;
    assert_int_equal(lw_shm_claim(shm, 3, 42, 1), -EINVAL);
    assert_int_equal(lw_shm_claim(shm, 1, 1001, 5), 0);
    for (int i = 0; i < 7; i++)
        lw_core_count_hooksafe(lw_shm_core(shm, 1, 0));
    for (int i = 0; i < 5; i++)
        lw_core_count_hooksafe(lw_shm_core(shm, 1, 1));
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.pid, 1001);
    assert_int_equal(v.requests, 12);
    assert_int_equal(v.spawns, 1);
    assert_int_equal(v.spawned_us, 5);
    assert_int_equal(lw_shm_read(shm, 2, &v), 0);
    assert_int_equal(v.pid, 0);
    assert_int_equal(lw_shm_read(shm, 9, &v), -EINVAL);
    free(shm);
}

static void test_shm_respawn_keeps_cumulative_counts(void **state)
{
    lw_shm_t *shm = make(1, 1);
    lw_worker_view_t v;

    (void)state;
    lw_shm_claim(shm, 1, 100, 1);
    for (int i = 0; i < 10; i++)
        lw_core_count_hooksafe(lw_shm_core(shm, 1, 0));
    /* the worker dies; its successor claims the slot */
    lw_shm_claim(shm, 1, 200, 2);
    for (int i = 0; i < 3; i++)
        lw_core_count_hooksafe(lw_shm_core(shm, 1, 0));
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.pid, 200);
    assert_int_equal(v.spawns, 2);
    assert_int_equal(v.requests, 13);
    free(shm);
}

static void test_shm_half_claimed_slot_is_not_read_then_repaired(void **state)
{
    lw_shm_t *shm = make(1, 1);
    lw_worker_view_t v = {.pid = 77}, before;

    (void)state;
    lw_shm_claim(shm, 1, 100, 1);
    /* a worker killed in the middle of its claim leaves the sequence odd */
    atomic_store(&lw_shm_worker(shm, 1)->claims, 3);
    before = v;
    assert_int_equal(lw_shm_read(shm, 1, &v), -EAGAIN);
    assert_memory_equal(&v, &before, sizeof(v));
    lw_shm_claim(shm, 1, 300, 2);
    assert_int_equal(atomic_load(&lw_shm_worker(shm, 1)->claims) & 1, 0);
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.pid, 300);
    free(shm);
}

/* A worker process counts while the master process reads: every read is
 * consistent and monotonic, the last one exact. */
static void test_shm_concurrent_writer_and_reader_processes(void **state)
{
    enum { N = 200000 };
    size_t size = lw_shm_size(1, 2, RING);
    lw_shm_t *shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    lw_worker_view_t v;
    uint64_t last = 0;
    int status;

    (void)state;
    assert_true(shm != MAP_FAILED);
    assert_int_equal(lw_shm_init(shm, size, 1, 2, RING), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        lw_shm_claim(shm, 1, (int32_t)getpid(), 1);
        for (int i = 0; i < N; i++)
            lw_core_count_hooksafe(lw_shm_core(shm, 1, (uint32_t)(i & 1)));
        _exit(0);
    }
    for (int i = 0; i < 100000; i++) {
        if (lw_shm_read(shm, 1, &v) == 0) {
            assert_true(v.requests >= last);
            assert_true(v.requests <= N);
            last = v.requests;
        }
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(lw_shm_read(shm, 1, &v), 0);
    assert_int_equal(v.requests, N);
    assert_int_equal(v.pid, child);
    munmap(shm, size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shm_size_and_limits),
        cmocka_unit_test(test_shm_init_lays_out_and_validates),
        cmocka_unit_test(test_shm_claim_and_count),
        cmocka_unit_test(test_shm_respawn_keeps_cumulative_counts),
        cmocka_unit_test(test_shm_half_claimed_slot_is_not_read_then_repaired),
        cmocka_unit_test(test_shm_concurrent_writer_and_reader_processes),
    };
    return cmocka_run_group_tests_name("shm", tests, NULL, NULL);
}
