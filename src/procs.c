/* procs.c - the processes leakwatch tracks, and their slots (see procs.h). */
#include <stdio.h>

#include "procs.h"

static const lw_proc_kind_t kinds[] = {LW_PROC_WORKER, LW_PROC_MULE, LW_PROC_SPOOLER};

static uint32_t count_of(const lw_procs_t *p, lw_proc_kind_t kind)
{
    return kind == LW_PROC_WORKER ? p->workers : kind == LW_PROC_MULE ? p->mules : p->spoolers;
}

uint32_t lw_procs_count(const lw_procs_t *p)
{
    uint64_t n = (uint64_t)p->workers + p->mules + p->spoolers;

    return n > UINT32_MAX ? 0 : (uint32_t)n;
}

lw_proc_t lw_procs_of(const lw_procs_t *p, uint32_t slot)
{
    uint32_t first = 1;

    for (size_t k = 0; slot && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        uint32_t n = count_of(p, kinds[k]);
        if (slot - first < n)
            return (lw_proc_t){kinds[k], slot - first + 1};
        first += n;
    }
    return (lw_proc_t){LW_PROC_NONE, 0};
}

uint32_t lw_procs_slot(const lw_procs_t *p, lw_proc_kind_t kind, uint32_t number)
{
    uint32_t first = 1;

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        uint32_t n = count_of(p, kinds[k]);
        if (kinds[k] == kind)
            return number >= 1 && number <= n ? first + number - 1 : 0;
        first += n;
    }
    return 0;
}

const char *lw_proc_kind_name(lw_proc_kind_t kind)
{
    switch (kind) {
    case LW_PROC_WORKER:
        return "worker";
    case LW_PROC_MULE:
        return "mule";
    case LW_PROC_SPOOLER:
        return "spooler";
    default:
        return "?";
    }
}

char *lw_proc_name(lw_proc_t p, char *buf, size_t len)
{
    if (p.kind == LW_PROC_NONE)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%s %u", lw_proc_kind_name(p.kind), p.number);
    return buf;
}

char *lw_procs_name(const lw_procs_t *p, uint32_t slot, char *buf, size_t len)
{
    lw_proc_t proc = lw_procs_of(p, slot);

    if (proc.kind == LW_PROC_NONE) {
        snprintf(buf, len, "slot %u", slot);
        return buf;
    }
    return lw_proc_name(proc, buf, len);
}

void lw_procs_list(lw_strbuf_t *t, const lw_procs_t *p,
                   bool (*has)(const void *ctx, uint32_t slot), const void *ctx)
{
    const char *group = "";

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        uint32_t first = lw_procs_slot(p, kinds[k], 1), n = count_of(p, kinds[k]), picked = 0;
        for (uint32_t i = 0; i < n; i++)
            picked += has(ctx, first + i);
        if (!picked)
            continue;
        lw_strbuf_put(t, "%s%s%s ", group, lw_proc_kind_name(kinds[k]), picked > 1 ? "s" : "");
        for (uint32_t i = 0, said = 0; i < n; i++)
            if (has(ctx, first + i))
                lw_strbuf_put(t, "%s%u", said++ ? "," : "", i + 1);
        group = ", ";
    }
}
