/* collect.h - a full collection of cyclic garbage, for the gc policy
 * (engine.c) and before a holder walk (holders.c). */
#ifndef LW_COLLECT_H
#define LW_COLLECT_H

#include "pyversion.h" /* <Python.h>, every symbol weak */

/* PyGC_Collect() does nothing while the app has gc disabled (gc.disable()
 * is common in web apps); gc.collect() collects regardless, and so does
 * this, leaving gc as it found it. GIL held. */
static inline void lw_collect_garbage(void)
{
    int was_enabled = PyGC_Enable();

    PyGC_Collect();
    if (!was_enabled)
        PyGC_Disable();
}

#endif
