/*
 * size.h - parse and print the sizes and counts that leakwatch options take.
 *
 * A size is a non-negative decimal integer with an optional binary unit:
 * "2097152", "512k", "2M", "2MB", "2MiB", "1G". Units are case-insensitive,
 * always powers of 1024 (b, k/kb/kib, m/mb/mib, g/gb/gib, t/tb/tib), may be
 * separated from the number by spaces, and the whole value may be surrounded
 * by spaces. Nothing else is accepted: no sign, no fraction, no hex, no
 * trailing junk, nothing above LW_SIZE_MAX.
 */
#ifndef LW_SIZE_H
#define LW_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Largest size accepted (1 EiB): leaves headroom for sums and 2x margins. */
#define LW_SIZE_MAX (UINT64_C(1) << 60)

/* The accepted forms, for error messages. */
#define LW_SIZE_FORMS "an integer number of bytes with an optional binary unit " \
                      "(k, M, G, T; e.g. 2097152, 512k, 2M, 2MB, 2MiB, 1G)"

/*
 * Parses `text` as a size. Returns 0 and stores bytes in *out; on failure
 * returns -EINVAL (malformed) or -ERANGE (above LW_SIZE_MAX), leaves *out
 * unchanged and, if `why` is not NULL, points it at a static reason.
 */
int lw_size_parse(const char *text, uint64_t *out, const char **why);

/*
 * Parses `text` as a plain decimal count in [min, max] (surrounding spaces
 * allowed, no unit, no sign). Same failure contract as lw_size_parse().
 */
int lw_count_parse(const char *text, uint64_t min, uint64_t max, uint64_t *out,
                   const char **why);

/*
 * Writes `bytes` for humans ("512 B", "22.3 KiB", "2.0 MiB") into buf
 * (always NUL-terminated when len > 0). Returns buf.
 */
char *lw_size_format(uint64_t bytes, char *buf, size_t len);

#endif
