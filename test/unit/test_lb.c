/* Unit tests for the balancing algorithms (core/lb.c, lb_rr.c, lb_wrr.c,
 * lb_lc.c, lb_p2c.c, lb_maglev.c).
 *
 * Everything under test is reachable through core/lb.h and core/lb-int.h,
 * so this file includes no .c: the archive provides the lb objects. The
 * backends are registry entries (core/backend.h), each lb under its own
 * pool name so that no two share one; test_snapshot.c tests the sharing.
 *
 * Expected values are derived from the algorithms' specifications (nginx's
 * smooth WRR, the p2c choice probabilities, the Maglev paper's properties),
 * never read back from the implementation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/lb-int.h"
#include "test/unit/ck.h"

/* The lb and cursor of the running test; teardown checks and frees them. */
static struct lb *lb;
static struct lb_cursor cur;
static bool cur_live;

static const char *const algo_name[LB_NALGO] = {
    [LB_ROUND_ROBIN] = "round_robin", [LB_WEIGHTED_ROUND_ROBIN] = "weighted_round_robin",
    [LB_LEAST_CONN] = "least_conn",   [LB_P2C] = "p2c",
    [LB_MAGLEV] = "maglev",
};

static void setup(void)
{
	lb = NULL;
	cur_live = false;
}

/* Every connection a test started was ended: no active count is left; and
 * every lb was freed: no registry entry is left. */
static void teardown(void)
{
	unsigned i;

	if (lb)
		for (i = 0; i < lb->n; i++)
			ck_assert_uint_eq(atomic_load(&lb_backend(lb, i)->active), 0);
	if (cur_live)
		lb_cursor_deinit(&cur);
	lb_free(lb);
	lb = NULL;
	ck_assert_uint_eq(backend_count(), 0);
}

/* <n> fresh registry entries, the caller's references, under a pool name
 * no other call uses. Give them back with put_entries(). */
static struct backend **new_entries(unsigned n)
{
	static unsigned pools;
	struct backend **be = calloc(n ? n : 1, sizeof(*be));
	char pool[32], addr[32];
	unsigned i;

	ck_assert_ptr_nonnull(be);
	snprintf(pool, sizeof(pool), "pool%u", pools++);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u:80", i >> 16, (i >> 8) & 255, i & 255);
		be[i] = backend_get(pool, addr);
		ck_assert_ptr_nonnull(be[i]);
	}
	return be;
}

static void put_entries(struct backend **be, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		backend_put(be[i]);
	free(be);
}

/* lb_new() on <n> fresh entries: the lb then holds their only references. */
static struct lb *new_lb(enum lb_algo algo, const uint32_t *weights, unsigned n)
{
	struct backend **be = new_entries(n);
	struct lb *l = lb_new(algo, be, weights, n);

	put_entries(be, n);
	return l;
}

/* Builds the test's lb and a cursor for it with <seed>. */
static void make(enum lb_algo algo, const uint32_t *weights, unsigned n, uint64_t seed)
{
	if (cur_live)
		lb_cursor_deinit(&cur);
	lb_free(lb);
	lb = new_lb(algo, weights, n);
	ck_assert_ptr_nonnull(lb);
	ck_assert_int_eq(lb_cursor_init(&cur, lb, seed), 0);
	cur_live = true;
}

static int pick(uint64_t key)
{
	return lb_pick(lb, &cur, key, NULL, 0);
}

static void set_down(unsigned i, bool down)
{
	backend_set_health(lb_backend(lb, i), !down, "test");
}

/* Starts <k> connections on backend <i>. */
static void load(unsigned i, unsigned k)
{
	while (k--)
		lb_conn_start(lb, (int)i);
}

/* Ends every connection the test started. */
static void unload_all(void)
{
	unsigned i;

	for (i = 0; i < lb->n; i++)
		while (atomic_load(&lb_backend(lb, i)->active))
			lb_conn_end(lb, (int)i);
}

/* A key for maglev tests: the hash of a counter, as a client address would be. */
static uint64_t key_of(uint64_t i)
{
	return lb_hash(&i, sizeof(i));
}

/* ---- every algorithm (loop tests over enum lb_algo) ---------------------- */

START_TEST(no_backend_is_picked_when_all_are_down)
{
	unsigned i, k;

	make((enum lb_algo)_i, NULL, 5, 1);
	for (i = 0; i < 5; i++)
		set_down(i, true);
	for (k = 0; k < 100; k++)
		ck_assert_msg(pick(key_of(k)) == -1, "%s picked a down backend", algo_name[_i]);
}
END_TEST

START_TEST(no_backend_is_picked_when_every_weight_is_zero)
{
	static const uint32_t w[4] = {0, 0, 0, 0};
	unsigned k;

	make((enum lb_algo)_i, w, 4, 1);
	for (k = 0; k < 100; k++)
		ck_assert_msg(pick(key_of(k)) == -1, "%s picked weight 0", algo_name[_i]);
}
END_TEST

START_TEST(no_backend_is_picked_when_every_one_was_tried)
{
	const int tried[3] = {2, 0, 1};
	unsigned k;

	make((enum lb_algo)_i, NULL, 3, 1);
	for (k = 0; k < 100; k++)
		ck_assert_int_eq(lb_pick(lb, &cur, key_of(k), tried, 3), -1);
}
END_TEST

START_TEST(an_empty_pool_picks_nothing)
{
	make((enum lb_algo)_i, NULL, 0, 1);
	ck_assert_int_eq(pick(1), -1);
	ck_assert_int_eq(lb_pick(NULL, &cur, 1, NULL, 0), -1);
}
END_TEST

START_TEST(one_backend_is_always_picked_until_it_goes_down)
{
	unsigned k;

	make((enum lb_algo)_i, NULL, 1, 7);
	for (k = 0; k < 100; k++) {
		int b = pick(key_of(k));

		ck_assert_int_eq(b, 0);
		lb_conn_start(lb, b);
	}
	set_down(0, true);
	ck_assert_int_eq(pick(1), -1);
	set_down(0, false);
	ck_assert_int_eq(pick(1), 0);
	unload_all();
}
END_TEST

