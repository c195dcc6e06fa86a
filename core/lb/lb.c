/* Balancing: construction, per-worker cursors and the dispatch to the
 * algorithms (one file each: lb_rr.c, lb_wrr.c, lb_lc.c, lb_p2c.c,
 * lb_maglev.c), always through their struct lb_algo_ops. The eligibility
 * rule they share is in lb-int.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/lb-int.h"
#include "core/base/log.h"

static const struct lb_algo_ops *const lb_algos[LB_NALGO] = {
    [LB_ROUND_ROBIN] = &lb_rr_ops, [LB_WEIGHTED_ROUND_ROBIN] = &lb_wrr_ops,
    [LB_LEAST_CONN] = &lb_lc_ops,  [LB_P2C] = &lb_p2c_ops,
    [LB_MAGLEV] = &lb_maglev_ops,
};

/* splitmix64: spreads a small or zero seed over the whole state. */
static uint64_t lb_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* Fills the slots: a reference on each entry, and the weights clamped to
 * LB__WEIGHT_MAX. */
static void lb_set_slots(struct lb *lb, struct backend *const *be, const uint32_t *weights)
{
	unsigned i;

	for (i = 0; i < lb->n; i++) {
		uint32_t w = weights ? weights[i] : 1;

		if (w > LB__WEIGHT_MAX) {
			log_warn("lb: backend %u weight %u clamped to %u", i, w, LB__WEIGHT_MAX);
			w = LB__WEIGHT_MAX;
		}
		lb->slot[i].be = backend_ref(be[i]);
		lb->slot[i].weight = w;
		lb->total_weight += w;
	}
}

struct lb *lb_new(enum lb_algo algo, struct backend *const *be, const uint32_t *weights, unsigned n)
{
	struct lb *lb;

	if ((unsigned)algo >= LB_NALGO || n > LB__MAX_BACKENDS || (n && !be)) {
		log_err("lb: algorithm %d with %u backends is not supported", (int)algo, n);
		return NULL;
	}
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return NULL;
	lb->ops = lb_algos[algo];
	lb->algo = algo;
	lb->n = n;
	lb->slot = calloc(n ? n : 1, sizeof(*lb->slot));
	if (!lb->slot)
		goto out_free;
	lb_set_slots(lb, be, weights);
	if (lb->ops->build && lb->ops->build(lb) < 0)
		goto out_free;
	return lb;
out_free:
	lb_free(lb);
	return NULL;
}

void lb_free(struct lb *lb)
{
	if (!lb)
		return;
	for (unsigned i = 0; lb->slot && i < lb->n; i++)
		backend_put(lb->slot[i].be);
	free(lb->maglev);
	free(lb->slot);
	free(lb);
}

int lb_cursor_init(struct lb_cursor *cur, const struct lb *lb, uint64_t seed)
{
	memset(cur, 0, sizeof(*cur));
	cur->n = lb ? lb->n : 0;
	cur->rng = lb_mix(seed) | 1;
	/* Workers start round robin at different backends. */
	cur->rr = cur->n ? (uint32_t)(lb_mix(seed ^ 0x5bd1e995) % cur->n) : 0;
	if (lb && lb->ops->cursor_init && cur->n)
		return lb->ops->cursor_init(cur, lb);
	return 0;
}

void lb_cursor_deinit(struct lb_cursor *cur)
{
	free(cur->cw);
	cur->cw = NULL;
	cur->n = 0;
}

int lb_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
            unsigned ntried)
{
	if (!lb || !lb->n)
		return -1;
	return lb->ops->pick(lb, cur, key, tried, ntried);
}

uint64_t lb_hash(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}
