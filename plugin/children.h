/*
 * children.h - uWSGI's tables of the processes its master forks, translated
 * into leakwatch's slots (src/procs.h): how many of each kind a run has, the
 * pid uWSGI holds for a slot, and which slot a process is.
 *
 * uWSGI 2.0 calls a plugin that serves no requests (leakwatch: in gp[], not
 * p[]) in workers only (post_fork). Mules call no hook of such a plugin, so
 * leakwatch asks uWSGI to run `leakwatch_as_mule` in each (--hook-as-mule's
 * list, "call:"); spoolers call its spooler_init. Both come after the
 * python plugin's post_fork, as a worker's post_fork does.
 */
#ifndef LW_CHILDREN_H
#define LW_CHILDREN_H

#include <stdint.h>

#include "../src/procs.h"

/* Master, in init: the run's workers, mules and spoolers (all counted by
 * then: uWSGI counts them while parsing its options). */
void lw_children_count(lw_procs_t *out);

/* Master: the pid uWSGI holds for slot `slot`, 0 when none is running. */
int64_t lw_children_pid(const lw_procs_t *p, uint32_t slot);

/* In a child of the master: its slot, or 0 (the master; a process the app
 * forked from a mule or a spooler). */
uint32_t lw_children_me(const lw_procs_t *p);

#endif