/* Weights 1,0,3,0,2 with connections coming and going: 1 and 3 never win. */
START_TEST(weight_zero_is_never_picked)
{
	static const uint32_t w[5] = {1, 0, 3, 0, 2};
	unsigned seen[5] = {0}, k;
	int open[64];

	make((enum lb_algo)_i, w, 5, 3);
	memset(open, -1, sizeof(open));
	for (k = 0; k < 20000; k++) {
		int b = pick(key_of(k));

		ck_assert_int_ge(b, 0);
		seen[b]++;
		/* keep a sliding window of 64 open connections */
		if (open[k % 64] >= 0)
			lb_conn_end(lb, open[k % 64]);
		lb_conn_start(lb, b);
		open[k % 64] = b;
	}
	ck_assert_msg(seen[1] == 0 && seen[3] == 0, "%s picked weight 0: %u, %u", algo_name[_i],
	              seen[1], seen[3]);
	ck_assert_msg(seen[0] && seen[2] && seen[4], "%s ignored a weighted backend",
	              algo_name[_i]);
	unload_all();
}
END_TEST

START_TEST(a_down_backend_is_skipped_and_comes_back_when_up)
{
	unsigned seen[4] = {0}, k;

	make((enum lb_algo)_i, NULL, 4, 5);
	set_down(2, true);
	for (k = 0; k < 4000; k++) {
		int b = pick(key_of(k));

		ck_assert_int_ge(b, 0);
		ck_assert_int_ne(b, 2);
	}
	set_down(2, false);
	for (k = 0; k < 4000; k++)
		seen[pick(key_of(k))]++;
	ck_assert_msg(seen[2] > 0, "%s never picked backend 2 again", algo_name[_i]);
}
END_TEST

/* The operator's states through backend_set_admin() (what POST
 * /backends/POOL/ADDR/drain|disable|enable calls): a draining or disabled
 * backend takes no new connection with any algorithm, its connections in
 * progress keep counting until they end, and enable gives it back. */
START_TEST(draining_and_disabled_backends_take_no_new_connections_but_keep_theirs)
{
	struct backend *be;
	unsigned k, seen = 0;

	make((enum lb_algo)_i, NULL, 3, 7);
	be = lb_backend(lb, 1);
	load(1, 2); /* two connections in progress */
	ck_assert_int_eq(backend_set_admin(be->pool, be->addr, BACKEND_ADMIN_DRAIN), 0);
	ck_assert_int_eq(backend_state(be), BACKEND_DRAINING);
	for (k = 0; k < 3000; k++)
		FAIL_IF(pick(key_of(k)) == 1, "%s picked a draining backend", algo_name[_i]);
	ck_assert_uint_eq(atomic_load(&be->active), 2);
	lb_conn_end(lb, 1); /* one finishes */
	ck_assert_uint_eq(atomic_load(&be->active), 1);
	ck_assert_int_eq(backend_set_admin(be->pool, be->addr, BACKEND_ADMIN_DISABLE), 0);
	for (k = 0; k < 3000; k++)
		FAIL_IF(pick(key_of(k)) == 1, "%s picked a disabled backend", algo_name[_i]);
	unload_all(); /* least_conn and p2c would weigh it */
	ck_assert_int_eq(backend_set_admin(be->pool, be->addr, BACKEND_ADMIN_ENABLE), 0);
	for (k = 0; k < 3000; k++)
		seen += pick(key_of(k)) == 1;
	ck_assert_msg(seen > 0, "%s never picked the enabled backend", algo_name[_i]);
	ck_assert_uint_eq(atomic_load(&be->transitions), 3);
}
END_TEST

/* A connection retried as the proxy does: each failed backend joins the
 * tried list, up to LB_MAX_TRIES distinct ones, then nothing is left. */
START_TEST(retries_get_distinct_backends_until_none_is_left)
{
	unsigned k, t, j;

	make((enum lb_algo)_i, NULL, LB_MAX_TRIES, 9);
	for (k = 0; k < 500; k++) {
		int tried[LB_MAX_TRIES];

		for (t = 0; t < LB_MAX_TRIES; t++) {
			int b = lb_pick(lb, &cur, key_of(k), tried, t);

			ck_assert_int_ge(b, 0);
			for (j = 0; j < t; j++)
				ck_assert_int_ne(b, tried[j]);
			tried[t] = b;
		}
		ck_assert_int_eq(lb_pick(lb, &cur, key_of(k), tried, LB_MAX_TRIES), -1);
	}
}
END_TEST

/* Tried, down and weight-0 backends combined: the only eligible one wins. */
START_TEST(the_only_eligible_backend_is_found_among_ineligible_ones)
{
	static const uint32_t w[6] = {1, 0, 1, 1, 1, 1};
	const int tried[2] = {4, 0};
	unsigned k;

	make((enum lb_algo)_i, w, 6, 11);
	set_down(2, true);
	set_down(5, true);
	for (k = 0; k < 200; k++)
		ck_assert_int_eq(lb_pick(lb, &cur, key_of(k), tried, 2), 3);
}
END_TEST

/* ---- construction --------------------------------------------------------- */

START_TEST(lb_new_refuses_an_unknown_algorithm_too_many_backends_or_no_entries)
{
	struct backend **be = new_entries(LB__MAX_BACKENDS + 1);

	ck_assert_ptr_null(lb_new(LB_NALGO, be, NULL, 2));
	ck_assert_ptr_null(lb_new((enum lb_algo) - 1, be, NULL, 2));
	ck_assert_ptr_null(lb_new(LB_ROUND_ROBIN, be, NULL, LB__MAX_BACKENDS + 1));
	ck_assert_ptr_null(lb_new(LB_ROUND_ROBIN, NULL, NULL, 2));
	/* a refusal takes no reference: the entries go with ours */
	put_entries(be, LB__MAX_BACKENDS + 1);
	ck_assert_uint_eq(backend_count(), 0);
}
END_TEST

