/* Unit tests for config snapshots as the core builds them (core/snapshot.c):
 * each pool's balancer refers to the backend registry's entries, so state
 * survives a reload and goes with the last snapshot that lists a backend.
 *
 * Snapshots come from YAML through config_load_string() and
 * config_validate(), as a reload builds them.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/lb-int.h"
#include "core/lb/snapshot.h"
#include "test/unit/ck.h"

static void setup(void)
{
	ck_assert_uint_eq(backend_count(), 0);
}

/* Every snapshot a test built was freed, and with them every entry. */
static void teardown(void)
{
	ck_assert_uint_eq(backend_count(), 0);
}

/* A built snapshot of pool <pool> using <algo> over <backends> (YAML flow
 * mappings, one per line after "      - "), with one tcp listener on it. */
static struct config *snap(const char *pool, const char *algo, const char *const *backends,
                           unsigned n)
{
	struct cfg_errors errs;
	struct config *c;
	char yaml[4096];
	int len;

	len = snprintf(yaml, sizeof(yaml),
	               "listeners:\n  - name: l4\n    bind: 127.0.0.1:8080\n    mode: tcp\n"
	               "    pool: %s\npools:\n  - name: %s\n    algorithm: %s\n    backends:\n",
	               pool, pool, algo);
	for (unsigned i = 0; i < n; i++)
		len += snprintf(yaml + len, sizeof(yaml) - len, "      - %s\n", backends[i]);
	ck_assert_int_lt(len, (int)sizeof(yaml));
	config_errors_init(&errs);
	c = config_load_string("t.yaml", yaml, &errs);
	ck_assert_msg(c && config_validate(c, &errs) == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	config_errors_deinit(&errs);
	ck_assert_int_eq(snapshot_build(c), 0);
	return c;
}

#define SNAP(pool, algo, ...)                                                                      \
	({                                                                                         \
		static const char *const be_[] = {__VA_ARGS__};                                    \
		snap(pool, algo, be_, ARRAY_SIZE(be_));                                            \
	})

#define X "{ address: 127.0.0.1:9001 }"
#define Y "{ address: 127.0.0.1:9002 }"
#define Z "{ address: 127.0.0.1:9003 }"

static struct lb *lb0(const struct config *c)
{
	struct lb *lb = snapshot_lb(c, 0);

	ck_assert_ptr_nonnull(lb);
	return lb;
}

/* ---- sharing -------------------------------------------------------------- */

START_TEST(the_same_pool_and_address_in_two_snapshots_is_the_same_entry)
{
	struct config *a = SNAP("app", "round_robin", X, Y);
	struct config *b = SNAP("app", "least_conn", Y, X, Z);

	ck_assert_ptr_eq(lb_backend(lb0(a), 0), lb_backend(lb0(b), 1));
	ck_assert_ptr_eq(lb_backend(lb0(a), 1), lb_backend(lb0(b), 0));
	ck_assert_str_eq(lb_backend(lb0(b), 2)->addr, "127.0.0.1:9003");
	ck_assert_uint_eq(backend_count(), 3);
	snapshot_put(a);
	snapshot_put(b);
}
END_TEST

/* A connection started through the old snapshot's balancer is counted in
 * the entry the new one sees, and its end there too. */
START_TEST(an_active_count_started_through_one_snapshot_is_seen_through_the_next)
{
	struct config *a = SNAP("app", "least_conn", X, Y);
	struct config *b = SNAP("app", "least_conn", X, Y);
	struct lb *la = lb0(a), *lb = lb0(b);

	lb_conn_start(la, 0);
	lb_connect_ok(la, 0);
	lb_connect_fail(la, 1);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 0)->active), 1);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 0)->picks), 1);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 0)->connect_ok), 1);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 1)->connect_fail), 1);
	lb_conn_end(la, 0);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb, 0)->active), 0);
	snapshot_put(a);
	snapshot_put(b);
}
END_TEST

/* The old snapshot goes first, as after a reload: the entries it shares
 * with the new one keep their counts, even with the backends reordered. */
START_TEST(counts_survive_the_old_snapshot_being_freed)
{
	struct config *a = SNAP("app", "least_conn", X, Y);
	struct config *b = SNAP("app", "least_conn", Y, X);

	lb_conn_start(lb0(a), 0);
	lb_conn_start(lb0(a), 0);
	lb_conn_start(lb0(a), 1);
	snapshot_put(a);
	ck_assert_uint_eq(backend_count(), 2);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb0(b), 1)->active), 2);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb0(b), 0)->active), 1);
	lb_conn_end(lb0(b), 1);
	lb_conn_end(lb0(b), 1);
	lb_conn_end(lb0(b), 0);
	snapshot_put(b);
}
END_TEST

