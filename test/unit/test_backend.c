/* Unit tests for the backend registry (core/backend.c): one entry per
 * (pool, address), refcounted, shared, freed with its last reference, and
 * safe to use from many threads.
 *
 * core/backend.c is included to reach the registry's table.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "core/lb/backend.c"
#include "test/unit/ck.h"

static void setup(void)
{
	ck_assert_uint_eq(backend_count(), 0);
}

/* Every test gave back every reference: the registry is empty and holds
 * no table. */
static void teardown(void)
{
	ck_assert_uint_eq(backend_count(), 0);
	ck_assert_ptr_null(backend_reg.bucket);
	ck_assert_uint_eq(backend_reg.nbuckets, 0);
}

START_TEST(the_same_pool_and_address_give_the_same_entry)
{
	struct backend *a = backend_get("app", "10.0.0.1:80");
	struct backend *b = backend_get("app", "10.0.0.1:80");

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(backend_count(), 1);
	ck_assert_str_eq(a->pool, "app");
	ck_assert_str_eq(a->addr, "10.0.0.1:80");
	backend_put(a);
	backend_put(b);
}
END_TEST

/* The key is the pair, not the two strings run together. */
START_TEST(another_pool_or_another_address_is_another_entry)
{
	struct backend *a = backend_get("app", "10.0.0.1:80");
	struct backend *pool = backend_get("app2", "10.0.0.1:80");
	struct backend *addr = backend_get("app", "10.0.0.1:81");
	struct backend *x = backend_get("ab", "c:1"), *y = backend_get("a", "bc:1");

	ck_assert_ptr_ne(a, pool);
	ck_assert_ptr_ne(a, addr);
	ck_assert_ptr_ne(pool, addr);
	ck_assert_ptr_ne(x, y);
	ck_assert_uint_eq(backend_count(), 5);
	backend_put(a);
	backend_put(pool);
	backend_put(addr);
	backend_put(x);
	backend_put(y);
}
END_TEST

START_TEST(a_new_entry_has_every_counter_at_zero_on_its_own_cache_line)
{
	struct backend *be = backend_get("app", "[::1]:8080");

	ck_assert_ptr_nonnull(be);
	ck_assert_uint_eq((uintptr_t)be % BACKEND_ALIGN, 0);
	ck_assert_uint_eq(atomic_load(&be->active), 0);
	ck_assert_uint_eq(backend_state(be), BACKEND_UP);
	ck_assert_uint_eq(atomic_load(&be->picks), 0);
	ck_assert_uint_eq(atomic_load(&be->connect_ok), 0);
	ck_assert_uint_eq(atomic_load(&be->connect_fail), 0);
	backend_put(be);
}
END_TEST

/* The operator's word wins over health (disabled, then draining), and
 * neither input forgets the other: enable gives back health's verdict. */
START_TEST(admin_state_overrides_health_and_enable_gives_health_back)
{
	struct backend *be = backend_get("app", "10.0.0.9:80");

	ck_assert_int_eq(backend_set_admin("app", "10.0.0.9:80", BACKEND_ADMIN_DRAIN), 0);
	ck_assert_uint_eq(backend_state(be), BACKEND_DRAINING);
	ck_assert(!backend_set_health(be, false, "test"));
	ck_assert_uint_eq(backend_state(be), BACKEND_DRAINING);
	ck_assert_int_eq(backend_set_admin("app", "10.0.0.9:80", BACKEND_ADMIN_DISABLE), 0);
	ck_assert_uint_eq(backend_state(be), BACKEND_DISABLED);
	ck_assert_int_eq(backend_set_admin("app", "10.0.0.9:80", BACKEND_ADMIN_ENABLE), 0);
	ck_assert_uint_eq(backend_state(be), BACKEND_DOWN);
	ck_assert(backend_set_health(be, true, "test"));
	ck_assert_uint_eq(backend_state(be), BACKEND_UP);
	ck_assert_uint_eq(atomic_load(&be->transitions), 4);
	ck_assert_str_eq(backend_state_name(BACKEND_DRAINING), "draining");
	ck_assert_int_eq(backend_set_admin("app", "10.0.0.10:80", BACKEND_ADMIN_DRAIN), -ENOENT);
	backend_put(be);
}
END_TEST

/* State lives while any reference does; after the last put the same key
 * starts from 0. */
START_TEST(counters_live_as_long_as_one_reference_does)
{
	struct backend *a = backend_get("app", "10.0.0.1:80"), *b;

	atomic_store(&a->active, 3);
	ck_assert(backend_set_health(a, false, "test"));
	b = backend_ref(a);
	backend_put(a);
	ck_assert_uint_eq(backend_count(), 1);
	a = backend_get("app", "10.0.0.1:80");
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(atomic_load(&a->active), 3);
	ck_assert_uint_eq(backend_state(a), BACKEND_DOWN);
	backend_put(a);
	backend_put(b);
	ck_assert_uint_eq(backend_count(), 0);
	a = backend_get("app", "10.0.0.1:80");
	ck_assert_uint_eq(atomic_load(&a->active), 0);
	ck_assert_uint_eq(backend_state(a), BACKEND_UP);
	backend_put(a);
}
END_TEST

