/* The raw transport: plain TCP on the ring. */
#ifndef RINGLB_CORE_RAW_H
#define RINGLB_CORE_RAW_H

#include "core/loop/ops-t.h"

extern const struct xprt_ops raw_xprt;

#endif