START_TEST(a_backend_removed_by_a_reload_keeps_its_entry_until_the_old_snapshot_is_freed)
{
	struct config *a = SNAP("app", "round_robin", X, Y);
	struct config *b = SNAP("app", "round_robin", Y);
	struct backend *x = lb_backend(lb0(a), 0);

	lb_conn_start(lb0(a), 0);
	ck_assert_uint_eq(backend_count(), 2);
	ck_assert_uint_eq(atomic_load(&x->active), 1); /* still readable: a holds it */
	lb_conn_end(lb0(a), 0);
	snapshot_put(a);
	ck_assert_uint_eq(backend_count(), 1); /* x went with a; ASan sees no leak */
	ck_assert_str_eq(lb_backend(lb0(b), 0)->addr, "127.0.0.1:9002");
	snapshot_put(b);
}
END_TEST

START_TEST(a_renamed_pool_or_a_changed_address_is_a_new_entry)
{
	struct config *a = SNAP("app", "round_robin", X);
	struct config *renamed = SNAP("web", "round_robin", X);
	struct config *moved = SNAP("app", "round_robin", "{ address: 127.0.0.2:9001 }");

	lb_conn_start(lb0(a), 0);
	ck_assert_ptr_ne(lb_backend(lb0(a), 0), lb_backend(lb0(renamed), 0));
	ck_assert_ptr_ne(lb_backend(lb0(a), 0), lb_backend(lb0(moved), 0));
	ck_assert_uint_eq(atomic_load(&lb_backend(lb0(renamed), 0)->active), 0);
	ck_assert_uint_eq(atomic_load(&lb_backend(lb0(moved), 0)->active), 0);
	ck_assert_uint_eq(backend_count(), 3);
	lb_conn_end(lb0(a), 0);
	snapshot_put(a);
	snapshot_put(renamed);
	snapshot_put(moved);
}
END_TEST

/* Weight is config: each snapshot has its own, over one shared entry. */
START_TEST(a_weight_change_keeps_the_entry_and_takes_the_new_weight)
{
	struct config *a =
	    SNAP("app", "weighted_round_robin", "{ address: 127.0.0.1:9001, weight: 1 }");
	struct config *b =
	    SNAP("app", "weighted_round_robin", "{ address: 127.0.0.1:9001, weight: 5 }");

	ck_assert_ptr_eq(lb_backend(lb0(a), 0), lb_backend(lb0(b), 0));
	ck_assert_uint_eq(lb0(a)->slot[0].weight, 1);
	ck_assert_uint_eq(lb0(b)->slot[0].weight, 5);
	snapshot_put(b);
	snapshot_put(a);
}
END_TEST

/* ---- the algorithms over shared entries ----------------------------------- */

/* Long connections opened on the old snapshot steer the new one's
 * least_conn away from their backend. */
START_TEST(least_conn_in_the_new_snapshot_counts_the_old_snapshots_connections)
{
	struct config *a = SNAP("app", "least_conn", X, Y, Z);
	struct config *b = SNAP("app", "least_conn", Z, Y, X);
	struct lb_cursor cur;
	unsigned k;

	/* a: 2 on x, 1 on y, none on z */
	lb_conn_start(lb0(a), 0);
	lb_conn_start(lb0(a), 0);
	lb_conn_start(lb0(a), 1);
	ck_assert_int_eq(lb_cursor_init(&cur, lb0(b), 1), 0);
	ck_assert_int_eq(lb_pick(lb0(b), &cur, 0, NULL, 0), 0); /* z, index 0 in b */
	lb_conn_start(lb0(b), 0);
	lb_conn_start(lb0(b), 0);
	/* now x 2, y 1, z 2: y */
	ck_assert_int_eq(lb_pick(lb0(b), &cur, 0, NULL, 0), 1);
	snapshot_put(a);
	ck_assert_int_eq(lb_pick(lb0(b), &cur, 0, NULL, 0), 1);
	for (k = 0; k < 2; k++)
		lb_conn_end(lb0(b), 2); /* x's, started through a */
	lb_conn_end(lb0(b), 1);
	lb_conn_end(lb0(b), 0);
	lb_conn_end(lb0(b), 0);
	lb_cursor_deinit(&cur);
	snapshot_put(b);
}
END_TEST

