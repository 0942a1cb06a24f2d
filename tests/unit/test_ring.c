/* ring: wrap-around, all-or-nothing pushes, and a producer and a consumer
 * in two processes over shared memory, or two threads (where ThreadSanitizer
 * sees both sides: make SANITIZER=thread), losing and reordering nothing. */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring.h"

static lw_ring_t *make(uint64_t capacity)
{
    lw_ring_t *r = calloc(1, lw_ring_bytes(capacity));

    assert_non_null(r);
    assert_int_equal(lw_ring_init(r, capacity), 0);
    return r;
}

static lw_record_t delta(uint32_t id, int64_t bytes)
{
    lw_record_t rec;

    memset(&rec, 0, sizeof(rec));
    rec.kind = LW_REC_DELTA;
    rec.id = id;
    rec.u.delta.bytes = bytes;
    return rec;
}

static void test_ring_bytes_and_init_validate(void **state)
{
    (void)state;
    assert_int_equal(lw_ring_bytes(0), 0);
    assert_int_equal(lw_ring_bytes(3), 0);
    assert_int_equal(lw_ring_bytes(8), sizeof(lw_ring_t) + 8 * 32);
    assert_int_equal(lw_ring_init(NULL, 8), -EINVAL);
}

static void test_ring_wraps_around_in_order(void **state)
{
    lw_ring_t *r = make(8);
    lw_record_t out[8];
    uint32_t next_in = 0, next_out = 0;

    (void)state;
    for (int round = 0; round < 100; round++) {
        uint64_t n = (uint64_t)(round % 5) + 1;
        for (uint64_t i = 0; i < n; i++) {
            lw_record_t rec = delta(next_in, next_in);
            if (lw_ring_push(r, &rec, 1) == 0)
                next_in++;
        }
        uint64_t got = lw_ring_pop(r, out, (uint64_t)(round % 3) + 1);
        for (uint64_t i = 0; i < got; i++)
            assert_int_equal(out[i].id, next_out++);
    }
    while (lw_ring_pop(r, out, 1) == 1)
        assert_int_equal(out[0].id, next_out++);
    assert_int_equal(next_in, next_out);
    assert_true(next_in > 200); /* it wrapped many times */
    free(r);
}

static void test_ring_full_refuses_whole_groups(void **state)
{
    lw_ring_t *r = make(4);
    lw_record_t group[3] = {delta(1, 1), delta(2, 2), delta(3, 3)}, out[4];

    (void)state;
    assert_int_equal(lw_ring_space(r), 4);
    assert_int_equal(lw_ring_push(r, group, 3), 0);
    assert_int_equal(lw_ring_space(r), 1);
    assert_int_equal(lw_ring_push(r, group, 3), -ENOSPC); /* nothing half-written */
    assert_int_equal(lw_ring_space(r), 1);
    assert_int_equal(lw_ring_pop(r, out, 4), 3);
    assert_int_equal(out[2].id, 3);
    assert_int_equal(lw_ring_pop(r, out, 4), 0);
    assert_int_equal(lw_ring_push(r, group, 3), 0);
    free(r);
}

/* A worker process pushes 1,000,000 numbered records, retrying when full
 * (as the engine does, keeping the change for later); the master process
 * pops concurrently. Every record arrives once, in order, intact. */
enum { N = 1000000, CAP = 64 };

/* The producer's side: N records, each pushed until it fits. */
static void produce(lw_ring_t *r)
{
    for (uint64_t i = 0; i < N;) {
        lw_record_t rec = delta((uint32_t)i, (int64_t)(i * 3));
        rec.u.delta.count = (int64_t)~i;
        if (lw_ring_push(r, &rec, 1) == 0)
            i++;
    }
}

/* The consumer's side: all N records, in order, intact. */
static void consume(lw_ring_t *r)
{
    lw_record_t out[16];
    uint64_t expected = 0;

    while (expected < N) {
        uint64_t n = lw_ring_pop(r, out, 16);
        for (uint64_t i = 0; i < n; i++, expected++) {
            assert_int_equal(out[i].id, (uint32_t)expected);
            assert_int_equal(out[i].u.delta.bytes, (int64_t)(expected * 3));
            assert_int_equal(out[i].u.delta.count, (int64_t)~expected);
        }
    }
    assert_int_equal(lw_ring_pop(r, out, 16), 0);
}

static void *producer_thread(void *ring)
{
    produce(ring);
    return NULL;
}

static void test_ring_two_threads_lose_nothing(void **state)
{
    lw_ring_t *r = make(CAP);
    pthread_t producer;

    (void)state;
    assert_int_equal(pthread_create(&producer, NULL, producer_thread, r), 0);
    consume(r);
    assert_int_equal(pthread_join(producer, NULL), 0);
    free(r);
}

static void test_ring_two_processes_lose_nothing(void **state)
{
    size_t size = lw_ring_bytes(CAP);
    lw_ring_t *r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int status;

    (void)state;
    assert_true(r != MAP_FAILED);
    assert_int_equal(lw_ring_init(r, CAP), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        produce(r);
        _exit(0);
    }
    consume(r);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap(r, size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_bytes_and_init_validate),
        cmocka_unit_test(test_ring_wraps_around_in_order),
        cmocka_unit_test(test_ring_full_refuses_whole_groups),
        cmocka_unit_test(test_ring_two_threads_lose_nothing),
        cmocka_unit_test(test_ring_two_processes_lose_nothing),
    };
    return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
