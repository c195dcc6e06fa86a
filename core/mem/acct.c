/* The global memory accountant.
 *
 * How far the figures lag: not at all. Every charge is a compare-and-swap
 * on the component's and the total's counters, done before the memory is
 * allocated, so a limit is never passed, not even transiently. That is
 * affordable because the data path does not charge per buffer hand-out:
 * buffers are charged when a pool makes them resident (grows), connection
 * tables when a worker starts, so charges are rare events, not per-packet
 * ones. The pressure level is computed from the same counters on demand.
 * A limit of 0 for a component means "no ceiling of its own": only the
 * total applies to it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/base/fault.h"
#include "core/mem/acct.h"

struct acct_ctr {
	_Atomic uint64_t current, peak, allocs, releases, refused;
	_Atomic uint64_t limit;
};

struct acct {
	struct acct_ctr comp[ACCT_NCOMP];
	struct acct_ctr total;
	_Atomic uint64_t node[ACCT_MAX_NODES];
	_Atomic unsigned nnodes;     /* highest node charged + 1 */
	_Atomic unsigned level;      /* as of the last charge or release */
	_Atomic uint64_t entered[3]; /* times each level was entered */
	_Atomic unsigned level_peak;
	/* thresholds, as ratios scaled by 1e6 so they stay atomic integers */
	_Atomic uint64_t warn, crit, bp_start, defer_ratio, reject_ratio;
};

#define ACCT_SCALE 1000000.0

static void acct_track(struct acct *a);

static uint64_t acct_scaled(double r)
{
	return (uint64_t)(r * ACCT_SCALE + 0.5);
}

struct acct *acct_new(const struct cfg_memory_limits *lim, const struct cfg_memory_tuning *tun)
{
	struct acct *a = calloc(1, sizeof(*a));

	if (a)
		acct_set_limits(a, lim, tun);
	return a;
}

void acct_free(struct acct *a)
{
	free(a);
}

void acct_set_limits(struct acct *a, const struct cfg_memory_limits *lim,
                     const struct cfg_memory_tuning *tun)
{
	atomic_store(&a->comp[ACCT_CONN].limit, lim->connection_memory);
	atomic_store(&a->comp[ACCT_BUF].limit, lim->buffer_pool_memory);
	atomic_store(&a->comp[ACCT_SSL].limit, lim->ssl_context_memory);
	atomic_store(&a->comp[ACCT_CACHE].limit, lim->cache_memory);
	atomic_store(&a->total.limit, lim->max_total_memory);
	atomic_store(&a->warn, acct_scaled(tun->warning_threshold));
	atomic_store(&a->crit, acct_scaled(tun->critical_threshold));
	atomic_store(&a->bp_start, acct_scaled(tun->backpressure_start));
	atomic_store(&a->defer_ratio, acct_scaled(tun->warning_defer_ratio));
	atomic_store(&a->reject_ratio, acct_scaled(tun->critical_reject_ratio));
	/* new limits can change the level with no charge to notice it */
	acct_track(a);
}

/* Reserves <n> in <c> unless that passes its limit (0 = none); <now> is
 * then the counter with it. */
static bool acct_reserve(struct acct_ctr *c, uint64_t n, uint64_t *now)
{
	uint64_t limit = atomic_load_explicit(&c->limit, memory_order_relaxed);
	uint64_t cur = atomic_load_explicit(&c->current, memory_order_relaxed);

	do {
		if (limit && cur + n > limit)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &c->current, &cur, cur + n, memory_order_relaxed, memory_order_relaxed));
	*now = cur + n;
	return true;
}

/* Counts a reservation that is kept: its peak and the allocation. */
static void acct_commit(struct acct_ctr *c, uint64_t now)
{
	uint64_t peak = atomic_load_explicit(&c->peak, memory_order_relaxed);

	while (now > peak && !atomic_compare_exchange_weak_explicit(
				 &c->peak, &peak, now, memory_order_relaxed, memory_order_relaxed))
		;
	atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
}

static void acct_sub(struct acct_ctr *c, uint64_t n)
{
	atomic_fetch_sub_explicit(&c->current, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->releases, 1, memory_order_relaxed);
}

static double acct_usage(const struct acct *a);
static enum acct_level acct_level_of(const struct acct *a, double u);

/* Follows the level after a change of usage, counting every entry into a
 * level and the highest one reached. */
