/*
 * cgctl.c - make bench's callgrind switches, loaded by the benchmark app
 * (tests/bench/app.py, LEAKWATCH_BENCH_CGCTL) through ctypes.
 *
 * callgrind_control reaches only the process valgrind started: a uWSGI
 * worker is a fork of the master, and valgrind's gdbserver does not follow
 * it there. Every leakwatch option makes uWSGI start a master
 * (UWSGI_OPT_MASTER), so tests/bench/instructions.py has the worker zero
 * and dump its own counters with client requests, from a request.
 */
#include <valgrind/callgrind.h>

void lw_bench_cg_zero(void);
void lw_bench_cg_dump(void);

void lw_bench_cg_zero(void)
{
    CALLGRIND_ZERO_STATS;
}

void lw_bench_cg_dump(void)
{
    CALLGRIND_DUMP_STATS;
}