START_TEST(lb_new_clamps_weights_and_sums_them)
{
	const uint32_t w[3] = {LB__WEIGHT_MAX + 1, 0, 7};

	make(LB_WEIGHTED_ROUND_ROBIN, w, 3, 1);
	ck_assert_uint_eq(lb->slot[0].weight, LB__WEIGHT_MAX);
	ck_assert_uint_eq(lb->slot[1].weight, 0);
	ck_assert_uint_eq(lb->slot[2].weight, 7);
	ck_assert_uint_eq(lb->total_weight, LB__WEIGHT_MAX + 7);
}
END_TEST

/* The largest pool at the largest weight still runs smooth WRR: n x weight
 * fits its int32 state (UBSan would catch an overflow), and equal weights
 * take turns, each backend once. 256 picks keep it quick. */
START_TEST(largest_pool_at_largest_weight_is_shared_exactly)
{
	unsigned n = LB__MAX_BACKENDS, i, k;
	uint32_t *w = malloc(n * sizeof(*w));
	unsigned char *seen = calloc(n, 1);

	for (i = 0; i < n; i++)
		w[i] = LB__WEIGHT_MAX;
	make(LB_WEIGHTED_ROUND_ROBIN, w, n, 1);
	for (k = 0; k < 256; k++) {
		int b = pick(0);

		ck_assert_int_ge(b, 0);
		ck_assert_uint_eq(seen[b], 0);
		seen[b] = 1;
	}
	free(seen);
	free(w);
}
END_TEST

/* ---- round robin ---------------------------------------------------------- */

START_TEST(round_robin_takes_backends_in_turn)
{
	unsigned k;
	int prev;

	make(LB_ROUND_ROBIN, NULL, 5, 1);
	prev = pick(0);
	for (k = 0; k < 50; k++) {
		int b = pick(0);

		ck_assert_int_eq(b, (prev + 1) % 5);
		prev = b;
	}
}
END_TEST

START_TEST(round_robin_shares_evenly_among_the_backends_that_are_up)
{
	unsigned seen[5] = {0}, k;

	make(LB_ROUND_ROBIN, NULL, 5, 2);
	set_down(1, true);
	for (k = 0; k < 400; k++)
		seen[pick(0)]++;
	ck_assert_uint_eq(seen[1], 0);
	ck_assert_uint_eq(seen[0], 100);
	ck_assert_uint_eq(seen[2], 100);
	ck_assert_uint_eq(seen[3], 100);
	ck_assert_uint_eq(seen[4], 100);
}
END_TEST

START_TEST(round_robin_weights_only_decide_eligibility)
{
	static const uint32_t w[3] = {9, 1, 3};
	unsigned seen[3] = {0}, k;

	make(LB_ROUND_ROBIN, w, 3, 2);
	for (k = 0; k < 300; k++)
		seen[pick(0)]++;
	ck_assert_uint_eq(seen[0], 100);
	ck_assert_uint_eq(seen[1], 100);
	ck_assert_uint_eq(seen[2], 100);
}
END_TEST

/* Workers seed their cursors differently so they do not all start on the
 * same backend. */
START_TEST(cursors_with_different_seeds_start_at_different_backends)
{
	unsigned seen[8] = {0}, seed, distinct = 0, i;

	lb = new_lb(LB_ROUND_ROBIN, NULL, 8);
	ck_assert_ptr_nonnull(lb);
	for (seed = 0; seed < 32; seed++) {
		struct lb_cursor c;

		ck_assert_int_eq(lb_cursor_init(&c, lb, seed), 0);
		seen[lb_pick(lb, &c, 0, NULL, 0)]++;
		lb_cursor_deinit(&c);
	}
	for (i = 0; i < 8; i++)
		distinct += seen[i] > 0;
	ck_assert_uint_ge(distinct, 4);
}
END_TEST

/* ---- smooth weighted round robin ----------------------------------------- */

/* nginx's example (commit 52327e0627f4, ngx_http_upstream_round_robin.c):
 * weights {5, 1, 1} give a a b a c a a, and then again. */
START_TEST(smooth_wrr_interleaves_5_1_1_as_a_a_b_a_c_a_a)
{
	static const uint32_t w[3] = {5, 1, 1};
	static const char want[] = "aabacaa";
	unsigned round, k;

	make(LB_WEIGHTED_ROUND_ROBIN, w, 3, 1);
	for (round = 0; round < 3; round++)
		for (k = 0; k < 7; k++) {
			int b = pick(0);

			ck_assert_msg(b == want[k] - 'a', "round %u pick %u: got %c, want %c",
			              round, k, 'a' + b, want[k]);
		}
}
END_TEST

/* Smoothness, for random weights: after k picks backend i has been picked
 * k*w_i/W times give or take one (W the total), and exactly w_i times in
 * each W picks. */
START_TEST(smooth_wrr_never_strays_more_than_one_pick_from_the_ideal_share)
{
	unsigned t;

	srandom(12345);
	for (t = 0; t < 300; t++) {
		unsigned n = 1 + (unsigned)random() % 8, i, k;
		uint32_t w[8];
		uint64_t cnt[8] = {0}, total = 0;

		for (i = 0; i < n; i++) {
			w[i] = (uint32_t)random() % 20;
			total += w[i];
		}
		if (!total)
			continue;
		make(LB_WEIGHTED_ROUND_ROBIN, w, n, t);
		for (k = 1; k <= 3 * total; k++) {
			int b = pick(0);

			ck_assert_int_ge(b, 0);
			cnt[b]++;
			for (i = 0; i < n; i++) {
				int64_t dev = (int64_t)(cnt[i] * total) - (int64_t)(k * w[i]);

				FAIL_IF(llabs(dev) > (int64_t)total,
				        "weights set %u backend %u after %u picks: %lu", t, i, k,
				        (unsigned long)cnt[i]);
			}
			if (k % total == 0)
				for (i = 0; i < n; i++)
					ck_assert_uint_eq(cnt[i], k / total * w[i]);
		}
	}
}
END_TEST

