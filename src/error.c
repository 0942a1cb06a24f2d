#include "error.h"

#include <errno.h>

const char *lw_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case -EINVAL:
        return "invalid value";
    case -ERANGE:
        return "value out of range";
    case -ENOMEM:
        return "out of memory";
    case -ENAMETOOLONG:
        return "name too long";
    case -ENOSPC:
        return "no room left";
    case -ENOENT:
        return "no such entry";
    case -EAGAIN:
        return "try again";
    default:
        return "unknown error";
    }
}
