/* Unit tests for the memory accountant (core/acct.h), written against its
 * contract and DESIGN.md's "Contracts": a charge past a limit is refused and
 * charges nothing, a limit of 0 is no ceiling, the pressure level follows the
 * largest u at the exact thresholds, and acct_decide() draws what the table
 * says, reproducibly from a seed.
 *
 * Expected values are computed here from the inputs (limits chosen so that
 * 0.8 and 0.95 of them are whole bytes), never copied from the code.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem/acct.h"
#include "test/unit/ck.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* The profile's small deployment and its tuning. */
static const struct cfg_memory_limits small_limits = {
    .max_total_memory = 512 * MiB,
    .buffer_pool_memory = 256 * MiB,
    .connection_memory = 128 * MiB,
    .ssl_context_memory = 64 * MiB,
    .cache_memory = 64 * MiB,
};

static struct cfg_memory_tuning tun;
static struct acct *a;

static void default_tuning(struct cfg_memory_tuning *t)
{
	memset(t, 0, sizeof(*t));
	t->pool_growth_threshold = 0.8;
	t->pool_shrink_threshold = 0.3;
	t->warning_threshold = 0.8;
	t->critical_threshold = 0.95;
	t->backpressure_start = 0.85;
	t->warning_defer_ratio = 0.1;
	t->critical_reject_ratio = 0.7;
}

static void setup(void)
{
	default_tuning(&tun);
	a = acct_new(&small_limits, &tun);
	ck_assert_ptr_nonnull(a);
}

/* Every test gives back all it charged: every current counter is 0. */
static void teardown(void)
{
	struct acct_stats st;
	unsigned i;

	acct_snapshot(a, &st);
	for (i = 0; i < ACCT_NCOMP; i++)
		ck_assert_uint_eq(st.comp[i].current, 0);
	ck_assert_uint_eq(st.total.current, 0);
	for (i = 0; i < ACCT_MAX_NODES; i++)
		ck_assert_uint_eq(st.node_current[i], 0);
	ck_assert(acct_idle(a));
	acct_free(a);
	a = NULL;
}

/* Sets the limits: <total> and one limit per component. */
static void limits(uint64_t total, uint64_t conn, uint64_t buf, uint64_t ssl, uint64_t cache)
{
	struct cfg_memory_limits l = {
	    .max_total_memory = total,
	    .connection_memory = conn,
	    .buffer_pool_memory = buf,
	    .ssl_context_memory = ssl,
	    .cache_memory = cache,
	};

	acct_set_limits(a, &l, &tun);
}

static struct acct_stats snap(void)
{
	struct acct_stats st;

	memset(&st, 0xa5, sizeof(st));
	acct_snapshot(a, &st);
	return st;
}

static void assert_comp_eq(const struct acct_comp_stats *x, const struct acct_comp_stats *y)
{
	ck_assert_uint_eq(x->current, y->current);
	ck_assert_uint_eq(x->peak, y->peak);
	ck_assert_uint_eq(x->limit, y->limit);
	ck_assert_uint_eq(x->allocs, y->allocs);
	ck_assert_uint_eq(x->releases, y->releases);
	ck_assert_uint_eq(x->refused, y->refused);
}

/* ---- charge and release ---- */

START_TEST(charges_and_releases_add_up_per_component_and_in_the_total)
{
	static const size_t n[ACCT_NCOMP][3] = {
	    {100, 2000, 7}, {4096, 16384, 65536}, {1, 1, 1}, {12345, 0, 999}};
	uint64_t sum[ACCT_NCOMP] = {0}, total = 0;
	struct acct_stats st;
	unsigned c, k;

	for (c = 0; c < ACCT_NCOMP; c++)
		for (k = 0; k < 3; k++) {
			ck_assert_int_eq(acct_charge(a, c, -1, n[c][k]), 0);
			sum[c] += n[c][k];
			total += n[c][k];
			st = snap();
			ck_assert_uint_eq(st.comp[c].current, sum[c]);
			ck_assert_uint_eq(st.total.current, total);
		}
	st = snap();
	for (c = 0; c < ACCT_NCOMP; c++) {
		ck_assert_uint_eq(st.comp[c].current, sum[c]);
		ck_assert_uint_eq(st.comp[c].allocs, 3);
		ck_assert_uint_eq(st.comp[c].releases, 0);
		ck_assert_uint_eq(st.comp[c].refused, 0);
	}
	ck_assert_uint_eq(st.total.allocs, 3 * ACCT_NCOMP);
	ck_assert(!acct_idle(a));

	/* released in another order than charged */
	for (k = 3; k-- > 0;)
		for (c = ACCT_NCOMP; c-- > 0;) {
			acct_release(a, c, -1, n[c][k]);
			sum[c] -= n[c][k];
			total -= n[c][k];
			st = snap();
			ck_assert_uint_eq(st.comp[c].current, sum[c]);
			ck_assert_uint_eq(st.total.current, total);
		}
	st = snap();
	for (c = 0; c < ACCT_NCOMP; c++) {
		ck_assert_uint_eq(st.comp[c].current, 0);
		ck_assert_uint_eq(st.comp[c].allocs, 3);
		ck_assert_uint_eq(st.comp[c].releases, 3);
	}
	ck_assert_uint_eq(st.total.allocs, 3 * ACCT_NCOMP);
	ck_assert_uint_eq(st.total.releases, 3 * ACCT_NCOMP);
	ck_assert(acct_idle(a));
}
END_TEST

