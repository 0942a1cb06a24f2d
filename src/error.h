/*
 * error.h - error codes shared by the leakwatch core.
 *
 * Every core function that can fail returns 0 on success or a negative
 * errno-style code (-EINVAL, -ERANGE, -ENOMEM, ...). Callers test `< 0`
 * and turn the code into text with lw_strerror().
 */
#ifndef LW_ERROR_H
#define LW_ERROR_H

/* Returns a static, never-NULL description of `err` (a negative code). */
const char *lw_strerror(int err);

#endif
