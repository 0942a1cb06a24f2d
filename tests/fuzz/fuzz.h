/*
 * fuzz.h - shared by the libFuzzer targets: the input as a C string or as an
 * exactly-sized copy, and a check that turns a broken promise of a header
 * into a crash libFuzzer keeps (abort), with the promise named.
 *
 * Only what a header promises is checked: a target that asserted more would
 * report the implementation's choices as bugs.
 */
#ifndef LW_FUZZ_H
#define LW_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROMISE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* data[0..size) NUL-terminated (cut at an inner NUL, as a C caller would see it);
 * free() it. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* data[0..size) in a heap block of exactly size bytes, not terminated, so
 * AddressSanitizer reports a read one byte past the length; free() it. */
static inline char *fuzz_bytes(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);

    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    return s;
}

#endif
