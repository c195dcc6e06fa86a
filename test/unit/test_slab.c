/* Unit tests for the slabs (core/mem/slab.h), written against their
 * contract: zeroed objects of the size asked, the written prefix zeroed on
 * return, spans charged to the slab's component exactly and given back
 * (but one spare) as soon as their objects are, only the accountant
 * refusing, stats per slab and summed by name, leaks reported, and the
 * accountant back at zero after every test.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/mem/acct.h"
#include "core/mem/slab.h"
#include "test/unit/ck.h"

#define MiB (1ull << 20)

static struct cfg_memory_tuning tun;
static struct acct *a;
static struct slab *slabs[4];

static void set_limits(uint64_t total, uint64_t conn)
{
	struct cfg_memory_limits lim = {.max_total_memory = total, .connection_memory = conn};

	acct_set_limits(a, &lim, &tun);
}

static void setup(void)
{
	memset(&tun, 0, sizeof(tun));
	tun.warning_threshold = 0.8;
	tun.critical_threshold = 0.95;
	tun.backpressure_start = 0.85;
	a = acct_new(&(struct cfg_memory_limits){.max_total_memory = 512 * MiB}, &tun);
	ck_assert_ptr_nonnull(a);
}

/* Freeing the slabs gives back every byte they charged. */
static void teardown(void)
{
	struct acct_stats st;

	for (unsigned i = 0; i < ARRAY_SIZE(slabs); i++) {
		slab_free(slabs[i]);
		slabs[i] = NULL;
	}
	acct_snapshot(a, &st);
	for (unsigned i = 0; i < ACCT_NCOMP; i++)
		ck_assert_uint_eq(st.comp[i].current, 0);
	ck_assert_uint_eq(st.total.current, 0);
	ck_assert(acct_idle(a));
	acct_free(a);
	a = NULL;
}

static struct slab *mk(const char *name, uint32_t size, enum acct_comp comp)
{
	struct slab *s = slab_new(name, size, comp, -1, a);

	ck_assert_ptr_nonnull(s);
	for (unsigned i = 0; i < ARRAY_SIZE(slabs); i++)
		if (!slabs[i])
			return slabs[i] = s;
	ck_abort_msg("too many slabs");
	return NULL;
}

static struct slab_stats sstats(struct slab *s)
{
	struct slab_stats st;

	slab_stats(s, &st);
	return st;
}