static void acct_track(struct acct *a)
{
	unsigned lvl = acct_level_of(a, acct_usage(a));
	unsigned old = atomic_load_explicit(&a->level, memory_order_relaxed);
	unsigned peak;

	if (lvl == old || !atomic_compare_exchange_strong_explicit(
			      &a->level, &old, lvl, memory_order_relaxed, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&a->entered[lvl], 1, memory_order_relaxed);
	peak = atomic_load_explicit(&a->level_peak, memory_order_relaxed);
	while (lvl > peak &&
	       !atomic_compare_exchange_weak_explicit(&a->level_peak, &peak, lvl,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

int acct_charge(struct acct *a, enum acct_comp comp, int node, size_t n)
{
	struct acct_ctr *c = &a->comp[comp];
	uint64_t cnow, tnow;

	if (fault_hit(FAULT_ALLOC)) {
		/* refused as the component's limit would be: counted the same way */
		atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	if (!acct_reserve(c, n, &cnow)) {
		atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	if (!acct_reserve(&a->total, n, &tnow)) {
		/* undone before it counts: the component's peak never saw it */
		atomic_fetch_sub_explicit(&c->current, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&a->total.refused, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	acct_commit(c, cnow);
	acct_commit(&a->total, tnow);
	if (node >= 0 && node < ACCT_MAX_NODES) {
		unsigned nn = atomic_load_explicit(&a->nnodes, memory_order_relaxed);

		atomic_fetch_add_explicit(&a->node[node], n, memory_order_relaxed);
		while ((unsigned)node >= nn && !atomic_compare_exchange_weak_explicit(
						   &a->nnodes, &nn, (unsigned)node + 1,
						   memory_order_relaxed, memory_order_relaxed))
			;
	}
	acct_track(a);
	return 0;
}

void acct_release(struct acct *a, enum acct_comp comp, int node, size_t n)
{
	acct_sub(&a->comp[comp], n);
	acct_sub(&a->total, n);
	if (node >= 0 && node < ACCT_MAX_NODES)
		atomic_fetch_sub_explicit(&a->node[node], n, memory_order_relaxed);
	acct_track(a);
}

/* The largest current/limit over the total and every limited component. */
static double acct_usage(const struct acct *a)
{
	const struct acct_ctr *c[ACCT_NCOMP + 1] = {&a->total};
	double u = 0;
	unsigned i;

	for (i = 0; i < ACCT_NCOMP; i++)
		c[i + 1] = &a->comp[i];
	for (i = 0; i <= ACCT_NCOMP; i++) {
		uint64_t lim = atomic_load_explicit(&c[i]->limit, memory_order_relaxed);
		uint64_t cur = atomic_load_explicit(&c[i]->current, memory_order_relaxed);
		double x;

		if (!lim)
			continue;
		x = (double)cur / (double)lim;
		if (x > u)
			u = x;
	}
	return u;
}

static enum acct_level acct_level_of(const struct acct *a, double u)
{
	if (u >= atomic_load_explicit(&a->crit, memory_order_relaxed) / ACCT_SCALE)
		return ACCT_CRITICAL;
	if (u >= atomic_load_explicit(&a->warn, memory_order_relaxed) / ACCT_SCALE)
		return ACCT_WARNING;
	return ACCT_NORMAL;
}

enum acct_level acct_level(const struct acct *a)
{
	return acct_level_of(a, acct_usage(a));
}

const char *acct_level_name(enum acct_level lvl)
{
	switch (lvl) {
	case ACCT_NORMAL:
		return "normal";
	case ACCT_WARNING:
		return "warning";
	case ACCT_CRITICAL:
		return "critical";
	}
	return "?";
}

double acct_rand01(uint64_t *rng)
{
	uint64_t x = *rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* The table of DESIGN.md's "Contracts": Normal accepts; Warning accepts
 * below backpressure_start and defers warning_defer_ratio of the rest;
 * Critical rejects critical_reject_ratio and defers the rest. Exactly one
 * draw is made in the two random cases, so a seeded run is reproducible. */
enum acct_decision acct_decide(const struct acct *a, uint64_t *rng)
{
	double u = acct_usage(a);

	switch (acct_level_of(a, u)) {
	case ACCT_NORMAL:
		return ACCT_ACCEPT;
	case ACCT_WARNING:
		if (u < atomic_load_explicit(&a->bp_start, memory_order_relaxed) / ACCT_SCALE)
			return ACCT_ACCEPT;
		return acct_rand01(rng) <
		               atomic_load_explicit(&a->defer_ratio, memory_order_relaxed) /
		                   ACCT_SCALE
		           ? ACCT_DEFER
		           : ACCT_ACCEPT;
	case ACCT_CRITICAL:
		return acct_rand01(rng) <
		               atomic_load_explicit(&a->reject_ratio, memory_order_relaxed) /
		                   ACCT_SCALE
		           ? ACCT_REJECT
		           : ACCT_DEFER;
	}
	return ACCT_ACCEPT;
}

static void acct_copy(const struct acct_ctr *c, struct acct_comp_stats *s)
{
	s->current = atomic_load_explicit(&c->current, memory_order_relaxed);
	s->peak = atomic_load_explicit(&c->peak, memory_order_relaxed);
	s->limit = atomic_load_explicit(&c->limit, memory_order_relaxed);
	s->allocs = atomic_load_explicit(&c->allocs, memory_order_relaxed);
	s->releases = atomic_load_explicit(&c->releases, memory_order_relaxed);
	s->refused = atomic_load_explicit(&c->refused, memory_order_relaxed);
}

void acct_snapshot(const struct acct *a, struct acct_stats *st)
{
	unsigned i;

	for (i = 0; i < ACCT_NCOMP; i++)
		acct_copy(&a->comp[i], &st->comp[i]);
	acct_copy(&a->total, &st->total);
	st->nnodes = atomic_load_explicit(&a->nnodes, memory_order_relaxed);
	for (i = 0; i < ACCT_MAX_NODES; i++)
		st->node_current[i] = atomic_load_explicit(&a->node[i], memory_order_relaxed);
	st->usage = acct_usage(a);
	st->level = acct_level_of(a, st->usage);
	st->level_peak = atomic_load_explicit(&a->level_peak, memory_order_relaxed);
	for (i = 0; i < 3; i++)
		st->entered[i] = atomic_load_explicit(&a->entered[i], memory_order_relaxed);
}

bool acct_idle(const struct acct *a)
{
	unsigned i;

	for (i = 0; i < ACCT_NCOMP; i++)
		if (atomic_load_explicit(&a->comp[i].current, memory_order_relaxed))
			return false;
	return atomic_load_explicit(&a->total.current, memory_order_relaxed) == 0;
}