START_TEST(putting_null_does_nothing)
{
	backend_put(NULL);
}
END_TEST

/* 5000 entries: the table doubles past its first size, every entry is
 * found again, and removing them in another order empties it. */
START_TEST(the_table_grows_and_every_entry_stays_findable)
{
	enum { N = 5000 };
	static struct backend *be[N];
	char addr[32];
	unsigned i;

	for (i = 0; i < N; i++) {
		snprintf(addr, sizeof(addr), "10.0.%u.%u:80", i / 256, i % 256);
		be[i] = backend_get(i % 2 ? "odd" : "even", addr);
		ck_assert_ptr_nonnull(be[i]);
	}
	ck_assert_uint_eq(backend_count(), N);
	ck_assert_uint_ge(backend_reg.nbuckets, N);
	for (i = 0; i < N; i++) {
		snprintf(addr, sizeof(addr), "10.0.%u.%u:80", i / 256, i % 256);
		FAIL_IF(backend_get(i % 2 ? "odd" : "even", addr) != be[i], "entry %u moved", i);
		backend_put(be[i]);
	}
	ck_assert_uint_eq(backend_count(), N);
	for (i = 0; i < N; i++)
		backend_put(be[(i * 7919) % N]); /* 7919 is prime to N: each once */
}
END_TEST

/* ---- threads -------------------------------------------------------------- */

#define NTHREADS 4
#define NKEYS    16
#define ROUNDS   20000

static void key_addr(unsigned k, char *addr, size_t len)
{
	snprintf(addr, len, "192.0.2.%u:80", k);
}

/* Gets a key, counts one connection on it, puts it back. */
static void *get_count_put(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg, r;
	char addr[32];

	for (r = 0; r < ROUNDS; r++) {
		struct backend *be;

		key_addr((seed + r * 7) % NKEYS, addr, sizeof(addr));
		be = backend_get("app", addr);
		if (!be)
			return (void *)1;
		atomic_fetch_add_explicit(&be->picks, 1, memory_order_relaxed);
		backend_put(be);
	}
	return NULL;
}

static void run_threads(void)
{
	pthread_t t[NTHREADS];
	void *ret;
	unsigned i;

	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, get_count_put, (void *)(uintptr_t)i),
		                 0);
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
}

/* With the entries held, every thread's counts land in the same ones. */
START_TEST(threads_sharing_held_entries_add_up_in_one_place)
{
	struct backend *held[NKEYS];
	uint64_t picks = 0;
	char addr[32];
	unsigned k;

	for (k = 0; k < NKEYS; k++) {
		key_addr(k, addr, sizeof(addr));
		held[k] = backend_get("app", addr);
	}
	run_threads();
	ck_assert_uint_eq(backend_count(), NKEYS);
	for (k = 0; k < NKEYS; k++) {
		picks += atomic_load(&held[k]->picks);
		backend_put(held[k]);
	}
	ck_assert_uint_eq(picks, (uint64_t)NTHREADS * ROUNDS);
}
END_TEST

/* With nothing held, entries are created and freed under the threads' feet:
 * a get racing the last put gets a live entry, never a freed one (ASan and
 * TSan watch), and nothing is left at the end. */
START_TEST(threads_creating_and_freeing_entries_leave_nothing_behind)
{
	run_threads();
	ck_assert_uint_eq(backend_count(), 0);
}
END_TEST

/* Passive detection: <failures> in a row within <window> of the first take
 * the backend down once; a success ends a streak; a streak older than the
 * window starts again; the hold ends at down_time, not before. */
START_TEST(passive_failures_in_a_row_within_the_window_hold_a_backend_down)
{
	struct backend *be = backend_get("app", "10.0.0.1:80");
	uint64_t t = 1000000;

	ck_assert(!backend_passive_fail(be, t, 3, 10000, 5000));
	ck_assert(!backend_passive_fail(be, t + 100, 3, 10000, 5000));
	backend_passive_ok(be); /* a success: the streak is over */
	ck_assert_uint_eq(atomic_load(&be->streak), 0);
	ck_assert(!backend_passive_fail(be, t + 200, 3, 10000, 5000));
	ck_assert(!backend_passive_fail(be, t + 300, 3, 10000, 5000));
	ck_assert_int_eq(backend_state(be), BACKEND_UP);
	ck_assert(backend_passive_fail(be, t + 400, 3, 10000, 5000));
	ck_assert_int_eq(backend_state(be), BACKEND_DOWN);
	ck_assert_uint_eq(atomic_load(&be->passive_downs), 1);
	ck_assert_uint_eq(atomic_load(&be->transitions), 1);
	/* held: more failures change nothing and are not counted */
	ck_assert(!backend_passive_fail(be, t + 500, 3, 10000, 5000));
	ck_assert(!backend_passive_fail(be, t + 600, 3, 10000, 5000));
	ck_assert(!backend_passive_fail(be, t + 700, 3, 10000, 5000));
	ck_assert_uint_eq(atomic_load(&be->passive_downs), 1);
	ck_assert(!backend_passive_expire(be, t + 400 + 4999, false));
	ck_assert_int_eq(backend_state(be), BACKEND_DOWN);
	ck_assert(backend_passive_expire(be, t + 400 + 5000, false));
	ck_assert_int_eq(backend_state(be), BACKEND_UP);
	ck_assert_uint_eq(atomic_load(&be->transitions), 2);
	ck_assert(!backend_passive_expire(be, t + 400 + 5001, false));
	backend_put(be);
}
END_TEST

