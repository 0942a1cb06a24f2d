#include "size.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct unit {
    const char *name;
    unsigned shift;
};

/* Every spelling maps to a power of 1024: memory limits are binary. */
static const struct unit units[] = {
    {"", 0},    {"b", 0},    {"k", 10},   {"kb", 10}, {"kib", 10},
    {"m", 20},  {"mb", 20},  {"mib", 20}, {"g", 30},  {"gb", 30},
    {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40},
};

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int fail(const char **why, const char *reason, int err)
{
    if (why)
        *why = reason;
    return err;
}

/*
 * Reads the digits at *p into *value. Returns 0, -EINVAL when there are no
 * digits, -ERANGE when the number exceeds `limit`. Advances *p past them.
 */
static int read_digits(const char **p, uint64_t limit, uint64_t *value,
                       const char **why)
{
    const char *s = *p;
    uint64_t v = 0;
    int too_big = 0;

    if (*s == '-')
        return fail(why, "negative values are not allowed", -EINVAL);
    if (*s == '+')
        return fail(why, "a sign is not allowed", -EINVAL);
    if (!is_digit(*s))
        return fail(why, *s ? "expected digits" : "empty value", -EINVAL);
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > limit || v > (limit - d) / 10)
            too_big = 1;
        else
            v = v * 10 + d;
    }
    *p = s;
    if (*s == '.' || *s == ',')
        return fail(why, "fractions are not allowed", -EINVAL);
    if (too_big)
        return fail(why, "too large", -ERANGE);
    *value = v;
    return 0;
}

/* Spaces, digits, spaces: advances *p to what follows (a unit, or nothing). */
static int read_number(const char **p, uint64_t limit, uint64_t *value, const char **why)
{
    int rc;

    while (is_space(**p))
        (*p)++;
    rc = read_digits(p, limit, value, why);
    while (rc == 0 && is_space(**p))
        (*p)++;
    return rc;
}

int lw_size_parse(const char *text, uint64_t *out, const char **why)
{
    const char *p = text ? text : "";
    uint64_t v = 0;
    size_t len;
    int rc = read_number(&p, LW_SIZE_MAX, &v, why);

    if (rc < 0)
        return rc;
    len = strlen(p);
    while (len > 0 && is_space(p[len - 1]))
        len--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) != len || strncasecmp(units[i].name, p, len))
            continue;
        if (v > (LW_SIZE_MAX >> units[i].shift))
            return fail(why, "too large", -ERANGE);
        *out = v << units[i].shift;
        return 0;
    }
    return fail(why, "unknown unit", -EINVAL);
}

int lw_count_parse(const char *text, uint64_t min, uint64_t max, uint64_t *out,
                   const char **why)
{
    const char *p = text ? text : "";
    uint64_t v = 0;
    int rc = read_number(&p, max, &v, why);

    if (rc < 0)
        return rc;
    if (*p)
        return fail(why, "not a whole number", -EINVAL);
    if (v < min)
        return fail(why, "too small", -ERANGE);
    *out = v;
    return 0;
}

char *lw_size_format(uint64_t bytes, char *buf, size_t len)
{
    static const char *const names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int i = -1;

    if (len == 0)
        return buf;
    if (bytes < 1024) {
        snprintf(buf, len, "%u B", (unsigned)bytes);
        return buf;
    }
    /* 1023.95 KiB would print as "1024.0 KiB": take the next unit instead */
    while (v >= 1023.95 && i < 5) {
        v /= 1024.0;
        i++;
    }
    snprintf(buf, len, "%.1f %s", v, names[i]);
    return buf;
}
