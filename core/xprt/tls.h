/* The TLS transport: TLS termination (and origination) on the ring. */
#ifndef RINGLB_CORE_XPRT_TLS_H
#define RINGLB_CORE_XPRT_TLS_H

#include "core/loop/ops-t.h"

extern const struct xprt_ops tls_xprt;

#endif
