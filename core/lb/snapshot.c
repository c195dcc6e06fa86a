/* Config snapshots: balancing state and lifetime. */
#include <errno.h>

#include "config/config.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"

/* The config's release hook: frees what snapshot_build() attached. */
static void snapshot_release(struct config *cfg)
{
	for (unsigned i = 0; i < cfg->npools; i++) {
		lb_free(cfg->pools[i].lb);
		cfg->pools[i].lb = NULL;
	}
}

int snapshot_build(struct config *cfg)
{
	unsigned i, b;

	cfg->release = snapshot_release;
	for (i = 0; i < cfg->npools; i++) {
		struct cfg_pool *p = &cfg->pools[i];
		uint32_t weights[p->nbackends ? p->nbackends : 1];

		for (b = 0; b < p->nbackends; b++)
			weights[b] = p->backends[b].weight;
		p->lb = lb_new(p->algorithm, weights, p->nbackends);
		if (!p->lb)
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
