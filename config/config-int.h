/* Internals shared by the files of config/. */
#ifndef RINGLB_CONFIG_CONFIG_INT_H
#define RINGLB_CONFIG_CONFIG_INT_H

#include <stddef.h>

#include "config/config.h"

/* Adds the error line "WHERE: PATH: MESSAGE" (or "WHERE: MESSAGE" when
 * <path> is NULL). A control byte in it (from a key or value as written) is
 * escaped as \n or \xNN: one error is one line. */
void config__err(struct cfg_errors *e, const char *where, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds the warning line "ringlb: warning: MESSAGE", escaped the same way. */
void config__warn(struct cfg_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where top-level key <i> of <c> was set: "FILE:LINE:COL", the variable
 * or the flag. */
const char *config__where(const struct config *c, unsigned i, char *buf, size_t len);
/* Defaults that depend on other keys: a listener's timeouts.idle. */
void config__resolve(struct config *c);
/* Index of <path> in the top table (it must exist). */
unsigned config__key(const char *path);

#endif
