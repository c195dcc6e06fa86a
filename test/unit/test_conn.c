/* Unit tests for the connection table (core/conn.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "core/mem/acct.h"
#include "core/loop/conn.h"
#include "test/unit/ck.h"

static struct acct *acct;

static void setup(void)
{
	struct cfg_memory_limits lim = {
	    .max_total_memory = 64 << 20,
	    .buffer_pool_memory = 32 << 20,
	    .connection_memory = 16 << 20,
	    .ssl_context_memory = 8 << 20,
	    .cache_memory = 8 << 20,
	};
	struct cfg_memory_tuning tun = {
	    .warning_threshold = 0.8,
	    .critical_threshold = 0.95,
	    .backpressure_start = 0.85,
	    .warning_defer_ratio = 0.1,
	    .critical_reject_ratio = 0.7,
	};

	acct = acct_new(&lim, &tun);
	ck_assert_ptr_nonnull(acct);
}

static void teardown(void)
{
	ck_assert(acct_idle(acct));
	acct_free(acct);
}

START_TEST(table_hands_out_every_slot_once_then_refuses)
{
	struct conn_table t;
	char *seen = calloc(100, 1);
	unsigned i;

	ck_assert_int_eq(conn_table_init(&t, 100, -1, acct), 0);
	for (i = 0; i < 100; i++) {
		struct conn *c = conn_get(&t);

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(seen[conn_slot(&t, c)], 0);
		seen[conn_slot(&t, c)] = 1;
		c->proto = 1;
	}
	ck_assert_ptr_null(conn_get(&t));
	ck_assert_uint_eq(t.used, 100);
	free(seen);
	conn_table_deinit(&t);
}
END_TEST

START_TEST(reused_slot_gets_new_generation_and_clean_record)
{
	struct conn_table t;
	struct conn *c, *d;
	uint32_t gen;

	ck_assert_int_eq(conn_table_init(&t, 4, -1, acct), 0);
	c = conn_get(&t);
	c->proto = 1;
	c->fd = 42;
	c->flags = CONN_F_RECV;
	c->out_bytes = 7;
	gen = c->gen;
	conn_put(&t, c);
	d = conn_get(&t);
	ck_assert_ptr_eq(c, d); /* LIFO: the warm slot first */
	ck_assert_uint_ne(d->gen, gen);
	ck_assert_int_eq(d->fd, -1);
	ck_assert_uint_eq(d->flags, 0);
	ck_assert_uint_eq(d->out_bytes, 0);
	ck_assert_uint_eq(d->peer, CONN_NONE);
	conn_table_deinit(&t);
}
END_TEST

START_TEST(completion_for_recycled_slot_is_dropped)
{
	struct conn_table t;
	struct conn *c;
	uint64_t old_ud, new_ud;

	ck_assert_int_eq(conn_table_init(&t, 4, -1, acct), 0);
	c = conn_get(&t);
	c->proto = 1;
	old_ud = conn_ud(3, c->gen, conn_slot(&t, c));
	ck_assert_ptr_eq(conn_of_ud(&t, old_ud), c);
	conn_put(&t, c);
	ck_assert_ptr_null(conn_of_ud(&t, old_ud)); /* free slot */
	c = conn_get(&t);
	c->proto = 2;
	ck_assert_ptr_null(conn_of_ud(&t, old_ud)); /* reused: other generation */
	new_ud = conn_ud(3, c->gen, conn_slot(&t, c));
	ck_assert_ptr_eq(conn_of_ud(&t, new_ud), c);
	ck_assert_ptr_null(conn_of_ud(&t, conn_ud(3, c->gen, 1000))); /* out of range */
	conn_table_deinit(&t);
}
END_TEST

START_TEST(user_data_round_trips_op_generation_and_slot)
{
	uint64_t ud = conn_ud(0xab, 0x12345678, 0xdeadbeef);

	ck_assert_uint_eq(conn_ud_op(ud), 0xab);
	ck_assert_uint_eq(conn_ud_gen(ud), 0x345678); /* 24 bits kept */
	ck_assert_uint_eq(conn_ud_slot(ud), 0xdeadbeef);
}
END_TEST

