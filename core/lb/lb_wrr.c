/* Smooth weighted round robin, as nginx's ngx_http_upstream_get_peer():
 * every eligible backend's current weight grows by its weight, the largest
 * is picked (the first one on a tie) and loses the total of the eligible
 * weights. Weights {5,1,1} give a a b a c a a, spread rather than bunched.
 * Backends that are down or tried take no part in that round, as in nginx.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/lb/lb-int.h"

static int lb_wrr_cursor_init(struct lb_cursor *cur, const struct lb *lb)
{
	cur->cw = calloc(cur->n, sizeof(*cur->cw));
	return cur->cw ? 0 : -ENOMEM;
}

static int lb_wrr_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
                       unsigned ntried)
{
	int32_t *cw = cur->cw;
	int32_t total = 0;
	int best = -1;
	unsigned i;

	/* A cursor made for another algorithm or size has no state here. */
	if (!cw || cur->n != lb->n)
		return lb__rr_next(lb, cur, tried, ntried);
	for (i = 0; i < lb->n; i++) {
		if (!lb__eligible(lb, i, tried, ntried))
			continue;
		cw[i] += (int32_t)lb->slot[i].weight;
		total += (int32_t)lb->slot[i].weight;
		if (best < 0 || cw[i] > cw[best])
			best = (int)i;
	}
	if (best >= 0)
		cw[best] -= total;
	return best;
}

const struct lb_algo_ops lb_wrr_ops = {
    .name = "weighted_round_robin",
    .pick = lb_wrr_pick,
    .cursor_init = lb_wrr_cursor_init,
};