START_TEST(the_snapshot_shows_the_configured_limits)
{
	struct acct_stats st = snap();

	ck_assert_uint_eq(st.total.limit, small_limits.max_total_memory);
	ck_assert_uint_eq(st.comp[ACCT_CONN].limit, small_limits.connection_memory);
	ck_assert_uint_eq(st.comp[ACCT_BUF].limit, small_limits.buffer_pool_memory);
	ck_assert_uint_eq(st.comp[ACCT_SSL].limit, small_limits.ssl_context_memory);
	ck_assert_uint_eq(st.comp[ACCT_CACHE].limit, small_limits.cache_memory);
	ck_assert_int_eq(st.level, ACCT_NORMAL);
	ck_assert_int_eq(st.level_peak, ACCT_NORMAL);
	ck_assert(st.usage == 0.0);
	ck_assert_str_eq(acct_level_name(ACCT_NORMAL), "normal");
	ck_assert_str_eq(acct_level_name(ACCT_WARNING), "warning");
	ck_assert_str_eq(acct_level_name(ACCT_CRITICAL), "critical");
}
END_TEST

START_TEST(a_charge_up_to_a_component_limit_passes_one_byte_more_is_refused)
{
	struct acct_stats before, after;
	unsigned c = (unsigned)_i;

	limits(100 * MiB, 1000, 1000, 1000, 1000);
	ck_assert_int_eq(acct_charge(a, c, 0, 600), 0);
	before = snap();
	ck_assert_int_eq(acct_charge(a, c, 0, 401), -ENOMEM);
	ck_assert_int_eq(acct_charge(a, c, 0, SIZE_MAX / 2), -ENOMEM);
	after = snap();
	/* nothing charged: only the refusals are counted */
	ck_assert_uint_eq(after.comp[c].refused, before.comp[c].refused + 2);
	after.comp[c].refused = before.comp[c].refused;
	assert_comp_eq(&after.comp[c], &before.comp[c]);
	assert_comp_eq(&after.total, &before.total);
	ck_assert_uint_eq(after.node_current[0], 600);
	for (unsigned o = 0; o < ACCT_NCOMP; o++)
		if (o != c)
			assert_comp_eq(&after.comp[o], &before.comp[o]);

	/* exactly up to the limit is allowed */
	ck_assert_int_eq(acct_charge(a, c, 0, 400), 0);
	ck_assert_uint_eq(snap().comp[c].current, 1000);
	ck_assert_int_eq(acct_charge(a, c, 0, 1), -ENOMEM);
	ck_assert_uint_eq(snap().comp[c].current, 1000);
	ck_assert_uint_eq(snap().comp[c].peak, 1000);
	acct_release(a, c, 0, 1000);
}
END_TEST

