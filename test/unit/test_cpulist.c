/* numa/cpulist.c: parsing and formatting CPU lists. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numa/cpulist.h"
#include "test/unit/ck.h"

static char err[256];

/* Nothing here allocates or charges the accountant: the fixture only
 * resets the error buffer so a test never sees a previous message. */
static void setup(void)
{
	memset(err, 0, sizeof(err));
}

static void teardown(void)
{
	ck_assert_uint_lt(strlen(err), sizeof(err));
}

/* Parses <s>, which must succeed, and returns the set. */
static cpu_set_t parse_ok(const char *s)
{
	cpu_set_t set;
	int ret = cpulist_parse(s, &set, err, sizeof(err));

	ck_assert_msg(ret == 0, "\"%s\": ret %d (%s)", s, ret, err);
	return set;
}

START_TEST(parse_reads_inclusive_ranges)
{
	cpu_set_t set = parse_ok("0-7,16-23");
	int cpu;

	ck_assert_int_eq(CPU_COUNT(&set), 16);
	for (cpu = 0; cpu < 32; cpu++)
		ck_assert_int_eq(!!CPU_ISSET(cpu, &set), cpu <= 7 || (cpu >= 16 && cpu <= 23));
}
END_TEST

START_TEST(parse_reads_a_single_cpu)
{
	cpu_set_t set = parse_ok("3");

	ck_assert_int_eq(CPU_COUNT(&set), 1);
	ck_assert(CPU_ISSET(3, &set));
}
END_TEST

START_TEST(parse_reads_a_comma_list)
{
	cpu_set_t set = parse_ok("0,2,4");

	ck_assert_int_eq(CPU_COUNT(&set), 3);
	ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(2, &set) && CPU_ISSET(4, &set));
}
END_TEST

START_TEST(parse_takes_the_union_of_overlapping_entries)
{
	cpu_set_t set = parse_ok("0-3,2-5,5,1");
	int cpu;

	ck_assert_int_eq(CPU_COUNT(&set), 6);
	for (cpu = 0; cpu <= 5; cpu++)
		ck_assert(CPU_ISSET(cpu, &set));
}
END_TEST

START_TEST(parse_accepts_a_one_cpu_range_and_the_last_cpu)
{
	cpu_set_t set = parse_ok("4-4");

	ck_assert_int_eq(CPU_COUNT(&set), 1);
	ck_assert(CPU_ISSET(4, &set));
	set = parse_ok("1023");
	ck_assert(CPU_ISSET(CPU_SETSIZE - 1, &set));
}
END_TEST

START_TEST(parse_clears_the_set_first)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(100, &set);
	ck_assert_int_eq(cpulist_parse("1", &set, err, sizeof(err)), 0);
	ck_assert_int_eq(CPU_COUNT(&set), 1);
	ck_assert(CPU_ISSET(1, &set));
}
END_TEST

static const struct {
	const char *in, *msg;
} bad[] = {
    {"", "empty list"},
    {"a", "\"a\": not a CPU number"},
    {"1-", "\"1-\": not a CPU number"},
    {"-1", "\"-1\": not a CPU number"},
    {"3-1", "\"3-1\": range is not ascending"},
    {"1,,2", "\"1,,2\": empty entry"},
    {"99999", "\"99999\": CPU number too large (max 1023)"},
    {"1024", "\"1024\": CPU number too large (max 1023)"},
    {"0-1024", "\"0-1024\": CPU number too large (max 1023)"},
    {"0,", "\"0,\": empty entry"},
    {",0", "\",0\": empty entry"},
    {"7-x", "\"7-x\": not a CPU number"},
    {"0-3,7-x", "\"7-x\": not a CPU number"},
    {"1 ,2", "\"1 \": not a CPU number"},
    {" 1", "\" 1\": not a CPU number"},
    {"1-2-3", "\"1-2-3\": not a CPU number"},
    {"+1", "\"+1\": not a CPU number"},
    {"99999999999999999999", "\"99999999999999999999\": CPU number too large (max 1023)"},
};

START_TEST(parse_rejects_bad_input_naming_the_bad_part)
{
	cpu_set_t set;
	int ret = cpulist_parse(bad[_i].in, &set, err, sizeof(err));

	ck_assert_msg(ret == -EINVAL, "\"%s\" gave %d", bad[_i].in, ret);
	ck_assert_str_eq(err, bad[_i].msg);
}
END_TEST

