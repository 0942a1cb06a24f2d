/* children.c - uWSGI's workers, mules and spoolers as leakwatch's slots (see children.h). */
#include <uwsgi.h>

#include "children.h"

extern struct uwsgi_server uwsgi;

void lw_children_count(lw_procs_t *out)
{
    uint32_t spoolers = 0;

    for (struct uwsgi_spooler *s = uwsgi.spoolers; s; s = s->next)
        spoolers++;
    *out = (lw_procs_t){
        .workers = uwsgi.numproc > 0 ? (uint32_t)uwsgi.numproc : 1,
        .mules = uwsgi.mules_cnt > 0 ? (uint32_t)uwsgi.mules_cnt : 0,
        .spoolers = spoolers,
    };
}

/* The spooler numbered `number` (from 1) in uWSGI's list, or NULL. */
static struct uwsgi_spooler *spooler_at(uint32_t number)
{
    struct uwsgi_spooler *s = uwsgi.spoolers;

    for (uint32_t i = 1; s && i < number; i++)
        s = s->next;
    return number ? s : NULL;
}

int64_t lw_children_pid(const lw_procs_t *p, uint32_t slot)
{
    lw_proc_t proc = lw_procs_of(p, slot);
    struct uwsgi_spooler *s;

    switch (proc.kind) {
    case LW_PROC_WORKER:
        return uwsgi.workers ? uwsgi.workers[proc.number].pid : 0;
    case LW_PROC_MULE: /* allocated after init, filled at each spawn */
        return uwsgi.mules ? uwsgi.mules[proc.number - 1].pid : 0;
    case LW_PROC_SPOOLER:
        return (s = spooler_at(proc.number)) ? s->pid : 0;
    default:
        return 0;
    }
}

uint32_t lw_children_me(const lw_procs_t *p)
{
    pid_t me = getpid();

    if (uwsgi.mywid > 0)
        return lw_procs_slot(p, LW_PROC_WORKER, (uint32_t)uwsgi.mywid);
    if (uwsgi.muleid > 0 && uwsgi.mules && uwsgi.mules[uwsgi.muleid - 1].pid == me)
        return lw_procs_slot(p, LW_PROC_MULE, (uint32_t)uwsgi.muleid);
    if (uwsgi.i_am_a_spooler && uwsgi.i_am_a_spooler->pid == me) {
        uint32_t number = 1;
        for (struct uwsgi_spooler *s = uwsgi.spoolers; s; s = s->next, number++)
            if (s == uwsgi.i_am_a_spooler)
                return lw_procs_slot(p, LW_PROC_SPOOLER, number);
    }
    return 0;
}
