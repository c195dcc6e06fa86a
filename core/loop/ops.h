/* The tables of transports and protocols, and the calls through them.
 *
 * Protocols and transports are registered once, before any worker starts
 * (main, or a unit test), and only read afterwards: the tables need no
 * lock. A listener mode is served by the protocol registered for it.
 */
#ifndef RINGLB_CORE_OPS_H
#define RINGLB_CORE_OPS_H

#include "core/loop/ops-t.h"
#include "core/loop/worker-t.h"

extern const struct proto_ops *ops_proto[OPS_MAX];
extern const struct xprt_ops *ops_xprt[OPS_MAX];

/* Registers <p>; returns its id (> 0), the same id for the same table, or
 * -ENOSPC when OPS_MAX are registered. */
int ops_proto_add(const struct proto_ops *p);
/* The same for transports. */
int ops_xprt_add(const struct xprt_ops *x);
/* The protocol id that serves listeners of <mode> (enum cfg_lmode), set
 * with ops_mode_set(); 0 when none is. */
uint8_t ops_mode_proto(unsigned mode);
void ops_mode_set(unsigned mode, int proto_id);
/* The transport id new connections of listeners use (raw today). */
uint8_t ops_default_xprt(void);
void ops_default_xprt_set(int xprt_id);
/* The transport of listeners and pools with tls: (0: none registered). */
uint8_t ops_tls_xprt(void);
void ops_tls_xprt_set(int xprt_id);
/* Forgets every registration (unit tests). */
void ops_reset(void);

static inline const struct proto_ops *proto_of(const struct conn *c)
{
	return ops_proto[c->proto];
}

static inline const struct xprt_ops *xprt_of(const struct conn *c)
{
	return ops_xprt[c->xprt];
}

static inline const struct proto_ops *proto_of_ls(const struct wlistener *ls)
{
	return ops_proto[ls->proto];
}

/* The transport calls a protocol makes. */
static inline void xprt_read(struct worker *w, struct conn *c)
{
	xprt_of(c)->read(w, c);
}

static inline void xprt_stop_read(struct worker *w, struct conn *c)
{
	xprt_of(c)->stop_read(w, c);
}

static inline int xprt_queue(struct worker *w, struct conn *c, char *data, uint32_t len,
                             uint32_t used)
{
	return xprt_of(c)->queue(w, c, data, len, used);
}

static inline int xprt_queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len,
                                 bool more)
{
	return xprt_of(c)->queue_ref(w, c, data, len, more);
}

static inline void xprt_flush(struct worker *w, struct conn *c)
{
	xprt_of(c)->flush(w, c);
}

static inline int xprt_shut_write(struct worker *w, struct conn *c)
{
	return xprt_of(c)->shut_write(w, c);
}

static inline bool xprt_can_splice(const struct conn *c)
{
	return xprt_of(c)->can_splice;
}

/* Tears down <c> and its peer through its protocol. */
static inline void proto_abort(struct worker *w, struct conn *c)
{
	proto_of(c)->abort(w, c);
}

#endif
