/* Error code descriptions. */
#include "common/err.h"

#include <string.h>

const char *ost_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case OST_EBADSIG:
        return "bad signature";
    case OST_EBADID:
        return "event id does not match its content";
    case OST_EREJECT:
        return "rejected";
    case OST_EPARSE:
        return "malformed input";
    case OST_EEXIST:
        return "already exists";
    case OST_EUNAVAIL:
        return "service unavailable";
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        /* strerror may use a shared buffer only for unknown values, which
         * the range check above excludes for every errno glibc knows. */
        return strerror(-rc);
    }
    return "unknown error";
}
