#include "addr.h"

#include <errno.h>
#include <string.h>

#include "size.h"

static int fail(const char **why, const char *reason, int err)
{
    if (why)
        *why = reason;
    return err;
}

static int host_char_ok(char c, int bracketed)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    if (c == '.' || c == '-')
        return 1;
    return bracketed && c == ':';
}

static int parse_unix(const char *text, lw_addr_t *out, const char **why)
{
    size_t len = strlen(text);

    if (len >= LW_ADDR_PATH_MAX)
        return fail(why, "unix socket path longer than 107 bytes", -ENAMETOOLONG);
    memset(out, 0, sizeof(*out));
    out->kind = LW_ADDR_UNIX;
    memcpy(out->path, text, len + 1);
    return 0;
}

static int parse_tcp(const char *text, const char *colon, lw_addr_t *out,
                     const char **why)
{
    const char *host = text, *host_end = colon;
    int bracketed = 0, rc;
    uint64_t port;
    size_t hlen;

    if (text[0] == '[') {
        host_end = strchr(text, ']');
        if (!host_end || host_end[1] != ':')
            return fail(why, "expected [IPv6]:PORT", -EINVAL);
        host = text + 1;
        colon = host_end + 1;
        bracketed = 1;
    }
    else if (strchr(colon + 1, ':')) {
        return fail(why, "IPv6 hosts need brackets: [::1]:PORT", -EINVAL);
    }
    hlen = (size_t)(host_end - host);
    if (hlen >= LW_ADDR_HOST_MAX)
        return fail(why, "host name too long", -ENAMETOOLONG);
    if (bracketed && hlen == 0)
        return fail(why, "empty IPv6 address", -EINVAL);
    for (size_t i = 0; i < hlen; i++) {
        if (!host_char_ok(host[i], bracketed))
            return fail(why, "invalid character in host", -EINVAL);
    }
    if (colon[1] == '\0')
        return fail(why, "missing port", -EINVAL);
    rc = lw_count_parse(colon + 1, 1, 65535, &port, NULL);
    if (rc < 0) /* -EINVAL: not a number; -ERANGE: 0 or above 65535 */
        return fail(why, "port must be a number from 1 to 65535", rc);
    memset(out, 0, sizeof(*out));
    out->kind = LW_ADDR_TCP;
    out->port = (uint16_t)port;
    if (hlen == 0)
        strcpy(out->host, "127.0.0.1");
    else
        memcpy(out->host, host, hlen);
    return 0;
}

int lw_addr_parse(const char *text, lw_addr_t *out, const char **why)
{
    const char *colon;

    if (!text || !text[0])
        return fail(why, "empty address", -EINVAL);
    if (strchr(text, ' ') || strchr(text, '\t'))
        return fail(why, "spaces are not allowed", -EINVAL);
    colon = strchr(text, ':');
    if (!colon || strchr(text, '/'))
        return parse_unix(text, out, why);
    return parse_tcp(text, colon, out, why);
}