START_TEST(a_charge_past_the_total_is_refused_and_charges_nothing)
{
	struct acct_stats before, after;

	/* components without a ceiling of their own: only the total applies */
	limits(1000, 0, 0, 0, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 0, 800), 0);
	before = snap();
	ck_assert_int_eq(acct_charge(a, ACCT_CONN, 0, 201), -ENOMEM);
	after = snap();
	ck_assert_uint_eq(after.comp[ACCT_CONN].current, 0);
	ck_assert_uint_eq(after.comp[ACCT_CONN].allocs, 0);
	ck_assert_uint_eq(after.comp[ACCT_CONN].peak, 0); /* never held */
	ck_assert_uint_eq(after.comp[ACCT_CONN].refused, 1);
	ck_assert_uint_eq(after.total.refused, before.total.refused + 1);
	after.total.refused = before.total.refused;
	after.comp[ACCT_CONN].refused = before.comp[ACCT_CONN].refused;
	for (unsigned c = 0; c < ACCT_NCOMP; c++)
		assert_comp_eq(&after.comp[c], &before.comp[c]);
	assert_comp_eq(&after.total, &before.total);
	ck_assert_uint_eq(after.node_current[0], 800);

	/* a component under its own limit is still bound by the total */
	limits(1000, 500, 0, 0, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_CONN, 0, 300), -ENOMEM);
	ck_assert_uint_eq(snap().comp[ACCT_CONN].current, 0);
	ck_assert_uint_eq(snap().comp[ACCT_CONN].peak, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_CONN, 0, 200), 0);
	ck_assert_uint_eq(snap().total.current, 1000);
	ck_assert_int_eq(acct_charge(a, ACCT_SSL, 0, 1), -ENOMEM);
	ck_assert_uint_eq(snap().total.peak, 1000);
	acct_release(a, ACCT_CONN, 0, 200);
	acct_release(a, ACCT_BUF, 0, 800);
}
END_TEST

START_TEST(a_limit_of_zero_is_no_ceiling_of_its_own)
{
	struct acct_stats st;

	/* no limit at all: anything is accepted and u stays 0 */
	limits(0, 0, 0, 0, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, -1, 1ull << 50), 0);
	ck_assert_int_eq(acct_charge(a, ACCT_CACHE, -1, 1ull << 50), 0);
	st = snap();
	ck_assert_uint_eq(st.total.current, 1ull << 51);
	ck_assert(st.usage == 0.0);
	ck_assert_int_eq(st.level, ACCT_NORMAL);
	acct_release(a, ACCT_BUF, -1, 1ull << 50);
	acct_release(a, ACCT_CACHE, -1, 1ull << 50);

	/* a component without a limit does not count in u, the total does */
	limits(10000, 0, 1000, 0, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_CONN, -1, 5000), 0);
	st = snap();
	ck_assert(st.usage == 0.5);
	ck_assert_int_eq(acct_charge(a, ACCT_CONN, -1, 5001), -ENOMEM);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, -1, 1001), -ENOMEM);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, -1, 1000), 0);
	acct_release(a, ACCT_BUF, -1, 1000);
	acct_release(a, ACCT_CONN, -1, 5000);
}
END_TEST

START_TEST(peak_is_the_highest_current_ever_held)
{
	static const long steps[] = {100, 200, -250, 50, 1000, -1000, -100, 400, -400};
	uint64_t cur = 0, peak = 0;
	struct acct_stats st;
	unsigned i, charges = 0, releases = 0;

	for (i = 0; i < ARRAY_SIZE(steps); i++) {
		if (steps[i] > 0) {
			ck_assert_int_eq(acct_charge(a, ACCT_SSL, -1, steps[i]), 0);
			cur += steps[i];
			charges++;
		} else {
			acct_release(a, ACCT_SSL, -1, -steps[i]);
			cur -= -steps[i];
			releases++;
		}
		if (cur > peak)
			peak = cur;
		st = snap();
		ck_assert_uint_eq(st.comp[ACCT_SSL].current, cur);
		ck_assert_uint_eq(st.comp[ACCT_SSL].peak, peak);
		ck_assert_uint_eq(st.total.peak, peak);
		ck_assert_uint_eq(st.comp[ACCT_SSL].allocs, charges);
		ck_assert_uint_eq(st.comp[ACCT_SSL].releases, releases);
	}
	ck_assert_uint_eq(peak, 1100); /* 50 + 50 + 1000 */
	ck_assert_uint_eq(cur, 0);
}
END_TEST

START_TEST(bytes_are_counted_per_node)
{
	struct acct_stats st;

	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 0, 100), 0);
	ck_assert_int_eq(acct_charge(a, ACCT_CONN, 0, 20), 0);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 3, 50), 0);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, -1, 70), 0);            /* unknown node */
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, ACCT_MAX_NODES, 9), 0); /* out of range */
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, ACCT_MAX_NODES - 1, 5), 0);
	st = snap();
	ck_assert_uint_eq(st.node_current[0], 120);
	ck_assert_uint_eq(st.node_current[3], 50);
	ck_assert_uint_eq(st.node_current[ACCT_MAX_NODES - 1], 5);
	for (unsigned i = 0; i < ACCT_MAX_NODES; i++)
		if (i != 0 && i != 3 && i != ACCT_MAX_NODES - 1)
			ck_assert_uint_eq(st.node_current[i], 0);
	ck_assert_uint_eq(st.nnodes, ACCT_MAX_NODES);
	/* nodes or not, every byte is in its component and the total */
	ck_assert_uint_eq(st.comp[ACCT_BUF].current, 100 + 50 + 70 + 9 + 5);
	ck_assert_uint_eq(st.total.current, 120 + 50 + 70 + 9 + 5);

	acct_release(a, ACCT_BUF, 3, 50);
	ck_assert_uint_eq(snap().node_current[3], 0);
	ck_assert_uint_eq(snap().node_current[0], 120);
	acct_release(a, ACCT_BUF, 0, 100);
	acct_release(a, ACCT_CONN, 0, 20);
	acct_release(a, ACCT_BUF, -1, 70);
	acct_release(a, ACCT_BUF, ACCT_MAX_NODES, 9);
	acct_release(a, ACCT_BUF, ACCT_MAX_NODES - 1, 5);
}
END_TEST