static uint64_t charged(enum acct_comp comp)
{
	struct acct_stats st;

	acct_snapshot(a, &st);
	return st.comp[comp].current;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

START_TEST(get_returns_zeroed_distinct_objects_of_the_size)
{
	struct slab *s = mk("t", 200, ACCT_CONN);
	char *o[40];

	ck_assert_uint_eq(slab_size(s), 208); /* rounded up to 16 */
	for (int k = 0; k < 40; k++) {
		o[k] = slab_get(s);
		ck_assert_ptr_nonnull(o[k]);
		ck_assert(all_zero(o[k], 208));
		ck_assert_uint_eq((uintptr_t)o[k] % 16, 0);
		memset(o[k], 0xa5, 208);
		for (int j = 0; j < k; j++)
			ck_assert(o[j] + 208 <= o[k] || o[k] + 208 <= o[j]);
	}
	ck_assert_uint_eq(sstats(s).in_use, 40);
	ck_assert_uint_eq(sstats(s).gets, 40);
	for (int k = 0; k < 40; k++)
		slab_put(s, o[k], 208);
	ck_assert_uint_eq(sstats(s).in_use, 0);
	ck_assert_uint_eq(sstats(s).puts, 40);
	ck_assert_uint_eq(sstats(s).peak, 40);
	ck_assert_uint_eq(sstats(s).zeroed_bytes, 40 * 208);
}
END_TEST

START_TEST(a_returned_object_reads_zero_when_handed_out_again)
{
	struct slab *s = mk("t", 256, ACCT_BUF);
	char *o = slab_get(s), *again;

	memset(o, 0x5a, 256);
	slab_put(s, o, 256);
	again = slab_get(s);
	ck_assert_ptr_eq(again, o); /* the last returned goes first */
	ck_assert(all_zero(again, 256));
	/* only the written prefix is cleared: that is all that was written */
	memset(again, 0x77, 10);
	slab_put(s, again, 10);
	ck_assert(all_zero(slab_get(s), 256));
	slab_put(s, o, 0);
}
END_TEST

START_TEST(spans_are_charged_to_the_component_and_given_back_when_empty)
{
	struct slab *s = mk("t", 3264, ACCT_CONN);
	uint32_t per = sstats(s).per_span;
	uint32_t n = per * 3 + 1; /* four spans */
	char **o = calloc(n, sizeof(*o));

	ck_assert_uint_ge(per, 19);
	ck_assert_uint_eq(charged(ACCT_CONN), 0); /* nothing before the first get */
	for (uint32_t k = 0; k < n; k++) {
		o[k] = slab_get(s);
		ck_assert_ptr_nonnull(o[k]);
		/* objects of one span lie inside its aligned 64 KiB */
		if (k % per)
			ck_assert_uint_eq((uintptr_t)o[k] / SLAB_SPAN,
			                  (uintptr_t)o[k - 1] / SLAB_SPAN);
	}
	ck_assert_uint_eq(sstats(s).spans, 4);
	ck_assert_uint_eq(charged(ACCT_CONN), 4 * SLAB_SPAN);
	ck_assert_uint_eq(charged(ACCT_BUF), 0);
	for (uint32_t k = 0; k < n; k++)
		slab_put(s, o[k], 3264);
	/* all back: one span stays as the spare, the others went to the OS */
	ck_assert_uint_eq(sstats(s).spans, 1);
	ck_assert_uint_eq(sstats(s).unmaps, 3);
	ck_assert_uint_eq(charged(ACCT_CONN), SLAB_SPAN);
	/* the spare serves the next get without a map */
	o[0] = slab_get(s);
	ck_assert_uint_eq(sstats(s).maps, 4);
	slab_put(s, o[0], 1);
	free(o);
}
END_TEST

/* The cleanup's trim gives the spare back; a span with an object out stays. */
START_TEST(trim_unmaps_the_spare_span_only)
{
	struct slab *s = mk("t", 3264, ACCT_CONN);
	uint32_t per = sstats(s).per_span;
	char **o = calloc(per + 1, sizeof(*o));

	for (uint32_t k = 0; k <= per; k++)
		o[k] = slab_get(s); /* two spans, the second with one object */
	ck_assert_uint_eq(sstats(s).spans, 2);
	slab_trim(s); /* nothing is spare */
	ck_assert_uint_eq(sstats(s).spans, 2);
	for (uint32_t k = 0; k < per; k++)
		slab_put(s, o[k], 1); /* the first span empties: kept as the spare */
	ck_assert_uint_eq(sstats(s).spans, 2);
	slab_trim(s);
	ck_assert_uint_eq(sstats(s).spans, 1);
	ck_assert_uint_eq(charged(ACCT_CONN), SLAB_SPAN);
	slab_put(s, o[per], 1);
	ck_assert_uint_eq(sstats(s).spans, 1); /* the last empty span is the spare again */
	slab_trim(s);
	ck_assert_uint_eq(sstats(s).spans, 0);
	ck_assert_uint_eq(charged(ACCT_CONN), 0);
	o[0] = slab_get(s); /* and a get after a trim maps anew */
	ck_assert_ptr_nonnull(o[0]);
	ck_assert_uint_eq(sstats(s).spans, 1);
	slab_put(s, o[0], 1);
	free(o);
}
END_TEST

START_TEST(random_gets_and_puts_never_hand_one_object_to_two)
{
	struct slab *s = mk("t", 512, ACCT_BUF);
	enum { N = 3000 };
	uint32_t *held = calloc(N, sizeof(*held));
	char **o = calloc(N, sizeof(*o));
	uint64_t rng = 42;
	uint32_t out = 0;

	for (int round = 0; round < 40000; round++) {
		uint32_t k = (uint32_t)(acct_rand01(&rng) * N);

		if (o[k]) {
			uint32_t v;

			memcpy(&v, o[k] + 100, 4);
			FAIL_IF(v != held[k], "object %u overwritten", k);
			slab_put(s, o[k], 512);
			o[k] = NULL;
			out--;
		} else {
			o[k] = slab_get(s);
			FAIL_IF(!o[k], "get failed");
			FAIL_IF(!all_zero(o[k], 512), "object not zeroed");
			held[k] = (uint32_t)round;
			memcpy(o[k] + 100, &held[k], 4);
			out++;
		}
	}
	ck_assert_uint_eq(sstats(s).in_use, out);
	ck_assert_uint_eq(charged(ACCT_BUF), sstats(s).spans * SLAB_SPAN);
	for (uint32_t k = 0; k < N; k++)
		if (o[k])
			slab_put(s, o[k], 512);
	ck_assert_uint_eq(sstats(s).spans, 1);
	free(o);
	free(held);
}
END_TEST

START_TEST(only_the_accountant_refuses_and_nothing_is_charged_then)
{
	struct slab *s = mk("t", 1024, ACCT_CONN);
	uint32_t per = sstats(s).per_span;
	char **o = calloc(per + 1, sizeof(*o));

	set_limits(0, SLAB_SPAN); /* one span of connection memory */
	for (uint32_t k = 0; k < per; k++) {
		o[k] = slab_get(s);
		ck_assert_ptr_nonnull(o[k]);
	}
	ck_assert_ptr_null(slab_get(s));
	ck_assert_uint_eq(sstats(s).fails, 1);
	ck_assert_uint_eq(sstats(s).spans, 1);
	ck_assert_uint_eq(charged(ACCT_CONN), SLAB_SPAN);
	slab_put(s, o[0], 0);
	o[0] = slab_get(s); /* room again */
	ck_assert_ptr_nonnull(o[0]);
	for (uint32_t k = 0; k < per; k++)
		slab_put(s, o[k], 0);
	free(o);
}
END_TEST

static void count_named(const struct slab_stats *st, void *arg)
{
	if (!strcmp(st->name, "sum-me"))
		(*(unsigned *)arg)++;
}

START_TEST(stats_sum_the_slabs_of_one_name_and_node)
{
	struct slab *s1 = mk("sum-me", 64, ACCT_CONN), *s2 = mk("sum-me", 64, ACCT_CONN);
	struct slab *s3 = mk("other", 128, ACCT_BUF);
	struct slab_stats st[8];
	void *o1 = slab_get(s1), *o2 = slab_get(s2), *o3 = slab_get(s2), *o4 = slab_get(s3);
	unsigned n, seen = 0, i;

	slab_stats_all(count_named, &seen);
	ck_assert_uint_eq(seen, 2);
	n = slab_stats_sum(st, 8);
	for (i = 0; i < n && strcmp(st[i].name, "sum-me"); i++)
		;
	ck_assert_uint_lt(i, n);
	ck_assert_uint_eq(st[i].in_use, 3);
	ck_assert_uint_eq(st[i].gets, 3);
	ck_assert_uint_eq(st[i].spans, 2);
	ck_assert_uint_eq(st[i].size, 64);
	for (i = 1; i < n; i++) /* sorted by name */
		ck_assert_int_le(strcmp(st[i - 1].name, st[i].name), 0);
	slab_put(s1, o1, 0);
	slab_put(s2, o2, 0);
	slab_put(s2, o3, 0);
	slab_put(s3, o4, 0);
}
END_TEST

START_TEST(an_object_still_out_at_slab_free_is_counted_and_uncharged)
{
	struct slab *s = slab_new("leaky", 96, ACCT_CONN, -1, a);
	uint64_t before = slab_leaked();

	ck_assert_ptr_nonnull(slab_get(s));
	ck_assert_ptr_nonnull(slab_get(s));
	ck_assert_uint_eq(charged(ACCT_CONN), SLAB_SPAN);
	slab_free(s);
	ck_assert_uint_eq(slab_leaked(), before + 2);
	ck_assert_uint_eq(charged(ACCT_CONN), 0);
}
END_TEST

START_TEST(the_leak_check_reports_objects_held_past_the_threshold)
{
	struct slab *s = mk("t", 128, ACCT_CONN);
	void *o1 = slab_get(s), *o2 = slab_get(s);
	uint64_t t = clock_ms();

	slab_put(s, o2, 0);
#ifdef RINGLB_DEBUG
	ck_assert_uint_eq(slab_leak_check_all(t + 1000000, 1000000 + 1000), 0);
	ck_assert_uint_eq(slab_leak_check_all(t + 1000000, 1000), 1);
	slab_put(s, o1, 0);
	ck_assert_uint_eq(slab_leak_check_all(t + 1000000, 1000), 0);
#else
	ck_assert_uint_eq(slab_leak_check_all(t + 1000000, 1000), 0); /* release: no records */
	slab_put(s, o1, 0);
#endif
}
END_TEST

START_TEST(sizes_outside_8_bytes_to_a_quarter_span_are_refused)
{
	ck_assert_ptr_null(slab_new("t", SLAB_SPAN / 4 + 16, ACCT_CONN, -1, a));
	ck_assert_ptr_null(slab_new("t", 0, ACCT_CONN, -1, a));
	slabs[0] = slab_new("t", SLAB_SPAN / 4, ACCT_CONN, -1, a);
	ck_assert_ptr_nonnull(slabs[0]);
	ck_assert_uint_ge(sstats(slabs[0]).per_span, 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = ck_tcase("slab", 30, setup, teardown);

	log_set_level(LOG_LVL_ERR);
	tcase_add_test(tc, get_returns_zeroed_distinct_objects_of_the_size);
	tcase_add_test(tc, a_returned_object_reads_zero_when_handed_out_again);
	tcase_add_test(tc, spans_are_charged_to_the_component_and_given_back_when_empty);
	tcase_add_test(tc, trim_unmaps_the_spare_span_only);
	tcase_add_test(tc, random_gets_and_puts_never_hand_one_object_to_two);
	tcase_add_test(tc, only_the_accountant_refuses_and_nothing_is_charged_then);
	tcase_add_test(tc, stats_sum_the_slabs_of_one_name_and_node);
	tcase_add_test(tc, an_object_still_out_at_slab_free_is_counted_and_uncharged);
	tcase_add_test(tc, the_leak_check_reports_objects_held_past_the_threshold);
	tcase_add_test(tc, sizes_outside_8_bytes_to_a_quarter_span_are_refused);
	suite_add_tcase(s, tc);
	return ck_run(s);
}
