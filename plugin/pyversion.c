/*
 * pyversion.c - see pyversion.h.
 */
#include "pyversion.h"

#include <dlfcn.h>
#include <stdio.h>

/*
 * A free-threaded (Py_GIL_DISABLED) libpython: its Py_DECREF calls this
 * function, which only those builds export (Include/refcount.h, 3.13 on);
 * the version number does not tell the builds apart, and sys.abiflags
 * would need an initialised interpreter.
 */
static int free_threaded(void)
{
    return dlsym(RTLD_DEFAULT, "_Py_MergeZeroLocalRefcount") != NULL;
}

const char *lw_py_refusal(char *buf, size_t size)
{
    unsigned long built = PY_VERSION_HEX >> 16;
    unsigned long running = &Py_Version ? Py_Version >> 16 : 0;

    if (!&Py_IsInitialized) /* no libpython in the process (yet) */
        snprintf(buf, size, "no CPython in this process; load leakwatch after uWSGI's python "
                 "plugin (--plugin python3,leakwatch)");
    else if (!running) /* Py_Version is exported since 3.11 */
        snprintf(buf, size, "built for CPython %lu.%lu, this process runs an older CPython "
                 "(3.11 or later is needed)",
                 built >> 8, built & 0xFF);
    else if (running != built)
        snprintf(buf, size, "built for CPython %lu.%lu, this process runs CPython %lu.%lu "
                 "(build leakwatch with that Python: PYTHON=python%lu.%lu)", built >> 8,
                 built & 0xFF, running >> 8, running & 0xFF, running >> 8, running & 0xFF);
    else if (free_threaded())
        snprintf(buf, size, "this process runs a free-threaded CPython %lu.%lu "
                 "(Py_GIL_DISABLED), which leakwatch does not support", running >> 8,
                 running & 0xFF);
    else
        return NULL;
    return buf;
}