START_TEST(nnodes_is_the_highest_node_charged_plus_one)
{
	ck_assert_uint_eq(snap().nnodes, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 1, 10), 0);
	ck_assert_uint_eq(snap().nnodes, 2);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 0, 10), 0);
	ck_assert_uint_eq(snap().nnodes, 2);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 5, 10), 0);
	ck_assert_uint_eq(snap().nnodes, 6);
	acct_release(a, ACCT_BUF, 1, 10);
	acct_release(a, ACCT_BUF, 0, 10);
	acct_release(a, ACCT_BUF, 5, 10);
}
END_TEST

/* ---- pressure ---- */

/* Limits that are multiples of 20, so 0.8 and 0.95 of them are whole. */
static const uint64_t lims20[] = {20, 1000, 20000, 1000000, 500 * MiB, 5 * GiB, 20ull << 40};

/* Sets u of the total alone to cur/lim. */
static void set_total_usage(uint64_t lim, uint64_t cur)
{
	limits(lim, 0, 0, 0, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_CACHE, -1, cur), 0);
}

START_TEST(the_level_changes_at_the_exact_thresholds_of_the_total)
{
	uint64_t lim = lims20[_i];
	struct {
		uint64_t cur;
		enum acct_level lvl;
	} pts[] = {
	    {0, ACCT_NORMAL},
	    {lim / 20 * 16 - 1, ACCT_NORMAL}, /* just below 0.8 */
	    {lim / 20 * 16, ACCT_WARNING},    /* exactly 0.8 */
	    {lim / 20 * 16 + 1, ACCT_WARNING},
	    {lim / 20 * 19 - 1, ACCT_WARNING}, /* just below 0.95 */
	    {lim / 20 * 19, ACCT_CRITICAL},    /* exactly 0.95 */
	    {lim, ACCT_CRITICAL},
	};

	for (unsigned i = 0; i < ARRAY_SIZE(pts); i++) {
		struct acct_stats st;

		set_total_usage(lim, pts[i].cur);
		st = snap();
		ck_assert_msg(acct_level(a) == pts[i].lvl,
		              "limit %llu current %llu: %s, expected %s", (unsigned long long)lim,
		              (unsigned long long)pts[i].cur, acct_level_name(acct_level(a)),
		              acct_level_name(pts[i].lvl));
		ck_assert_int_eq(st.level, pts[i].lvl);
		ck_assert_double_eq_tol(st.usage, (double)pts[i].cur / (double)lim, 1e-15);
		acct_release(a, ACCT_CACHE, -1, pts[i].cur);
	}
}
END_TEST

/* The level follows the largest u, whichever counter it is. */
START_TEST(the_level_follows_the_largest_u_over_the_total_and_components)
{
	unsigned c = (unsigned)_i;
	uint64_t climit[ACCT_NCOMP] = {0};

	for (unsigned k = 0; k < ACCT_NCOMP; k++)
		climit[k] = 1000 * (k + 1);
	limits(100 * MiB, climit[0], climit[1], climit[2], climit[3]);
	/* every other component at 0.5 */
	for (unsigned k = 0; k < ACCT_NCOMP; k++)
		if (k != c)
			ck_assert_int_eq(acct_charge(a, k, -1, climit[k] / 2), 0);
	ck_assert_int_eq(acct_level(a), ACCT_NORMAL);

	ck_assert_int_eq(acct_charge(a, c, -1, climit[c] * 4 / 5 - 1), 0);
	ck_assert_int_eq(acct_level(a), ACCT_NORMAL);
	ck_assert_int_eq(acct_charge(a, c, -1, 1), 0); /* exactly 0.8 */
	ck_assert_int_eq(acct_level(a), ACCT_WARNING);
	ck_assert_double_eq_tol(snap().usage, 0.8, 1e-15);
	ck_assert_int_eq(acct_charge(a, c, -1, climit[c] * 19 / 20 - climit[c] * 4 / 5 - 1), 0);
	ck_assert_int_eq(acct_level(a), ACCT_WARNING);
	ck_assert_int_eq(acct_charge(a, c, -1, 1), 0); /* exactly 0.95 */
	ck_assert_int_eq(acct_level(a), ACCT_CRITICAL);
	/* the total is far below its limit all along */
	ck_assert_double_lt((double)snap().total.current / (double)(100 * MiB), 0.01);

	acct_release(a, c, -1, climit[c] * 19 / 20);
	ck_assert_int_eq(acct_level(a), ACCT_NORMAL);
	for (unsigned k = 0; k < ACCT_NCOMP; k++)
		if (k != c)
			acct_release(a, k, -1, climit[k] / 2);
}
END_TEST