/* A reload to the same backends builds the same maglev table, and a down
 * flag set through one snapshot moves the keys in both the same way. */
START_TEST(maglev_maps_every_key_alike_across_a_reload_and_shares_down)
{
	struct config *a = SNAP("app", "maglev", X, Y, Z);
	struct config *b = SNAP("app", "maglev", X, Y, Z);
	struct lb_cursor ca, cb;
	unsigned k, moved = 0;

	ck_assert_mem_eq(lb0(a)->maglev, lb0(b)->maglev, LB_MAGLEV_SIZE * sizeof(uint32_t));
	ck_assert_int_eq(lb_cursor_init(&ca, lb0(a), 1), 0);
	ck_assert_int_eq(lb_cursor_init(&cb, lb0(b), 2), 0);
	backend_set_health(lb_backend(lb0(a), 1), false, "test");
	for (k = 0; k < 3000; k++) {
		uint64_t key = lb_hash(&k, sizeof(k));
		int pa = lb_pick(lb0(a), &ca, key, NULL, 0);

		FAIL_IF(pa == 1, "key %u went to the down backend", k);
		FAIL_IF(lb_pick(lb0(b), &cb, key, NULL, 0) != pa, "key %u: snapshots differ", k);
		moved += lb0(b)->maglev[key % LB_MAGLEV_SIZE] == 1;
	}
	ck_assert_uint_gt(moved, 0);
	lb_cursor_deinit(&ca);
	lb_cursor_deinit(&cb);
	snapshot_put(a);
	snapshot_put(b);
}
END_TEST

START_TEST(every_configured_algorithm_gets_its_balancer)
{
	for (unsigned i = 0; i < CFG_NALGO; i++) {
		struct config *c = snap("app", config_algo_name(i), (const char *const[]){X}, 1);

		ck_assert_str_eq(lb0(c)->ops->name, config_algo_name(i));
		snapshot_put(c);
	}
}
END_TEST

/* ---- lifetime ------------------------------------------------------------- */

START_TEST(snapshot_lb_is_null_before_the_build_and_past_the_last_pool)
{
	struct config *c = config_new();

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(snapshot_lb(c, 0));
	config_free(c);
	c = SNAP("app", "p2c", X, Y);
	ck_assert_ptr_nonnull(snapshot_lb(c, 0));
	ck_assert_ptr_null(snapshot_lb(c, 1));
	snapshot_put(c);
}
END_TEST

static void *put_on_a_thread(void *c)
{
	snapshot_put(c);
	return NULL;
}

/* As when a worker drops the last reference to an old generation. */
START_TEST(the_last_reference_dropped_on_another_thread_frees_the_entries)
{
	struct config *a = SNAP("app", "least_conn", X, Y);
	struct config *b = SNAP("app", "least_conn", Y);
	pthread_t t;

	snapshot_get(a);
	snapshot_put(a); /* the control thread's; the "worker" holds the last */
	ck_assert_int_eq(pthread_create(&t, NULL, put_on_a_thread, a), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(backend_count(), 1);
	ck_assert_int_eq(pthread_create(&t, NULL, put_on_a_thread, b), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	return ck_tcase(name, timeout, setup, teardown);
}

static Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *ts = tcase("sharing", 10), *ta = tcase("algorithms", 10),
	      *tl = tcase("lifetime", 10);

	tcase_add_test(ts, the_same_pool_and_address_in_two_snapshots_is_the_same_entry);
	tcase_add_test(ts, an_active_count_started_through_one_snapshot_is_seen_through_the_next);
	tcase_add_test(ts, counts_survive_the_old_snapshot_being_freed);
	tcase_add_test(
	    ts, a_backend_removed_by_a_reload_keeps_its_entry_until_the_old_snapshot_is_freed);
	tcase_add_test(ts, a_renamed_pool_or_a_changed_address_is_a_new_entry);
	tcase_add_test(ts, a_weight_change_keeps_the_entry_and_takes_the_new_weight);
	suite_add_tcase(s, ts);

	tcase_add_test(ta, least_conn_in_the_new_snapshot_counts_the_old_snapshots_connections);
	tcase_add_test(ta, maglev_maps_every_key_alike_across_a_reload_and_shares_down);
	tcase_add_test(ta, every_configured_algorithm_gets_its_balancer);
	suite_add_tcase(s, ta);

	tcase_add_test(tl, snapshot_lb_is_null_before_the_build_and_past_the_last_pool);
	tcase_add_test(tl, the_last_reference_dropped_on_another_thread_frees_the_entries);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	return ck_run(snapshot_suite());
}
