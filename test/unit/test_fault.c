/* Unit tests for the fault injection rules (core/base/fault.c): what
 * RINGLB_FAULT accepts and refuses, every Nth call, rates drawn from the
 * seed, caps, and nothing before fault_arm(). The hooks are compiled in
 * here whatever the build (the .c is included with RINGLB_FAULT defined);
 * each test runs in its own process, so the rules start empty.
 */
#ifndef RINGLB_FAULT
#define RINGLB_FAULT
#endif
#include "core/base/fault.c"

#include <check.h>
#include <errno.h>
#include <string.h>

#include "test/unit/ck.h"

static char err[256];

static int init(const char *spec, const char *seed)
{
	err[0] = '\0';
	return fault_init(spec, seed, err, sizeof(err));
}

static unsigned hits(enum fault_kind k, unsigned calls)
{
	unsigned n = 0;

	for (unsigned i = 0; i < calls; i++)
		n += fault_hit(k);
	return n;
}

START_TEST(every_nth_call_fails_and_only_those)
{
	ck_assert_int_eq(init("recv=@3", NULL), 0);
	fault_arm();
	for (unsigned i = 1; i <= 30; i++)
		ck_assert_int_eq(fault_hit(FAULT_RECV), i % 3 == 0);
	ck_assert_uint_eq(fault_injected(FAULT_RECV), 10);
	ck_assert_uint_eq(fault_calls(FAULT_RECV), 30);
}
END_TEST

START_TEST(kinds_without_a_rule_never_fail_nor_count)
{
	ck_assert_int_eq(init("connect=@1", NULL), 0);
	fault_arm();
	for (int k = 0; k < FAULT_NKINDS; k++)
		if (k != FAULT_CONNECT)
			ck_assert_uint_eq(hits(k, 100), 0);
	ck_assert_uint_eq(hits(FAULT_CONNECT, 100), 100);
	ck_assert_uint_eq(fault_calls(FAULT_SEND), 0);
}
END_TEST

START_TEST(nothing_fails_before_arm)
{
	ck_assert_int_eq(init("alloc=@1,pool=1", NULL), 0);
	ck_assert_uint_eq(hits(FAULT_ALLOC, 50), 0);
	ck_assert_uint_eq(hits(FAULT_POOL, 50), 0);
	ck_assert_uint_eq(fault_calls(FAULT_ALLOC), 0);
	fault_arm();
	ck_assert_uint_eq(hits(FAULT_ALLOC, 50), 50);
}
END_TEST

START_TEST(no_spec_arms_nothing)
{
	ck_assert_int_eq(init(NULL, NULL), 0);
	ck_assert_int_eq(init("", NULL), 0);
	fault_arm();
	ck_assert(!atomic_load(&fault__armed));
	for (int k = 0; k < FAULT_NKINDS; k++)
		ck_assert_uint_eq(hits(k, 10), 0);
}
END_TEST

START_TEST(a_rate_fails_about_that_share_of_calls)
{
	unsigned n;

	ck_assert_int_eq(init("send=0.1", "42"), 0);
	fault_arm();
	n = hits(FAULT_SEND, 100000);
	ck_assert_uint_eq(fault_injected(FAULT_SEND), n);
	ck_assert_msg(n > 9000 && n < 11000, "%u of 100000 at 0.1", n);
}
END_TEST

/* 64 draws of the first thread to draw, as a fresh process makes them. */
static uint64_t pattern(const char *seed)
{
	uint64_t bits = 0;

	fault_rng = 0;
	atomic_store(&fault_threads, 0);
	ck_assert_int_eq(init("recv=0.5", seed), 0);
	fault_arm();
	for (unsigned i = 0; i < 64; i++)
		bits |= (uint64_t)fault_hit(FAULT_RECV) << i;
	return bits;
}

START_TEST(a_seed_repeats_the_draws)
{
	uint64_t a = pattern("12345");

	ck_assert_uint_eq(pattern("12345"), a);
	ck_assert_uint_ne(pattern("12346"), a);
	ck_assert_uint_ne(pattern(NULL), a);
}
END_TEST

START_TEST(a_cap_bounds_the_faults)
{
	ck_assert_int_eq(init("pool=@1:5,tls=0.5:3", NULL), 0);
	fault_arm();
	ck_assert_uint_eq(hits(FAULT_POOL, 100), 5);
	ck_assert_uint_eq(fault_calls(FAULT_POOL), 100);
	ck_assert_uint_eq(hits(FAULT_TLS, 1000), 3);
}
END_TEST

START_TEST(a_later_rule_of_the_same_kind_replaces_the_first)
{
	ck_assert_int_eq(init("accept=@1,accept=@2", NULL), 0);
	fault_arm();
	ck_assert_uint_eq(hits(FAULT_ACCEPT, 10), 5);
}
END_TEST

START_TEST(every_kind_has_its_name)
{
	char spec[512] = "";

	for (int k = 0; k < FAULT_NKINDS; k++) {
		ck_assert_ptr_nonnull(fault_name(k));
		strcat(spec, k ? "," : "");
		strcat(spec, fault_name(k));
		strcat(spec, "=@1");
	}
	ck_assert_ptr_null(fault_name(FAULT_NKINDS));
	ck_assert_int_eq(init(spec, NULL), 0);
	fault_arm();
	for (int k = 0; k < FAULT_NKINDS; k++)
		ck_assert(fault_hit(k));
}
END_TEST

START_TEST(bad_specs_are_refused_whole)
{
	static const char *const bad[] = {
	    "nope=0.1", "recv",      "recv=",      "recv=0",
	    "recv=1.5", "recv=-0.1", "recv=@0",    "recv=@",
	    "recv=@x",  "recv=@3x",  "recv=0.1:0", "recv=0.1:",
	    "recv=x",   "=0.1",      "recv=0.1:a", "connect=@10,bogus=1",
	};

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(init(bad[i], NULL) == -EINVAL, "%s accepted", bad[i]);
		ck_assert_msg(strncmp(err, "RINGLB_FAULT: ", 14) == 0, "%s: %s", bad[i], err);
	}
	/* the good rule before the bad one was not applied */
	fault_arm();
	ck_assert(!fault_hit(FAULT_CONNECT));
	ck_assert_int_eq(init("recv=0.1", "12x"), -EINVAL);
	ck_assert_msg(strstr(err, "RINGLB_FAULT_SEED") != NULL, "%s", err);
	ck_assert_int_eq(init("recv=1,,send=@2,", NULL), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = ck_tcase("rules", 30, NULL, NULL);

	tcase_add_test(tc, every_nth_call_fails_and_only_those);
	tcase_add_test(tc, kinds_without_a_rule_never_fail_nor_count);
	tcase_add_test(tc, nothing_fails_before_arm);
	tcase_add_test(tc, no_spec_arms_nothing);
	tcase_add_test(tc, a_rate_fails_about_that_share_of_calls);
	tcase_add_test(tc, a_seed_repeats_the_draws);
	tcase_add_test(tc, a_cap_bounds_the_faults);
	tcase_add_test(tc, a_later_rule_of_the_same_kind_replaces_the_first);
	tcase_add_test(tc, every_kind_has_its_name);
	tcase_add_test(tc, bad_specs_are_refused_whole);
	suite_add_tcase(s, tc);
	return ck_run(s);
}