START_TEST(entered_counts_every_entry_into_a_level_and_level_peak_the_highest)
{
	/* limit 1000: 800 is Warning, 950 Critical */
	static const struct {
		long delta;
		enum acct_level lvl;
	} walk[] = {
	    {+500, ACCT_NORMAL},  {+300, ACCT_WARNING}, {+100, ACCT_WARNING},
	    {+50, ACCT_CRITICAL}, {+50, ACCT_CRITICAL}, {-100, ACCT_WARNING},
	    {-101, ACCT_NORMAL},  {+1, ACCT_WARNING},   {-800, ACCT_NORMAL},
	};
	uint64_t entered[3] = {0};
	enum acct_level lvl = ACCT_NORMAL, peak = ACCT_NORMAL;
	struct acct_stats st;

	limits(1000, 0, 0, 0, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(walk); i++) {
		if (walk[i].delta > 0)
			ck_assert_int_eq(acct_charge(a, ACCT_BUF, -1, walk[i].delta), 0);
		else
			acct_release(a, ACCT_BUF, -1, -walk[i].delta);
		if (walk[i].lvl != lvl)
			entered[walk[i].lvl]++;
		lvl = walk[i].lvl;
		if (lvl > peak)
			peak = lvl;
		st = snap();
		ck_assert_int_eq(st.level, lvl);
		ck_assert_int_eq(st.level_peak, peak);
		for (unsigned k = 0; k < 3; k++)
			ck_assert_uint_eq(st.entered[k], entered[k]);
	}
	ck_assert_uint_eq(entered[ACCT_WARNING], 3);
	ck_assert_uint_eq(entered[ACCT_CRITICAL], 1);
	ck_assert_uint_eq(entered[ACCT_NORMAL], 2);

	/* a refused charge changes nothing */
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, -1, 1001), -ENOMEM);
	st = snap();
	ck_assert_int_eq(st.level, ACCT_NORMAL);
	ck_assert_uint_eq(st.entered[ACCT_CRITICAL], 1);
}
END_TEST

START_TEST(set_limits_keeps_usage_and_applies_the_new_limits_at_once)
{
	struct acct_stats st;

	limits(10000, 0, 1000, 0, 0);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 2, 500), 0);
	ck_assert_int_eq(acct_level(a), ACCT_NORMAL);

	/* lowered under the usage: kept, but nothing more fits */
	limits(10000, 0, 520, 0, 0);
	st = snap();
	ck_assert_uint_eq(st.comp[ACCT_BUF].current, 500);
	ck_assert_uint_eq(st.total.current, 500);
	ck_assert_uint_eq(st.node_current[2], 500);
	ck_assert_uint_eq(st.comp[ACCT_BUF].limit, 520);
	ck_assert_int_eq(st.level, ACCT_CRITICAL); /* 500/520 = 0.96 */
	/* the reload's level is part of the history at once */
	ck_assert_int_eq(st.level_peak, ACCT_CRITICAL);
	ck_assert_uint_eq(st.entered[ACCT_CRITICAL], 1);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 2, 21), -ENOMEM);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 2, 20), 0);
	acct_release(a, ACCT_BUF, 2, 20);

	limits(10000, 0, 100, 0, 0); /* usage above the limit now */
	ck_assert_uint_eq(snap().comp[ACCT_BUF].current, 500);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 2, 1), -ENOMEM);
	ck_assert_int_eq(acct_level(a), ACCT_CRITICAL);

	/* raised again: room again */
	limits(10000, 0, 2000, 0, 0);
	ck_assert_int_eq(acct_level(a), ACCT_NORMAL);
	ck_assert_int_eq(acct_charge(a, ACCT_BUF, 2, 1000), 0);
	ck_assert_uint_eq(snap().comp[ACCT_BUF].current, 1500);

	/* thresholds change with the limits */
	tun.warning_threshold = 0.5;
	tun.critical_threshold = 0.7;
	limits(10000, 0, 2000, 0, 0);
	ck_assert_int_eq(acct_level(a), ACCT_CRITICAL); /* 0.75 */
	tun.critical_threshold = 0.76;
	limits(10000, 0, 2000, 0, 0);
	ck_assert_int_eq(acct_level(a), ACCT_WARNING);
	acct_release(a, ACCT_BUF, 2, 1500);
	ck_assert_int_eq(acct_level(a), ACCT_NORMAL);
}
END_TEST

