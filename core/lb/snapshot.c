/* Config snapshots: balancing state and lifetime.
 *
 * A pool's balancer refers to the backend registry's entries for its name
 * and each backend's address, so two snapshots listing the same pool and
 * address share one entry and its counters: a reload forgets nothing, and a
 * backend dropped by the new config keeps its entry until the last snapshot
 * listing it is freed.
 */
#include <errno.h>
#include <stdlib.h>

#include <stdio.h>

#include "config/config.h"
#include "core/alog/alog.h"
#include "core/lb/backend.h"
#include "core/lb/certs.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"

/* Config's algorithms, in the core's terms. */
static const enum lb_algo snapshot_algo[CFG_NALGO] = {
    [CFG_ALGO_ROUND_ROBIN] = LB_ROUND_ROBIN,
    [CFG_ALGO_WEIGHTED_ROUND_ROBIN] = LB_WEIGHTED_ROUND_ROBIN,
    [CFG_ALGO_LEAST_CONN] = LB_LEAST_CONN,
    [CFG_ALGO_P2C] = LB_P2C,
    [CFG_ALGO_MAGLEV] = LB_MAGLEV,
};
_Static_assert((int)CFG_NALGO == (int)LB_NALGO, "every configured algorithm has a balancer");

/* The config's release hook: frees what snapshot_build() attached. */
static void snapshot_release(struct config *cfg)
{
	struct snapshot_rt *rt = cfg->runtime;

	if (!rt)
		return;
	certs_free(rt->certs);
	for (unsigned i = 0; rt->alog && i < rt->nls; i++)
		alog_sink_free(rt->alog[i]);
	free(rt->alog);
	for (unsigned i = 0; i < rt->npools; i++)
		lb_free(rt->lb[i]);
	free(rt);
	cfg->runtime = NULL;
}

/* The balancer of pool <p>, or NULL. The entries' references taken here
 * are dropped once lb_new() has taken its own. */
static struct lb *snapshot_pool_lb(const struct cfg_pool *p)
{
	unsigned n = p->nbackends, b;
	uint32_t *weights = calloc(n ? n : 1, sizeof(*weights));
	struct backend **be = calloc(n ? n : 1, sizeof(*be));
	struct lb *lb = NULL;

	if (!weights || !be || (unsigned)p->algorithm >= CFG_NALGO)
		goto out;
	for (b = 0; b < n; b++) {
		be[b] = backend_get(p->name, p->backends[b].address.text);
		if (!be[b])
			goto out;
		weights[b] = p->backends[b].weight;
	}
	lb = lb_new(snapshot_algo[p->algorithm], be, weights, n);
out:
	for (b = 0; be && b < n; b++)
		backend_put(be[b]);
	free(be);
	free(weights);
	return lb;
}

int snapshot_build(struct config *cfg)
{
	struct snapshot_rt *rt;
	unsigned i;

	rt = calloc(1, sizeof(*rt) + cfg->npools * sizeof(rt->lb[0]));
	if (!rt)
		return -ENOMEM;
	rt->npools = cfg->npools;
	cfg->runtime = rt;
	cfg->release = snapshot_release;
	for (i = 0; i < cfg->npools; i++) {
		rt->lb[i] = snapshot_pool_lb(&cfg->pools[i]);
		if (!rt->lb[i])
			return -ENOMEM;
	}
	return 0;
}

int snapshot_build_derived(struct config *cfg)
{
	const struct snapshot_rt *base = cfg->root ? cfg->root->runtime : NULL;
	struct snapshot_rt *rt;
	int ret;

	if (!base)
		return -EINVAL;
	ret = snapshot_build(cfg);
	if (ret < 0)
		return ret;
	rt = cfg->runtime;
	/* Borrowed: rt->certs stays NULL, so the release frees none of them;
	 * the root, on which <cfg> holds a reference, frees them. */
	rt->tls_ls = base->tls_ls;
	rt->tls_pool = base->tls_pool;
	rt->nls = base->nls;
	return 0;
}

int snapshot_alog_build(struct config *cfg, bool dry, char *err, size_t len)
{
	struct snapshot_rt *rt = cfg->runtime;
	char why[300];

	if (!rt)
		return -EINVAL;
	rt->alog = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*rt->alog));
	if (!rt->alog)
		return -ENOMEM;
	rt->nls = cfg->nlisteners;
	for (unsigned i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_listener *l = &cfg->listeners[i];

		if (!l->access_log.path || l->mode == LMODE_STATIC)
			continue;
		rt->alog[i] = alog_sink_new(l->name, &l->access_log, dry, why, sizeof(why));
		if (!rt->alog[i]) {
			snprintf(
			    err, len,
			    "%s:%d:1: listeners[%u].access_log.path: %s (expected a writable file, "
			    "stderr, syslog or syslog:SOCKET)",
			    cfg->path ? cfg->path : "<built-in>", l->line, i, why);
			return -EINVAL;
		}
	}
	return 0;
}

void snapshot_get(struct config *cfg)
{
	config_ref(cfg);
}

void snapshot_put(struct config *cfg)
{
	if (cfg)
		config_unref(cfg);
}
