/* Config snapshots: balancing state and lifetime. */
#include <errno.h>
#include <stdlib.h>

#include "config/config.h"
#include "core/lb.h"
#include "core/snapshot.h"

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
	for (unsigned i = 0; i < rt->npools; i++)
		lb_free(rt->lb[i]);
	free(rt);
	cfg->runtime = NULL;
}

static struct lb *snapshot_pool_lb(const struct cfg_pool *p)
{
	uint32_t weights[p->nbackends ? p->nbackends : 1];
	unsigned b;

	if ((unsigned)p->algorithm >= CFG_NALGO)
		return NULL;
	for (b = 0; b < p->nbackends; b++)
		weights[b] = p->backends[b].weight;
	return lb_new(snapshot_algo[p->algorithm], weights, p->nbackends);
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

void snapshot_get(struct config *cfg)
{
	config_ref(cfg);
}

void snapshot_put(struct config *cfg)
{
	if (cfg)
		config_unref(cfg);
}