/* ---- the accept decision ---- */

#define DRAWS 100000

struct tally {
	unsigned n[3];
};

static struct tally decide_n(uint64_t seed, unsigned draws)
{
	struct tally t = {{0}};
	uint64_t rng = seed;

	for (unsigned i = 0; i < draws; i++) {
		enum acct_decision d = acct_decide(a, &rng);

		FAIL_IF(d != ACCT_ACCEPT && d != ACCT_DEFER && d != ACCT_REJECT, "decision %d", d);
		t.n[d]++;
	}
	return t;
}

/* Limit 1000000: u = cur / 1e6 exactly as a decimal. */
static void set_u_millionths(uint64_t cur)
{
	set_total_usage(1000000, cur);
}

START_TEST(normal_always_accepts)
{
	static const uint64_t us[] = {0, 1, 500000, 799999};

	for (unsigned i = 0; i < ARRAY_SIZE(us); i++) {
		set_u_millionths(us[i]);
		ck_assert_int_eq(acct_level(a), ACCT_NORMAL);
		ck_assert_uint_eq(decide_n(0x1234567 + i, DRAWS).n[ACCT_ACCEPT], DRAWS);
		acct_release(a, ACCT_CACHE, -1, us[i]);
	}
}
END_TEST

START_TEST(warning_below_backpressure_start_always_accepts)
{
	static const uint64_t us[] = {800000, 820000, 849999};

	for (unsigned i = 0; i < ARRAY_SIZE(us); i++) {
		set_u_millionths(us[i]);
		ck_assert_int_eq(acct_level(a), ACCT_WARNING);
		ck_assert_uint_eq(decide_n(0xfeedbeef + i, DRAWS).n[ACCT_ACCEPT], DRAWS);
		acct_release(a, ACCT_CACHE, -1, us[i]);
	}
}
END_TEST

/* |observed - p| within 6 standard deviations of a binomial of DRAWS. */
static void assert_fraction(unsigned n, double p, const char *what)
{
	double f = (double)n / DRAWS, tol = 6 * sqrt(p * (1 - p) / DRAWS) + 1e-9;

	ck_assert_msg(fabs(f - p) <= tol, "%s: %.4f of %u draws, expected %.4f +- %.4f", what, f,
	              DRAWS, p, tol);
}

START_TEST(warning_from_backpressure_start_defers_with_warning_defer_ratio)
{
	static const uint64_t us[] = {850000, 900000, 949999};
	static const double ratios[] = {0.1, 0.5, 0.0, 1.0};

	for (unsigned r = 0; r < ARRAY_SIZE(ratios); r++) {
		tun.warning_defer_ratio = ratios[r];
		for (unsigned i = 0; i < ARRAY_SIZE(us); i++) {
			struct tally t;

			set_u_millionths(us[i]);
			ck_assert_int_eq(acct_level(a), ACCT_WARNING);
			t = decide_n(0xabcdef12345ull * (i + 1) + r, DRAWS);
			ck_assert_uint_eq(t.n[ACCT_REJECT], 0);
			ck_assert_uint_eq(t.n[ACCT_ACCEPT] + t.n[ACCT_DEFER], DRAWS);
			assert_fraction(t.n[ACCT_DEFER], ratios[r], "warning defers");
			acct_release(a, ACCT_CACHE, -1, us[i]);
		}
	}
}
END_TEST

START_TEST(critical_rejects_with_critical_reject_ratio_and_defers_the_rest)
{
	static const uint64_t us[] = {950000, 990000, 1000000};
	static const double ratios[] = {0.7, 0.25, 0.0, 1.0};

	for (unsigned r = 0; r < ARRAY_SIZE(ratios); r++) {
		tun.critical_reject_ratio = ratios[r];
		for (unsigned i = 0; i < ARRAY_SIZE(us); i++) {
			struct tally t;

			set_u_millionths(us[i]);
			ck_assert_int_eq(acct_level(a), ACCT_CRITICAL);
			t = decide_n(0x9e3779b97f4a7c15ull + 31 * i + r, DRAWS);
			ck_assert_uint_eq(t.n[ACCT_ACCEPT], 0); /* never accepts */
			ck_assert_uint_eq(t.n[ACCT_REJECT] + t.n[ACCT_DEFER], DRAWS);
			assert_fraction(t.n[ACCT_REJECT], ratios[r], "critical rejects");
			acct_release(a, ACCT_CACHE, -1, us[i]);
		}
	}
}
END_TEST

