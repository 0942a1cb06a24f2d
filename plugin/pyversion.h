/*
 * pyversion.h - whether the CPython running in this process is one this
 * build of the plugin may run in: the layouts pyinternals.h reads differ
 * between minor versions, and free-threaded builds differ in every object.
 */
#ifndef LW_PYVERSION_H
#define LW_PYVERSION_H

#include <Python.h>
#include <stddef.h>

#if defined(Py_GIL_DISABLED)
#error "leakwatch: free-threaded CPython (Py_GIL_DISABLED) is not supported; build it for a default (GIL) CPython"
#endif
#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x03100000
#error "leakwatch: CPython 3.11 to 3.15 are supported"
#endif

/*
 * Every CPython symbol the plugin uses is a weak reference. The plugin does
 * not link libpython: the interpreter is the one uWSGI has loaded (its python
 * plugin's libpython, or a monolithic binary's own), whatever its file name,
 * and never a second copy. Weak, the plugin loads where a symbol is missing:
 * with no Python loaded yet (`--plugin leakwatch,python3`, `--help`), or
 * inside another minor version (3.11's _PyTrash_begin is gone in 3.13); it
 * then says why in one line and stays off (lw_py_refusal), instead of
 * uWSGI refusing the plugin and then its options. Nothing is called before
 * lw_py_refusal() has passed. tests/integration/test_build.py checks that no
 * strong Python reference is left (3.13's Py_SIZE asserts name PyLong_Type
 * and PyBool_Type: they are listed for its headers).
 */
#pragma weak _Py_Dealloc
#pragma weak Py_AddPendingCall
#pragma weak Py_IsInitialized
#pragma weak Py_Version
#pragma weak PyBool_Type
#pragma weak PyByteArray_Type
#pragma weak PyCell_Type
#pragma weak PyCode_Addr2Line
#pragma weak PyCode_Type
#pragma weak PyDict_GetItemString
#pragma weak PyDict_GetItemWithError
#pragma weak PyDict_Next
#pragma weak PyDict_Type
#pragma weak PyErr_Clear
#pragma weak PyFrame_Type
#pragma weak PyFrozenSet_Type
#pragma weak PyFunction_Type
#pragma weak PyGC_Collect
#pragma weak PyGC_Disable
#pragma weak PyGC_Enable
#pragma weak PyGILState_Ensure
#pragma weak PyGILState_Release
#pragma weak PyImport_GetModuleDict
#pragma weak PyImport_ImportModule
#pragma weak PyList_Type
#pragma weak PyLong_Type
#pragma weak PyMem_Free
#pragma weak PyMem_GetAllocator
#pragma weak PyMem_Malloc
#pragma weak PyMem_SetAllocator
#pragma weak PyModule_GetDict
#pragma weak PyModule_GetFilenameObject
#pragma weak PyModule_GetName
#pragma weak PyModule_Type
#pragma weak PyObject_CallMethod
#pragma weak PyObject_Free
#pragma weak PyObject_GC_IsTracked
#pragma weak PyObject_GC_UnTrack
#pragma weak PyObject_IS_GC
#pragma weak PyObject_Malloc
#pragma weak PySet_Type
#pragma weak PyTuple_Type
#pragma weak PyType_IsSubtype
#pragma weak PyUnicode_AsUTF8
#pragma weak PyUnicode_InternFromString
#if PY_VERSION_HEX >= 0x030F0000
#pragma weak PyFrozenDict_Type /* 3.15's PyDict_Check names it */
#endif

/*
 * Why the plugin must stay off in this process (another minor version than
 * the one it was built for; a free-threaded build), as one line into buf;
 * NULL when it may run: the interpreter is the one it was built for.
 * Works before Python is initialised.
 */
const char *lw_py_refusal(char *buf, size_t size);

#endif