START_TEST(generation_wraps_within_24_bits)
{
	struct conn_table t;
	struct conn *c;
	uint64_t ud;

	ck_assert_int_eq(conn_table_init(&t, 1, -1, acct), 0);
	c = conn_get(&t);
	c->gen = CONN_GEN_MASK; /* next reuse wraps */
	c->proto = 1;
	ud = conn_ud(1, c->gen, 0);
	conn_put(&t, c);
	c = conn_get(&t);
	c->proto = 1;
	ck_assert_ptr_null(conn_of_ud(&t, ud));
	ck_assert_ptr_eq(conn_of_ud(&t, conn_ud(1, c->gen, 0)), c);
	conn_table_deinit(&t);
}
END_TEST

START_TEST(table_is_charged_to_connection_memory_and_refused_past_limit)
{
	struct conn_table t;
	struct acct_stats st;

	ck_assert_int_eq(conn_table_init(&t, 1000, -1, acct), 0);
	acct_snapshot(acct, &st);
	ck_assert_uint_eq(st.comp[ACCT_CONN].current, 1000 * sizeof(struct conn));
	ck_assert_int_eq(conn_table_init(&(struct conn_table){0}, 1u << 30, -1, acct), -ENOBUFS);
	conn_table_deinit(&t);
}
END_TEST

/* A transport's per-slot state (TLS session, splice pipe) lives beside the
 * table: the record stays at plain TCP's size, the side array costs
 * nothing until a transport sets a slot, is cleared when a slot is reused
 * and is given back to the accountant with the table. */
START_TEST(transport_state_lives_beside_the_table)
{
	struct conn_table t;
	struct acct_stats st;
	struct conn *a, *b;
	int x, y;

	ck_assert_uint_le(sizeof(struct conn), 112);
	ck_assert_int_eq(conn_table_init(&t, 64, -1, acct), 0);
	a = conn_get(&t);
	b = conn_get(&t);
	ck_assert_ptr_null(conn_xctx(&t, a));
	ck_assert_int_eq(conn_xctx_set(&t, a, NULL), 0); /* clearing maps nothing */
	acct_snapshot(acct, &st);
	ck_assert_uint_eq(st.comp[ACCT_CONN].current, 64 * sizeof(struct conn));
	ck_assert_int_eq(conn_xctx_set(&t, a, &x), 0);
	ck_assert_int_eq(conn_xctx_set(&t, b, &y), 0);
	acct_snapshot(acct, &st);
	ck_assert_uint_eq(st.comp[ACCT_CONN].current, 64 * (sizeof(struct conn) + sizeof(void *)));
	ck_assert_ptr_eq(conn_xctx(&t, a), &x);
	ck_assert_ptr_eq(conn_xctx(&t, b), &y);
	conn_put(&t, a);
	a = conn_get(&t); /* the same slot, reused: no state of the last user */
	ck_assert_ptr_null(conn_xctx(&t, a));
	ck_assert_ptr_eq(conn_xctx(&t, b), &y);
	conn_table_trim(&t); /* b still has its state: the array stays */
	ck_assert_ptr_eq(conn_xctx(&t, b), &y);
	ck_assert_int_eq(conn_xctx_set(&t, b, NULL), 0);
	conn_table_trim(&t); /* none left: the table is back to its records */
	acct_snapshot(acct, &st);
	ck_assert_uint_eq(st.comp[ACCT_CONN].current, 64 * sizeof(struct conn));
	ck_assert_ptr_null(conn_xctx(&t, a));
	ck_assert_int_eq(conn_xctx_set(&t, a, &x), 0); /* mapped again on demand */
	ck_assert_ptr_eq(conn_xctx(&t, a), &x);
	conn_put(&t, a); /* a state left behind is cleared, and counted, by the next get */
	a = conn_get(&t);
	ck_assert_ptr_null(conn_xctx(&t, a));
	conn_table_trim(&t);
	acct_snapshot(acct, &st);
	ck_assert_uint_eq(st.comp[ACCT_CONN].current, 64 * sizeof(struct conn));
	conn_table_deinit(&t);
	acct_snapshot(acct, &st);
	ck_assert_uint_eq(st.comp[ACCT_CONN].current, 0);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("table");

	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, table_hands_out_every_slot_once_then_refuses);
	tcase_add_test(tc, reused_slot_gets_new_generation_and_clean_record);
	tcase_add_test(tc, completion_for_recycled_slot_is_dropped);
	tcase_add_test(tc, user_data_round_trips_op_generation_and_slot);
	tcase_add_test(tc, generation_wraps_within_24_bits);
	tcase_add_test(tc, table_is_charged_to_connection_memory_and_refused_past_limit);
	tcase_add_test(tc, transport_state_lives_beside_the_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_run(conn_suite());
}