/* With c down, 5,1,1 becomes a 5:1 share between a and b. */
START_TEST(smooth_wrr_shares_among_the_backends_that_are_up)
{
	static const uint32_t w[3] = {5, 1, 1};
	unsigned seen[3] = {0}, k;

	make(LB_WEIGHTED_ROUND_ROBIN, w, 3, 1);
	for (k = 0; k < 3; k++)
		pick(0); /* leave the state mid-cycle */
	set_down(2, true);
	for (k = 0; k < 600; k++)
		seen[pick(0)]++;
	ck_assert_uint_eq(seen[2], 0);
	ck_assert_int_le(abs((int)seen[0] - 500), 2);
	ck_assert_int_le(abs((int)seen[1] - 100), 2);
}
END_TEST

/* A tried backend sits out that pick only. */
START_TEST(smooth_wrr_skips_a_tried_backend_for_that_pick_only)
{
	static const uint32_t w[2] = {3, 1};
	const int tried[1] = {0};
	unsigned seen[2] = {0}, k;

	make(LB_WEIGHTED_ROUND_ROBIN, w, 2, 1);
	ck_assert_int_eq(lb_pick(lb, &cur, 0, tried, 1), 1);
	for (k = 0; k < 400; k++)
		seen[pick(0)]++;
	ck_assert_int_le(abs((int)seen[0] - 300), 2);
	ck_assert_int_le(abs((int)seen[1] - 100), 2);
}
END_TEST

/* ---- least connections ---------------------------------------------------- */

START_TEST(least_conn_picks_the_least_loaded)
{
	static const unsigned act[5] = {3, 4, 1, 2, 5};
	unsigned i, k;

	make(LB_LEAST_CONN, NULL, 5, 1);
	for (i = 0; i < 5; i++)
		load(i, act[i]);
	for (k = 0; k < 20; k++)
		ck_assert_int_eq(pick(0), 2);
	/* the next least loaded once 2 is busier */
	load(2, 2);
	ck_assert_int_eq(pick(0), 3);
	unload_all();
}
END_TEST

/* Ties are broken in turn, so idle backends share the connections instead
 * of the first one taking all of them. */
START_TEST(least_conn_ties_take_turns)
{
	unsigned k, i;

	make(LB_LEAST_CONN, NULL, 4, 3);
	load(1, 2);
	for (k = 0; k < 10; k++) {
		unsigned seen[4] = {0};

		for (i = 0; i < 3; i++)
			seen[pick(0)]++;
		ck_assert_uint_eq(seen[0], 1);
		ck_assert_uint_eq(seen[1], 0);
		ck_assert_uint_eq(seen[2], 1);
		ck_assert_uint_eq(seen[3], 1);
	}
	unload_all();
}
END_TEST

/* Load is active/weight: 2 active on weight 3 is lighter than 1 on weight 1. */
START_TEST(least_conn_weighs_the_active_count_by_the_weight)
{
	static const uint32_t w[2] = {1, 3};

	make(LB_LEAST_CONN, w, 2, 1);
	load(0, 1);
	load(1, 2);
	ck_assert_int_eq(pick(0), 1); /* 1/1 > 2/3 */
	load(1, 2);
	ck_assert_int_eq(pick(0), 0); /* 1/1 < 4/3 */
	unload_all();
}
END_TEST

/* Connections that never end pile up evenly, in proportion to the weights. */
START_TEST(least_conn_keeps_long_connections_in_proportion_to_weights)
{
	static const uint32_t w[3] = {1, 2, 3};
	unsigned k;

	make(LB_LEAST_CONN, w, 3, 1);
	for (k = 0; k < 600; k++)
		lb_conn_start(lb, pick(0));
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 0)->active), 100);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 1)->active), 200);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 2)->active), 300);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 2)->picks), 300);
	unload_all();
}
END_TEST

START_TEST(least_conn_skips_the_least_loaded_when_it_was_tried)
{
	const int tried[1] = {1};

	make(LB_LEAST_CONN, NULL, 3, 1);
	load(0, 5);
	load(2, 3);
	ck_assert_int_eq(pick(0), 1);
	ck_assert_int_eq(lb_pick(lb, &cur, 0, tried, 1), 2);
	set_down(2, true);
	ck_assert_int_eq(lb_pick(lb, &cur, 0, tried, 1), 0);
	unload_all();
}
END_TEST

/* ---- power of two choices ------------------------------------------------- */

/* Backend i has 10*i connections. p2c draws two distinct backends and keeps
 * the lighter, so backend i wins with probability 2(n-1-i)/(n(n-1)): the
 * heaviest never, the lightest 2/n. */
START_TEST(p2c_prefers_the_less_loaded_of_two_random_backends)
{
	enum { N = 10, PICKS = 200000 };
	unsigned seen[N] = {0}, i, k;

	make(LB_P2C, NULL, N, 42);
	for (i = 0; i < N; i++)
		load(i, 10 * i);
	for (k = 0; k < PICKS; k++)
		seen[pick(0)]++;
	ck_assert_uint_eq(seen[N - 1], 0);
	for (i = 0; i < N; i++) {
		double want = 2.0 * (N - 1 - i) / (N * (N - 1)), got = (double)seen[i] / PICKS;

		ck_assert_msg(got > want - 0.01 && got < want + 0.01, "backend %u: %.4f, want %.4f",
		              i, got, want);
	}
	unload_all();
}
END_TEST

