/* The TLS transport: TLS termination (and origination) on the ring. */
#ifndef RINGLB_CORE_XPRT_TLS_H
#define RINGLB_CORE_XPRT_TLS_H

#include "core/loop/ops-t.h"

extern const struct xprt_ops tls_xprt;

struct conn;
struct worker;

/* For the access log: <c>'s TLS version (12, 13; 0 when <c> is not TLS or
 * its handshake is not done) and the name its client sent (*sni, NULL for
 * none). Cheap: two reads of the session. */
unsigned tls_xprt_info(const struct worker *w, const struct conn *c, const char **sni);

#endif
