/*
 * Error codes shared by every module.
 *
 * Fallible functions return 0 on success or a negative code. OST_E* codes
 * that mirror a system condition are negative errno values; codes specific
 * to Ostrich sit below -4096 so they can never collide with errno.
 * Thread-agnostic; ost_strerror returns a static string.
 */
#ifndef OSTRICH_COMMON_ERR_H
#define OSTRICH_COMMON_ERR_H

#include <errno.h>

#define OST_ENOMEM    (-ENOMEM)
#define OST_EINVAL    (-EINVAL)
#define OST_EAGAIN    (-EAGAIN)
#define OST_ENOSPC    (-ENOSPC)
#define OST_EIO       (-EIO)
#define OST_ETIMEDOUT (-ETIMEDOUT)
#define OST_ESHUTDOWN (-ESHUTDOWN)
#define OST_ENOENT    (-ENOENT)
#define OST_ERANGE    (-ERANGE)

/* Project codes, below the errno range. */
#define OST_EBADSIG  (-4097) /* a signature that does not verify */
#define OST_EBADID   (-4098) /* an event id that is not the hash of its content */
#define OST_EREJECT  (-4099) /* input refused by a rule; a reason string says why */
#define OST_EPARSE   (-4100) /* malformed input; a reason string says where */
#define OST_EEXIST   (-4101) /* already present (a duplicate) */
#define OST_EUNAVAIL (-4102) /* a service the relay depends on cannot be reached */

/* A static, human-readable description of rc (0 or any negative code). */
const char *ost_strerror(int rc);

#endif