START_TEST(passive_failures_spread_wider_than_the_window_never_add_up)
{
	struct backend *be = backend_get("app", "10.0.0.1:80");
	uint64_t t = 5000000;

	/* 2 per window, window 1s: each third failure starts a new streak */
	for (int i = 0; i < 30; i++)
		ck_assert(!backend_passive_fail(be, t + (uint64_t)i * 600, 3, 1000, 5000));
	ck_assert_int_eq(backend_state(be), BACKEND_UP);
	/* the same, inside one window: down at the third */
	ck_assert(!backend_passive_fail(be, t + 100000, 3, 1000, 5000));
	ck_assert(!backend_passive_fail(be, t + 100500, 3, 1000, 5000));
	ck_assert(backend_passive_fail(be, t + 101000, 3, 1000, 5000));
	backend_put(be);
}
END_TEST

/* A passive hold and the operator's word are separate inputs, and the
 * hold and the checks' verdict too: each must allow up for up. */
START_TEST(a_passive_hold_combines_with_the_checks_and_the_operator)
{
	struct backend *be = backend_get("app", "10.0.0.1:80");

	ck_assert(backend_passive_fail(be, 1000, 1, 1000, 1000));
	ck_assert(!backend_set_health(be, false, "test")); /* down already */
	ck_assert(!backend_passive_expire(be, 1999, false));
	ck_assert(backend_passive_expire(be, 2000, false));
	ck_assert_int_eq(backend_state(be), BACKEND_DOWN); /* the checks say down */
	ck_assert(backend_set_health(be, true, "test"));
	ck_assert_int_eq(backend_set_admin("app", "10.0.0.1:80", BACKEND_ADMIN_DRAIN), 0);
	ck_assert(backend_passive_fail(be, 3000, 1, 1000, 1000));
	ck_assert_int_eq(backend_state(be), BACKEND_DRAINING); /* the operator first */
	ck_assert_int_eq(backend_set_admin("app", "10.0.0.1:80", BACKEND_ADMIN_ENABLE), 0);
	ck_assert_int_eq(backend_state(be), BACKEND_DOWN);
	ck_assert(backend_passive_expire(be, 0, true));
	ck_assert_int_eq(backend_state(be), BACKEND_UP);
	backend_put(be);
}
END_TEST

/* Workers failing together: one of them takes the backend down, once. */
static void *passive_thread(void *arg)
{
	struct backend *be = arg;
	unsigned downs = 0;

	for (int i = 0; i < 100000; i++)
		downs += backend_passive_fail(be, 1000, 1000, 60000, 60000);
	return (void *)(uintptr_t)downs;
}

START_TEST(workers_failing_together_take_a_backend_down_once)
{
	struct backend *be = backend_get("app", "10.0.0.1:80");
	pthread_t th[4];
	uintptr_t downs = 0;
	void *r;

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, passive_thread, be);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &r);
		downs += (uintptr_t)r;
	}
	ck_assert_uint_eq(downs, 1);
	ck_assert_uint_eq(atomic_load(&be->passive_downs), 1);
	ck_assert_int_eq(backend_state(be), BACKEND_DOWN);
	backend_put(be);
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	return ck_tcase(name, timeout, setup, teardown);
}

static Suite *backend_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *tk = tcase("keys", 10), *tl = tcase("lifetime", 10), *tt = tcase("threads", 30);

	tcase_add_test(tk, the_same_pool_and_address_give_the_same_entry);
	tcase_add_test(tk, another_pool_or_another_address_is_another_entry);
	tcase_add_test(tk, a_new_entry_has_every_counter_at_zero_on_its_own_cache_line);
	suite_add_tcase(s, tk);

	tcase_add_test(tl, counters_live_as_long_as_one_reference_does);
	tcase_add_test(tl, admin_state_overrides_health_and_enable_gives_health_back);
	tcase_add_test(tl, putting_null_does_nothing);
	tcase_add_test(tl, the_table_grows_and_every_entry_stays_findable);
	suite_add_tcase(s, tl);

	tcase_add_test(tl, passive_failures_in_a_row_within_the_window_hold_a_backend_down);
	tcase_add_test(tl, passive_failures_spread_wider_than_the_window_never_add_up);
	tcase_add_test(tl, a_passive_hold_combines_with_the_checks_and_the_operator);
	tcase_add_test(tt, workers_failing_together_take_a_backend_down_once);
	tcase_add_test(tt, threads_sharing_held_entries_add_up_in_one_place);
	tcase_add_test(tt, threads_creating_and_freeing_entries_leave_nothing_behind);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return ck_run(backend_suite());
}
