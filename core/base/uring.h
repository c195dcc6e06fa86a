/* io_uring feature probe, run once at start. */
#ifndef RINGLB_CORE_URING_H
#define RINGLB_CORE_URING_H

#include <stddef.h>

/* Checks that io_uring is allowed and has what ringlb relies on (the
 * opcodes, multishot accept/recv, provided buffer rings, MSG_RING).
 * Returns 0, or -errno with one line in <msg> saying what is missing and
 * what to do. */
int uring_probe(char *msg, size_t len);

#endif