START_TEST(format_writes_the_compact_form)
{
	cpu_set_t set;
	char buf[64];

	CPU_ZERO(&set);
	ck_assert_uint_eq(cpulist_format(&set, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	CPU_SET(0, &set);
	CPU_SET(1, &set);
	CPU_SET(2, &set);
	CPU_SET(3, &set);
	CPU_SET(8, &set);
	ck_assert_uint_eq(cpulist_format(&set, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "0-3,8");
}
END_TEST

static const char *const fmts[] = {
    "0", "3", "0-1", "0,2,4", "0-7,16-23", "1-3,5,7-9,1023", "0-1023",
};

START_TEST(format_round_trips_what_parse_reads)
{
	cpu_set_t set = parse_ok(fmts[_i]), again;
	char buf[128];
	size_t n = cpulist_format(&set, buf, sizeof(buf));

	ck_assert_str_eq(buf, fmts[_i]);
	ck_assert_uint_eq(n, strlen(fmts[_i]));
	again = parse_ok(buf);
	ck_assert(CPU_EQUAL(&set, &again));
}
END_TEST

START_TEST(format_normalises_unions_and_single_ranges)
{
	cpu_set_t set = parse_ok("5,4,3-3,0-1,2");
	char buf[64];

	cpulist_format(&set, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0-5");
}
END_TEST

START_TEST(format_truncates_to_the_buffer_and_terminates)
{
	cpu_set_t set = parse_ok("0,2,4,6,8,10");
	char buf[6];
	size_t n;

	memset(buf, 'x', sizeof(buf));
	n = cpulist_format(&set, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_uint_le(n, sizeof(buf) - 1);
	ck_assert_str_eq(buf, "0,2,4");
}
END_TEST

/* Node lists are the same syntax: --nodes 0,1 and 0-1 are one set. */
START_TEST(parse_reads_node_lists_like_cpu_lists)
{
	cpu_set_t a = parse_ok("0,1"), b = parse_ok("0-1"), c = parse_ok("1,0");

	ck_assert(CPU_EQUAL(&a, &b) && CPU_EQUAL(&b, &c));
	ck_assert_int_eq(CPU_COUNT(&a), 2);
}
END_TEST

static const char *const sysfs_lists[] = {
    "/sys/devices/system/cpu/online",
    "/sys/devices/system/cpu/possible",
    "/sys/devices/system/node/online",
    "/sys/devices/system/node/has_cpu",
};

/* The kernel's own lists (newline stripped, as topo.c does) parse, and
 * format back to the same text. */
START_TEST(parse_reads_the_kernels_lists_and_formats_them_back)
{
	char buf[4096], out[4096];
	cpu_set_t set;
	FILE *f = fopen(sysfs_lists[_i], "r");

	if (!f)
		return; /* no such file here (a kernel without NUMA) */
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	set = parse_ok(buf);
	ck_assert_int_ge(CPU_COUNT(&set), 1);
	cpulist_format(&set, out, sizeof(out));
	ck_assert_str_eq(out, buf);
}
END_TEST

static Suite *cpulist_suite(void)
{
	Suite *s = suite_create("cpulist");
	TCase *tp = tcase_create("parse"), *tf = tcase_create("format");

	tcase_set_timeout(tp, 10);
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, parse_reads_inclusive_ranges);
	tcase_add_test(tp, parse_reads_a_single_cpu);
	tcase_add_test(tp, parse_reads_a_comma_list);
	tcase_add_test(tp, parse_takes_the_union_of_overlapping_entries);
	tcase_add_test(tp, parse_accepts_a_one_cpu_range_and_the_last_cpu);
	tcase_add_test(tp, parse_clears_the_set_first);
	tcase_add_test(tp, parse_reads_node_lists_like_cpu_lists);
	tcase_add_loop_test(tp, parse_reads_the_kernels_lists_and_formats_them_back, 0,
	                    sizeof(sysfs_lists) / sizeof(sysfs_lists[0]));
	tcase_add_loop_test(tp, parse_rejects_bad_input_naming_the_bad_part, 0,
	                    sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tp);

	tcase_set_timeout(tf, 10);
	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_add_test(tf, format_writes_the_compact_form);
	tcase_add_loop_test(tf, format_round_trips_what_parse_reads, 0,
	                    sizeof(fmts) / sizeof(fmts[0]));
	tcase_add_test(tf, format_normalises_unions_and_single_ranges);
	tcase_add_test(tf, format_truncates_to_the_buffer_and_terminates);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	return ck_run(cpulist_suite());
}