START_TEST(a_seed_gives_the_same_decisions_every_time)
{
	static const uint64_t us[] = {900000, 970000};
	enum { N = 10000 };

	for (unsigned i = 0; i < ARRAY_SIZE(us); i++) {
		uint64_t r1 = 42, r2 = 42, r3 = 43;
		unsigned differ = 0;

		set_u_millionths(us[i]);
		for (unsigned k = 0; k < N; k++) {
			enum acct_decision d1 = acct_decide(a, &r1), d2 = acct_decide(a, &r2);

			FAIL_IF(d1 != d2, "draw %u: %d then %d from the same seed", k, d1, d2);
			differ += acct_decide(a, &r3) != d1;
		}
		ck_assert_uint_eq(r1, r2);
		/* another seed is another sequence */
		ck_assert_uint_gt(differ, N / 20);
		acct_release(a, ACCT_CACHE, -1, us[i]);
	}
}
END_TEST

START_TEST(rand01_is_uniform_in_zero_one)
{
	enum { N = 1000000, BINS = 10 };
	unsigned bins[BINS] = {0};
	uint64_t rng = 1;
	double sum = 0;

	for (unsigned i = 0; i < N; i++) {
		double x = acct_rand01(&rng);

		FAIL_IF(!(x >= 0.0 && x < 1.0), "draw %u: %f", i, x);
		sum += x;
		bins[(unsigned)(x * BINS)]++;
	}
	ck_assert_double_eq_tol(sum / N, 0.5, 0.003);
	for (unsigned b = 0; b < BINS; b++)
		ck_assert_uint_lt(abs((int)bins[b] - N / BINS), 6 * 300); /* sd ~ 300 */
}
END_TEST

/* ---- threads ---- */

#define ST_THREADS 4
#define ST_ITERS   200000
#define ST_LIMIT   1000000
#define ST_TOTAL   1500000

struct st_arg {
	unsigned id;
	uint64_t charged[ACCT_NCOMP], refused[ACCT_NCOMP];
};

static atomic_bool st_stop;
static _Atomic unsigned st_over; /* times the observer saw a limit passed */

static uint64_t st_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *st_worker(void *p)
{
	struct st_arg *arg = p;
	struct {
		unsigned comp;
		size_t n;
	} held[16];
	unsigned nheld = 0;
	uint64_t s = 0x2545f4914f6cdd1dull * (arg->id + 1);

	for (unsigned i = 0; i < ST_ITERS; i++) {
		if (nheld == 16 || (nheld && st_rand(&s) % 3 == 0)) {
			unsigned k = st_rand(&s) % nheld;

			acct_release(a, held[k].comp, arg->id % 2, held[k].n);
			held[k] = held[--nheld];
		} else {
			unsigned c = st_rand(&s) % ACCT_NCOMP;
			size_t n = 1 + st_rand(&s) % 300000;

			if (acct_charge(a, c, arg->id % 2, n) == 0) {
				held[nheld].comp = c;
				held[nheld++].n = n;
				arg->charged[c]++;
			} else {
				arg->refused[c]++;
			}
		}
	}
	while (nheld--)
		acct_release(a, held[nheld].comp, arg->id % 2, held[nheld].n);
	return NULL;
}

/* Checks the limits while the workers run. */
static void *st_observer(void *p)
{
	while (!atomic_load(&st_stop)) {
		struct acct_stats st;

		acct_snapshot(a, &st);
		for (unsigned c = 0; c < ACCT_NCOMP; c++)
			if (st.comp[c].current > ST_LIMIT)
				atomic_fetch_add(&st_over, 1);
		if (st.total.current > ST_TOTAL)
			atomic_fetch_add(&st_over, 1);
		(void)acct_level(a);
	}
	return NULL;
}

