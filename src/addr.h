/*
 * addr.h - parse the listening addresses leakwatch options take.
 *
 * Accepted forms, as uWSGI users write them:
 *   "127.0.0.1:9300", "localhost:9300", "[::1]:9300"   TCP host and port
 *   ":9300"                                          TCP on 127.0.0.1 (loopback,
 *                                                    never all interfaces by default)
 *   "/run/app/leakwatch.sock", "lw.sock"             unix socket path (anything
 *                                                    without a ':' or with a '/')
 * Parsing only checks syntax; resolving and binding happen in the listener.
 */
#ifndef LW_ADDR_H
#define LW_ADDR_H

#include <stdint.h>

#define LW_ADDR_FORMS "HOST:PORT, :PORT (loopback), [IPv6]:PORT or a unix socket path"

enum lw_addr_kind { LW_ADDR_NONE = 0, LW_ADDR_TCP, LW_ADDR_UNIX };

/* sun_path is 108 bytes on Linux, NUL included. */
#define LW_ADDR_PATH_MAX 108
#define LW_ADDR_HOST_MAX 256

typedef struct lw_addr {
    enum lw_addr_kind kind;
    uint16_t port;                /* TCP only */
    char host[LW_ADDR_HOST_MAX];  /* TCP only, without brackets */
    char path[LW_ADDR_PATH_MAX];  /* UNIX only */
} lw_addr_t;

/*
 * Parses `text` into *out. Returns 0; or -EINVAL (malformed), -ERANGE (bad
 * port) or -ENAMETOOLONG (path or host too long) with *out unchanged and
 * *why (if not NULL) pointed at a static reason.
 */
int lw_addr_parse(const char *text, lw_addr_t *out, const char **why);

#endif
