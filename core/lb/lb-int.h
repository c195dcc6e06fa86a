/* Balancing internals shared by lb.c and the algorithm files (lb_*.c).
 *
 * The family is one-way: lb.c calls each algorithm through its struct
 * lb_algo_ops (declared below, defined in its file); no algorithm file
 * calls a function of lb.c or of another algorithm file (checked with nm
 * by test/integration/test_layers.sh). What they share lives here as static
 * inline bodies, and this header has no .c.
 *
 * Every algorithm sees the same eligibility rule, lb__eligible(): a backend
 * is picked only when its weight is not 0, it is not down and it is not in
 * the caller's tried list.
 */
#ifndef RINGLB_CORE_LB_INT_H
#define RINGLB_CORE_LB_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "core/lb/backend.h"
#include "core/lb/lb-t.h"

/* lb_new() clamps weights to this and refuses more backends than
 * LB__MAX_BACKENDS, so that n x weight fits the int32 smooth WRR state. */
#define LB__WEIGHT_MAX   65535
#define LB__MAX_BACKENDS 32768

/* Maglev table entry that no backend owns (only when every weight is 0). */
#define LB__MAGLEV_EMPTY UINT32_MAX

/* The algorithms, one per file. */
extern const struct lb_algo_ops lb_rr_ops;     /* round robin */
extern const struct lb_algo_ops lb_wrr_ops;    /* smooth weighted round robin (nginx) */
extern const struct lb_algo_ops lb_lc_ops;     /* least active/weight, ties round robin */
extern const struct lb_algo_ops lb_p2c_ops;    /* power of two choices on active/weight */
extern const struct lb_algo_ops lb_maglev_ops; /* maglev table lookup of the key */

/* Fills <table> (LB_MAGLEV_SIZE entries) with backend indexes. Backend i is
 * known by ids[i] (its position i when <ids> is NULL) and gets weights[i]
 * turns per round (divided by the weights' gcd; 0 = no entry). The same
 * inputs always build the same table. Returns 0 or -ENOMEM. */
int lb_maglev_build(uint32_t *table, const uint64_t *ids, const uint32_t *weights, unsigned n);

/* True when backend <i> is not in the <ntried> entries of <tried>. */
static inline bool lb__untried(unsigned i, const int *tried, unsigned ntried)
{
	unsigned k;

	for (k = 0; k < ntried; k++)
		if (tried[k] == (int)i)
			return false;
	return true;
}

static inline bool lb__eligible(const struct lb *lb, unsigned i, const int *tried, unsigned ntried)
{
	const struct lb_slot *s = &lb->slot[i];

	return s->weight && backend_state(s->be) == BACKEND_UP && lb__untried(i, tried, ntried);
}

static inline uint32_t lb__active(const struct lb *lb, unsigned i)
{
	return atomic_load_explicit(&lb->slot[i].be->active, memory_order_relaxed);
}

/* True when backend <a> is less loaded than <b>: active/weight compared
 * without division (weights are never 0 for eligible backends). */
static inline bool lb__lighter(const struct lb *lb, unsigned a, unsigned b)
{
	return (uint64_t)lb__active(lb, a) * lb->slot[b].weight <
	       (uint64_t)lb__active(lb, b) * lb->slot[a].weight;
}

/* Round robin: the next eligible backend from the cursor's position, which
 * then moves past it. Also smooth WRR's answer for a cursor without state. */
static inline int lb__rr_next(const struct lb *lb, struct lb_cursor *cur, const int *tried,
                              unsigned ntried)
{
	unsigned n = lb->n, i = cur->rr % n, k;

	for (k = 0; k < n; k++, i = i + 1 < n ? i + 1 : 0) {
		if (lb__eligible(lb, i, tried, ntried)) {
			cur->rr = i + 1;
			return (int)i;
		}
	}
	return -1;
}

/* xorshift64* step: the cursor's state is never 0. */
static inline uint64_t lb__rand(struct lb_cursor *cur)
{
	uint64_t x = cur->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	cur->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A uniform draw in [0, n) (n > 0), by multiply-shift. */
static inline unsigned lb__rand_below(struct lb_cursor *cur, unsigned n)
{
	return (unsigned)(((lb__rand(cur) >> 32) * (uint64_t)n) >> 32);
}

#endif