START_TEST(threads_charging_at_once_never_pass_a_limit)
{
	struct st_arg arg[ST_THREADS];
	pthread_t th[ST_THREADS], obs;
	uint64_t charged[ACCT_NCOMP] = {0}, refused[ACCT_NCOMP] = {0}, sum_c = 0, sum_r = 0;
	struct acct_stats st;

	limits(ST_TOTAL, ST_LIMIT, ST_LIMIT, ST_LIMIT, ST_LIMIT);
	memset(arg, 0, sizeof(arg));
	ck_assert_int_eq(pthread_create(&obs, NULL, st_observer, NULL), 0);
	for (unsigned t = 0; t < ST_THREADS; t++) {
		arg[t].id = t;
		ck_assert_int_eq(pthread_create(&th[t], NULL, st_worker, &arg[t]), 0);
	}
	for (unsigned t = 0; t < ST_THREADS; t++)
		pthread_join(th[t], NULL);
	atomic_store(&st_stop, true);
	pthread_join(obs, NULL);

	for (unsigned t = 0; t < ST_THREADS; t++)
		for (unsigned c = 0; c < ACCT_NCOMP; c++) {
			charged[c] += arg[t].charged[c];
			refused[c] += arg[t].refused[c];
		}
	st = snap();
	ck_assert_uint_eq(atomic_load(&st_over), 0);
	for (unsigned c = 0; c < ACCT_NCOMP; c++) {
		ck_assert_uint_le(st.comp[c].peak, ST_LIMIT);
		ck_assert_uint_eq(st.comp[c].current, 0);
		ck_assert_uint_eq(st.comp[c].allocs, charged[c]);
		ck_assert_uint_eq(st.comp[c].releases, charged[c]);
		ck_assert_uint_eq(st.comp[c].refused, refused[c]);
		sum_c += charged[c];
		sum_r += refused[c];
	}
	ck_assert_uint_le(st.total.peak, ST_TOTAL);
	ck_assert_uint_eq(st.total.allocs, sum_c);
	ck_assert_uint_eq(st.total.releases, sum_c);
	ck_assert_uint_le(st.total.refused, sum_r);
	ck_assert_uint_eq(st.node_current[0], 0);
	ck_assert_uint_eq(st.node_current[1], 0);
	/* the limits were really reached */
	ck_assert_uint_gt(sum_r, 1000);
	ck_assert_uint_gt(st.total.peak, ST_TOTAL * 9 / 10);
	ck_assert_int_eq(st.level, ACCT_NORMAL);
	ck_assert_int_eq(st.level_peak, ACCT_CRITICAL);
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	return ck_tcase(name, timeout, setup, teardown);
}

static Suite *acct_suite(void)
{
	Suite *s = suite_create("acct");
	TCase *tc = tcase("charge", 10), *tp = tcase("pressure", 10);
	TCase *td = tcase("decide", 30), *tt = tcase("threads", 120);

	tcase_add_test(tc, charges_and_releases_add_up_per_component_and_in_the_total);
	tcase_add_test(tc, the_snapshot_shows_the_configured_limits);
	tcase_add_loop_test(tc, a_charge_up_to_a_component_limit_passes_one_byte_more_is_refused, 0,
	                    ACCT_NCOMP);
	tcase_add_test(tc, a_charge_past_the_total_is_refused_and_charges_nothing);
	tcase_add_test(tc, a_limit_of_zero_is_no_ceiling_of_its_own);
	tcase_add_test(tc, peak_is_the_highest_current_ever_held);
	tcase_add_test(tc, bytes_are_counted_per_node);
	tcase_add_test(tc, nnodes_is_the_highest_node_charged_plus_one);
	suite_add_tcase(s, tc);

	tcase_add_loop_test(tp, the_level_changes_at_the_exact_thresholds_of_the_total, 0,
	                    ARRAY_SIZE(lims20));
	tcase_add_loop_test(tp, the_level_follows_the_largest_u_over_the_total_and_components, 0,
	                    ACCT_NCOMP);
	tcase_add_test(tp, entered_counts_every_entry_into_a_level_and_level_peak_the_highest);
	tcase_add_test(tp, set_limits_keeps_usage_and_applies_the_new_limits_at_once);
	suite_add_tcase(s, tp);

	tcase_add_test(td, normal_always_accepts);
	tcase_add_test(td, warning_below_backpressure_start_always_accepts);
	tcase_add_test(td, warning_from_backpressure_start_defers_with_warning_defer_ratio);
	tcase_add_test(td, critical_rejects_with_critical_reject_ratio_and_defers_the_rest);
	tcase_add_test(td, a_seed_gives_the_same_decisions_every_time);
	tcase_add_test(td, rand01_is_uniform_in_zero_one);
	suite_add_tcase(s, td);

	tcase_add_test(tt, threads_charging_at_once_never_pass_a_limit);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return ck_run(acct_suite());
}