START_TEST(p2c_with_two_backends_always_takes_the_lighter)
{
	unsigned k;

	make(LB_P2C, NULL, 2, 5);
	load(0, 5);
	load(1, 4);
	for (k = 0; k < 100; k++)
		ck_assert_int_eq(pick(0), 1);
	unload_all();
}
END_TEST

/* Idle backends win equally often, also on the slow path (one is down). */
START_TEST(p2c_spreads_idle_load_evenly_with_or_without_a_down_backend)
{
	enum { N = 5, PICKS = 100000 };
	unsigned seen[N] = {0}, i, k;

	make(LB_P2C, NULL, N, 77);
	for (k = 0; k < PICKS; k++)
		seen[pick(0)]++;
	for (i = 0; i < N; i++)
		ck_assert_int_le(abs((int)seen[i] - PICKS / N), PICKS / N / 20);
	memset(seen, 0, sizeof(seen));
	set_down(2, true);
	for (k = 0; k < PICKS; k++)
		seen[pick(0)]++;
	ck_assert_uint_eq(seen[2], 0);
	for (i = 0; i < N; i++)
		if (i != 2)
			ck_assert_int_le(abs((int)seen[i] - PICKS / (N - 1)), PICKS / (N - 1) / 20);
}
END_TEST

/* Connections that never end: p2c keeps the gap between the busiest and the
 * idlest tiny (a random choice would drift by hundreds here). */
