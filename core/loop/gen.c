/* A worker's config generations (gen.h). */
#include <errno.h>
#include <stdlib.h>

#include "core/loop/gen.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"
#include "core/loop/upstream.h"

struct wgen *gen_new(struct worker *w, struct config *cfg)
{
	struct wgen *g = calloc(1, sizeof(*g));
	unsigned i;

	if (!g)
		return NULL;
	g->cfg = cfg;
	g->refs = 1;
	snapshot_get(cfg);
	g->cur = calloc(cfg->npools ? cfg->npools : 1, sizeof(*g->cur));
	if (!g->cur || upstream_gen_init(g, w->id) < 0)
		goto fail;
	for (i = 0; i < cfg->npools; i++) {
		if (lb_cursor_init(&g->cur[i], snapshot_lb(cfg, i), w->rng + cfg->generation + i) <
		    0)
			goto fail;
		g->ncur++;
	}
	return g;
fail:
	gen_put(w, g);
	return NULL;
}

void gen_put(struct worker *w, struct wgen *g)
{
	unsigned i;

	if (--g->refs)
		return;
	for (i = 0; i < g->ncur; i++)
		lb_cursor_deinit(&g->cur[i]);
	free(g->cur);
	upstream_gen_deinit(g);
	snapshot_put(g->cfg);
	free(g);
}
