/* Config snapshots as the core uses them: the runtime balancing state
 * built for each pool, and the reference that frees both at the end.
 *
 * Who holds a reference: the control thread for the published snapshot,
 * and each worker once per generation it still uses (struct wgen). The
 * snapshot is freed, from whichever thread drops the last reference, after
 * the control thread has waited for an RCU grace period on replacing it.
 */
#ifndef RINGLB_CORE_SNAPSHOT_H
#define RINGLB_CORE_SNAPSHOT_H

#include "config/config-t.h"
#include "core/lb/snapshot-t.h"

/* Builds the balancer of every pool of <cfg> into cfg->runtime and sets
 * cfg->release to free it. Returns 0 or -ENOMEM; on error what was built is
 * freed with <cfg> (snapshot_put() or config_free()). */
int snapshot_build(struct config *cfg);

/* The same for a snapshot made by config_derive() from a built one: its
 * own balancers (over its pools' backends), and the TLS contexts of the
 * snapshot it derives from, shared, not built again (no file is read).
 * Returns 0, -ENOMEM, or -EINVAL when <cfg> is not derived from a built
 * snapshot. */
int snapshot_build_derived(struct config *cfg);
/* Builds the access log sink of every listener of <cfg> that has one
 * (after snapshot_build()); <dry>: only check the destinations (--check).
 * Returns 0, -ENOMEM, or -EINVAL with the config error line in <err>. */
int snapshot_alog_build(struct config *cfg, bool dry, char *err, size_t len);

/* The access log sink of listener <ls>, NULL when it logs nothing. */
static inline struct alog_sink *snapshot_alog(const struct config *cfg, unsigned ls)
{
	const struct snapshot_rt *rt = cfg->runtime;

	return rt && rt->alog && ls < cfg->nlisteners ? rt->alog[ls] : NULL;
}

/* Takes a reference to <cfg>. */
void snapshot_get(struct config *cfg);

/* Drops a reference; the last one frees the balancing state and <cfg>. */
void snapshot_put(struct config *cfg);

/* The balancer of pool <pool> (an index into cfg->pools) of a built
 * snapshot, or NULL when <cfg> was not built or <pool> is out of range.
 * It lives as long as <cfg>. */
static inline struct lb *snapshot_lb(const struct config *cfg, unsigned pool)
{
	const struct snapshot_rt *rt = cfg->runtime;

	return rt && pool < rt->npools ? rt->lb[pool] : NULL;
}

/* The default TLS context of listener <ls> (an index into cfg->listeners),
 * NULL when it has no tls: or certs_build() did not run. */
static inline struct tls_ctx *snapshot_tls(const struct config *cfg, unsigned ls)
{
	const struct snapshot_rt *rt = cfg->runtime;

	return rt && rt->tls_ls && ls < rt->nls ? rt->tls_ls[ls].ctx : NULL;
}

/* The SNI certificate store of listener <ls>, NULL when it has none. */
static inline struct tls_sni *snapshot_tls_sni(const struct config *cfg, unsigned ls)
{
	const struct snapshot_rt *rt = cfg->runtime;

	return rt && rt->tls_ls && ls < rt->nls ? rt->tls_ls[ls].sni : NULL;
}

/* The client TLS context of pool <pool>'s upstreams, NULL for plain TCP. */
static inline struct tls_ctx *snapshot_pool_tls(const struct config *cfg, unsigned pool)
{
	const struct snapshot_rt *rt = cfg->runtime;

	return rt && rt->tls_pool && pool < rt->npools ? rt->tls_pool[pool] : NULL;
}

#endif