START_TEST(p2c_keeps_long_connections_balanced)
{
	unsigned k, i, lo = ~0u, hi = 0;

	make(LB_P2C, NULL, 8, 3);
	for (k = 0; k < 100000; k++)
		lb_conn_start(lb, pick(0));
	for (i = 0; i < 8; i++) {
		unsigned a = atomic_load(&lb_backend(lb, i)->active);

		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	ck_assert_uint_le(hi - lo, 3);
	unload_all();
}
END_TEST

START_TEST(p2c_is_reproducible_from_its_seed)
{
	struct lb_cursor a, b, c;
	unsigned k, differ = 0;

	lb = new_lb(LB_P2C, NULL, 16);
	ck_assert_ptr_nonnull(lb);
	ck_assert_int_eq(lb_cursor_init(&a, lb, 99), 0);
	ck_assert_int_eq(lb_cursor_init(&b, lb, 99), 0);
	ck_assert_int_eq(lb_cursor_init(&c, lb, 100), 0);
	for (k = 0; k < 1000; k++) {
		int x = lb_pick(lb, &a, 0, NULL, 0);

		ck_assert_int_eq(lb_pick(lb, &b, 0, NULL, 0), x);
		differ += lb_pick(lb, &c, 0, NULL, 0) != x;
	}
	ck_assert_uint_gt(differ, 500);
	lb_cursor_deinit(&a);
	lb_cursor_deinit(&b);
	lb_cursor_deinit(&c);
}
END_TEST

/* ---- maglev --------------------------------------------------------------- */

static void maglev_count(const uint32_t *table, unsigned *count, unsigned n)
{
	unsigned s;

	memset(count, 0, n * sizeof(*count));
	for (s = 0; s < LB_MAGLEV_SIZE; s++) {
		FAIL_IF(table[s] >= n, "slot %u holds %u", s, table[s]);
		count[table[s]]++;
	}
}

/* Backends claim slots in turns, so with equal weights each owns M/N slots
 * give or take one (paper section 3.4): far within 1% of 1/N. Lookups of
 * hashed keys follow the table. */
START_TEST(maglev_spreads_the_table_evenly_for_3_to_10_backends)
{
	enum { KEYS = 200000 };
	unsigned count[10], picks[10], n, i, k;

	for (n = 3; n <= 10; n++) {
		make(LB_MAGLEV, NULL, n, 1);
		maglev_count(lb->maglev, count, n);
		memset(picks, 0, sizeof(picks));
		for (k = 0; k < KEYS; k++)
			picks[pick(key_of(k))]++;
		for (i = 0; i < n; i++) {
			double share = (double)picks[i] / KEYS;

			ck_assert_msg(count[i] == LB_MAGLEV_SIZE / n ||
			                  count[i] == LB_MAGLEV_SIZE / n + 1,
			              "n=%u backend %u owns %u slots", n, i, count[i]);
			ck_assert_msg(share > 0.95 / n && share < 1.05 / n,
			              "n=%u backend %u takes %.4f of the keys", n, i, share);
		}
	}
}
END_TEST

/* Weights 1,2,3 own 1/6, 2/6 and 3/6 of the table; multiplying them all
 * (their gcd) builds the very same table; weight 0 owns nothing. */
START_TEST(maglev_weights_scale_the_share_of_the_table)
{
	static const uint32_t w[4] = {1, 2, 0, 3}, w2[4] = {4, 8, 0, 12};
	uint32_t *t2 = malloc(LB_MAGLEV_SIZE * sizeof(*t2));
	unsigned count[4], i;
	uint64_t ids[4];

	make(LB_MAGLEV, w, 4, 1);
	maglev_count(lb->maglev, count, 4);
	ck_assert_uint_eq(count[2], 0);
	for (i = 0; i < 4; i++) {
		double want = w[i] / 6.0, got = (double)count[i] / LB_MAGLEV_SIZE;

		ck_assert_msg(got > want - 0.001 && got < want + 0.001, "backend %u: %.4f", i, got);
	}
	for (i = 0; i < 4; i++) /* lb_new() identifies backends by address */
		ids[i] = lb_hash(lb_backend(lb, i)->addr, strlen(lb_backend(lb, i)->addr));
	ck_assert_int_eq(lb_maglev_build(t2, ids, w2, 4), 0);
	ck_assert_mem_eq(t2, lb->maglev, LB_MAGLEV_SIZE * sizeof(*t2));
	free(t2);
}
END_TEST

/* Big weights leave less than one round of turns for the table: each
 * backend still owns its share (it used to be taken in index order, so
 * 65535,65534,1 gave the first backend the whole table). */
START_TEST(maglev_big_weights_keep_their_share_of_the_table)
{
	static const uint32_t fixed[2][3] = {{65535, 65534, 1}, {10000, 9999, 5000}};
	unsigned count[8], t, i, n;
	uint32_t w[8];

	srandom(777);
	for (t = 0; t < 22; t++) {
		uint64_t total = 0;

		n = t < 2 ? 3 : 2 + (unsigned)random() % 7;
		for (i = 0; i < n; i++) {
			w[i] = t < 2 ? fixed[t][i] : 1 + (uint32_t)random() % LB__WEIGHT_MAX;
			total += w[i];
		}
		make(LB_MAGLEV, w, n, 1);
		maglev_count(lb->maglev, count, n);
		for (i = 0; i < n; i++) {
			double want = (double)w[i] / total, got = (double)count[i] / LB_MAGLEV_SIZE;

			ck_assert_msg(got > want - 0.001 && got < want + 0.001,
			              "set %u backend %u weight %u: %.4f, want %.4f", t, i, w[i],
			              got, want);
		}
	}
}
END_TEST

START_TEST(maglev_maps_the_same_key_to_the_same_backend)
{
	struct lb *other = new_lb(LB_MAGLEV, NULL, 7);
	struct lb_cursor oc;
	const char addr[] = "192.0.2.17";
	unsigned k, seen[7] = {0};

	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(lb_cursor_init(&oc, other, 12345), 0);
	make(LB_MAGLEV, NULL, 7, 1);
	/* different workers, different instances: one answer per key */
	for (k = 0; k < 20000; k++) {
		int b = pick(key_of(k));

		FAIL_IF(b < 0 || pick(key_of(k)) != b, "key %u: %d, then another", k, b);
		FAIL_IF(lb_pick(other, &oc, key_of(k), NULL, 0) != b, "key %u: instances differ",
		        k);
		seen[b]++;
	}
	for (k = 0; k < 7; k++)
		ck_assert_uint_gt(seen[k], 0);
	ck_assert_uint_eq(lb_hash(addr, sizeof(addr) - 1), lb_hash("192.0.2.17", 10));
	ck_assert_uint_ne(lb_hash(addr, sizeof(addr) - 1), lb_hash("192.0.2.18", 10));
	lb_cursor_deinit(&oc);
	lb_free(other);
}
END_TEST

/* The Maglev paper (Eisenbud et al., NSDI 2016, sections 3.4 and 5.3) asks
 * for minimal disruption: when a backend leaves, its slots must move and
 * the others should mostly stay. Removing one of N (N = 3..10, 16, 32) moves
 * every slot of the removed backend and at most 2% of the table besides
 * (the paper's balance/disruption trade-off; a modulo-N hash would move
 * (N-1)/N of it). Putting it back restores the table exactly. */
START_TEST(maglev_removing_one_backend_moves_its_keys_and_few_others)
{
	static const unsigned sizes[] = {3, 4, 5, 6, 7, 8, 9, 10, 16, 32};
	uint32_t *t1 = malloc(LB_MAGLEV_SIZE * sizeof(*t1));
	uint32_t *t2 = malloc(LB_MAGLEV_SIZE * sizeof(*t2));
	uint32_t *t3 = malloc(LB_MAGLEV_SIZE * sizeof(*t3));
	uint32_t w[32];
	uint64_t ids[32], ids2[32];
	unsigned z, n, r, i, s;

	for (i = 0; i < 32; i++) {
		w[i] = 1;
		ids[i] = 0x0a000001ULL + 13 * i; /* e.g. backend addresses */
	}
	for (z = 0; z < ARRAY_SIZE(sizes); z++) {
		n = sizes[z];
		ck_assert_int_eq(lb_maglev_build(t1, ids, w, n), 0);
		for (r = 0; r < n; r++) {
			unsigned moved = 0, k = 0;

			for (i = 0; i < n; i++)
				if (i != r)
					ids2[k++] = ids[i];
			ck_assert_int_eq(lb_maglev_build(t2, ids2, w, n - 1), 0);
			for (s = 0; s < LB_MAGLEV_SIZE; s++) {
				FAIL_IF(t2[s] >= n - 1, "slot %u holds %u", s, t2[s]);
				if (t1[s] == r)
					continue;
				moved += ids2[t2[s]] != ids[t1[s]];
			}
			ck_assert_msg(moved <= LB_MAGLEV_SIZE / 50,
			              "n=%u removing %u moved %u other slots", n, r, moved);
		}
		ck_assert_int_eq(lb_maglev_build(t3, ids, w, n), 0);
		ck_assert_mem_eq(t1, t3, LB_MAGLEV_SIZE * sizeof(*t1));
	}
	free(t1);
	free(t2);
	free(t3);
}
END_TEST

/* lb_new() identifies backends by address: appending one to a pool of N
 * takes about 1/(N+1) of the keys and moves few others. */
START_TEST(maglev_appending_a_backend_moves_few_keys)
{
	uint32_t *t1 = malloc(LB_MAGLEV_SIZE * sizeof(*t1));
	unsigned n, s, taken, moved;

	for (n = 3; n <= 10; n++) {
		make(LB_MAGLEV, NULL, n, 1);
		memcpy(t1, lb->maglev, LB_MAGLEV_SIZE * sizeof(*t1));
		make(LB_MAGLEV, NULL, n + 1, 1);
		taken = moved = 0;
		for (s = 0; s < LB_MAGLEV_SIZE; s++) {
			if (lb->maglev[s] == n)
				taken++;
			else
				moved += lb->maglev[s] != t1[s];
		}
		ck_assert_uint_le(abs((int)taken - LB_MAGLEV_SIZE / (int)(n + 1)), 1);
		ck_assert_msg(moved <= LB_MAGLEV_SIZE / 50, "n=%u: %u slots moved", n, moved);
	}
	free(t1);
}
END_TEST

/* A pool whose middle backend goes away (a DNS answer, sorted by address,
 * losing one): the slots of the others stay theirs, but for a few, since
 * lb_new() identifies them by address, not by position. */
START_TEST(maglev_removing_a_middle_backend_of_a_pool_moves_few_other_keys)
{
	static const char *const addr[5] = {"10.1.0.1:80", "10.1.0.2:80", "10.1.0.3:80",
	                                    "10.1.0.4:80", "10.1.0.5:80"};
	struct backend *be[5], *four[4];
	struct lb *a, *b;
	unsigned i, s, moved = 0, k = 0;

	for (i = 0; i < 5; i++)
		be[i] = backend_get("dns", addr[i]);
	a = lb_new(LB_MAGLEV, be, NULL, 5);
	four[0] = be[0], four[1] = be[1], four[2] = be[3], four[3] = be[4]; /* 10.1.0.3 gone */
	b = lb_new(LB_MAGLEV, four, NULL, 4);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	for (s = 0; s < LB_MAGLEV_SIZE; s++) {
		if (a->maglev[s] == 2) {
			k++;
			continue;
		}
		moved += lb_backend(a, a->maglev[s]) != lb_backend(b, b->maglev[s]);
	}
	ck_assert_uint_le(abs((int)k - LB_MAGLEV_SIZE / 5), 1);
	ck_assert_msg(moved <= LB_MAGLEV_SIZE / 50, "%u other slots moved", moved);
	lb_free(a);
	lb_free(b);
	for (i = 0; i < 5; i++)
		backend_put(be[i]);
}
END_TEST

/* A down backend's keys fall forward to others, spread over every survivor
 * (none takes less than a third or more than twice its fair share), and
 * every other key stays exactly where it was. Back up, the mapping is back. */
START_TEST(maglev_down_backend_moves_only_its_own_keys)
{
	unsigned n, d, s, got[10], owned;

	for (n = 3; n <= 10; n++) {
		make(LB_MAGLEV, NULL, n, 1);
		for (d = 0; d < n; d += 2) {
			memset(got, 0, sizeof(got));
			owned = 0;
			set_down(d, true);
			for (s = 0; s < LB_MAGLEV_SIZE; s++) {
				int b = pick(s);

				FAIL_IF(b < 0, "n=%u down %u: slot %u unmapped", n, d, s);
				if (lb->maglev[s] != d) {
					FAIL_IF(b != (int)lb->maglev[s],
					        "n=%u down %u: slot %u moved to %d", n, d, s, b);
					continue;
				}
				FAIL_IF(b == (int)d, "n=%u: slot %u stays on down %u", n, s, d);
				owned++;
				got[b]++;
			}
			for (s = 0; s < n; s++) {
				double fair = (double)owned / (n - 1);

				if (s == d)
					continue;
				ck_assert_msg(got[s] > fair / 3 && got[s] < 2 * fair,
				              "n=%u down %u: backend %u took %u of %u", n, d, s,
				              got[s], owned);
			}
			set_down(d, false);
			for (s = 0; s < LB_MAGLEV_SIZE; s++)
				FAIL_IF(pick(s) != (int)lb->maglev[s], "n=%u: slot %u not back", n,
				        s);
		}
	}
}
END_TEST

/* The decision not to rebuild the table when states change (README,
 * "Backend states"): with 3 of 10 backends down, the walk-forward lookup
 * moves exactly the down backends' keys and spreads them over every
 * survivor (each within a third and twice its fair share), while a table
 * rebuilt for the live set (Maglev's answer) moves those and some keys of
 * backends that stayed up too. */
START_TEST(maglev_walk_forward_disrupts_less_than_a_rebuild_for_the_live_set)
{
	static const unsigned down[] = {0, 3, 7};
	uint32_t w[10], *t = malloc(LB_MAGLEV_SIZE * sizeof(*t));
	unsigned s, i, got[10] = {0}, moved = 0, rebuilt_moved_up = 0, rebuilt_moved = 0;

	ck_assert_ptr_nonnull(t);
	make(LB_MAGLEV, NULL, 10, 1);
	for (i = 0; i < 10; i++)
		w[i] = 1;
	for (i = 0; i < ARRAY_SIZE(down); i++) {
		set_down(down[i], true);
		w[down[i]] = 0;
	}
	ck_assert_int_eq(lb_maglev_build(t, NULL, w, 10), 0);
	for (s = 0; s < LB_MAGLEV_SIZE; s++) {
		int b = pick(s);
		bool was_down = !w[lb->maglev[s]];

		FAIL_IF(!was_down && b != (int)lb->maglev[s], "slot %u of an up backend moved", s);
		FAIL_IF(b < 0 || !w[b], "slot %u went to down backend %d", s, b);
		moved += was_down;
		if (was_down)
			got[b]++;
		rebuilt_moved += t[s] != lb->maglev[s];
		rebuilt_moved_up += !was_down && t[s] != lb->maglev[s];
	}
	for (i = 0; i < 10; i++) {
		double fair = (double)moved / 7;

		if (w[i])
			ck_assert_msg(got[i] > fair / 3 && got[i] < 2 * fair,
			              "backend %u took %u of %u moved keys", i, got[i], moved);
	}
	ck_assert_msg(rebuilt_moved_up > 0 && rebuilt_moved > moved,
	              "a rebuild moved %u keys (%u of up backends), the walk %u", rebuilt_moved,
	              rebuilt_moved_up, moved);
	for (i = 0; i < ARRAY_SIZE(down); i++)
		set_down(down[i], false);
	free(t);
}
END_TEST

/* A retry after the owner failed goes to the same fallback every time and
 * on every instance, so a client keeps landing on one backend. */
START_TEST(maglev_retry_after_the_owner_is_deterministic)
{
	struct lb *other = new_lb(LB_MAGLEV, NULL, 6);
	struct lb_cursor oc;
	unsigned k;

	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(lb_cursor_init(&oc, other, 1), 0);
	make(LB_MAGLEV, NULL, 6, 2);
	for (k = 0; k < 5000; k++) {
		int tried[2], b;

		tried[0] = pick(key_of(k));
		b = lb_pick(lb, &cur, key_of(k), tried, 1);
		ck_assert_int_ge(b, 0);
		ck_assert_int_ne(b, tried[0]);
		ck_assert_int_eq(lb_pick(lb, &cur, key_of(k), tried, 1), b);
		ck_assert_int_eq(lb_pick(other, &oc, key_of(k), tried, 1), b);
		tried[1] = b;
		b = lb_pick(lb, &cur, key_of(k), tried, 2);
		ck_assert_int_ge(b, 0);
		ck_assert_int_ne(b, tried[0]);
		ck_assert_int_ne(b, tried[1]);
	}
	lb_cursor_deinit(&oc);
	lb_free(other);
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	return ck_tcase(name, timeout, setup, teardown);
}

static Suite *lb_suite(void)
{
	Suite *s = suite_create("lb");
	TCase *ta = tcase("every_algorithm", 10), *tn = tcase("new", 10), *tr = tcase("rr", 10);
	TCase *tw = tcase("wrr", 10), *tl = tcase("lc", 10), *tp = tcase("p2c", 10);
	TCase *tm = tcase("maglev", 30);

	tcase_add_loop_test(ta, no_backend_is_picked_when_all_are_down, 0, LB_NALGO);
	tcase_add_loop_test(ta, no_backend_is_picked_when_every_weight_is_zero, 0, LB_NALGO);
	tcase_add_loop_test(ta, no_backend_is_picked_when_every_one_was_tried, 0, LB_NALGO);
	tcase_add_loop_test(ta, an_empty_pool_picks_nothing, 0, LB_NALGO);
	tcase_add_loop_test(ta, one_backend_is_always_picked_until_it_goes_down, 0, LB_NALGO);
	tcase_add_loop_test(ta, weight_zero_is_never_picked, 0, LB_NALGO);
	tcase_add_loop_test(ta, a_down_backend_is_skipped_and_comes_back_when_up, 0, LB_NALGO);
	tcase_add_loop_test(ta,
	                    draining_and_disabled_backends_take_no_new_connections_but_keep_theirs,
	                    0, LB_NALGO);
	tcase_add_loop_test(ta, retries_get_distinct_backends_until_none_is_left, 0, LB_NALGO);
	tcase_add_loop_test(ta, the_only_eligible_backend_is_found_among_ineligible_ones, 0,
	                    LB_NALGO);
	suite_add_tcase(s, ta);

	tcase_add_test(tn, lb_new_refuses_an_unknown_algorithm_too_many_backends_or_no_entries);
	tcase_add_test(tn, lb_new_clamps_weights_and_sums_them);
	tcase_add_test(tn, largest_pool_at_largest_weight_is_shared_exactly);
	suite_add_tcase(s, tn);

	tcase_add_test(tr, round_robin_takes_backends_in_turn);
	tcase_add_test(tr, round_robin_shares_evenly_among_the_backends_that_are_up);
	tcase_add_test(tr, round_robin_weights_only_decide_eligibility);
	tcase_add_test(tr, cursors_with_different_seeds_start_at_different_backends);
	suite_add_tcase(s, tr);

	tcase_add_test(tw, smooth_wrr_interleaves_5_1_1_as_a_a_b_a_c_a_a);
	tcase_add_test(tw, smooth_wrr_never_strays_more_than_one_pick_from_the_ideal_share);
	tcase_add_test(tw, smooth_wrr_shares_among_the_backends_that_are_up);
	tcase_add_test(tw, smooth_wrr_skips_a_tried_backend_for_that_pick_only);
	suite_add_tcase(s, tw);

	tcase_add_test(tl, least_conn_picks_the_least_loaded);
	tcase_add_test(tl, least_conn_ties_take_turns);
	tcase_add_test(tl, least_conn_weighs_the_active_count_by_the_weight);
	tcase_add_test(tl, least_conn_keeps_long_connections_in_proportion_to_weights);
	tcase_add_test(tl, least_conn_skips_the_least_loaded_when_it_was_tried);
	suite_add_tcase(s, tl);

	tcase_add_test(tp, p2c_prefers_the_less_loaded_of_two_random_backends);
	tcase_add_test(tp, p2c_with_two_backends_always_takes_the_lighter);
	tcase_add_test(tp, p2c_spreads_idle_load_evenly_with_or_without_a_down_backend);
	tcase_add_test(tp, p2c_keeps_long_connections_balanced);
	tcase_add_test(tp, p2c_is_reproducible_from_its_seed);
	suite_add_tcase(s, tp);

	tcase_add_test(tm, maglev_spreads_the_table_evenly_for_3_to_10_backends);
	tcase_add_test(tm, maglev_weights_scale_the_share_of_the_table);
	tcase_add_test(tm, maglev_big_weights_keep_their_share_of_the_table);
	tcase_add_test(tm, maglev_maps_the_same_key_to_the_same_backend);
	tcase_add_test(tm, maglev_removing_one_backend_moves_its_keys_and_few_others);
	tcase_add_test(tm, maglev_appending_a_backend_moves_few_keys);
	tcase_add_test(tm, maglev_removing_a_middle_backend_of_a_pool_moves_few_other_keys);
	tcase_add_test(tm, maglev_down_backend_moves_only_its_own_keys);
	tcase_add_test(tm, maglev_walk_forward_disrupts_less_than_a_rebuild_for_the_live_set);
	tcase_add_test(tm, maglev_retry_after_the_owner_is_deterministic);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	return ck_run(lb_suite());
}
