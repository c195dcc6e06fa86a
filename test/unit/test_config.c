/* config/: value parsers, the YAML loader's errors, environment and CLI
 * overrides, the built-in config, --print-config, lifetime, and the key
 * reference config/KEYS.md.
 *
 * cli.c and env.c are included to reach their tables (flags, direct
 * variables); the archive then never pulls in their objects.
 *
 * Files are named relative to the source tree's top, where main() moves:
 * $RLB_TOP (set by test/run.sh), or the first folder holding
 * config/schema.c from the current one or the binary's up.
 *
 * RLB_UPDATE_KEYS=1 build/test/test_config rewrites config/KEYS.md from
 * the schema.
 */
#include <check.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/cli.c"
#include "config/env.c"
#include "config/config.h"
#include "config/pem.h"
#include "config/schema.h"
#include "config/value.h"
#include "test/unit/ck.h"

static struct cfg_errors errs;

/* Every test starts with an empty error list, and must leave every line it
 * caused accounted for: it checks them, then the teardown frees them. */
static void setup(void)
{
	config_errors_init(&errs);
}

static void teardown(void)
{
	config_errors_deinit(&errs);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_null(errs.lines);
}

/* Asserts that errs holds exactly <want>, in order. */
static void expect_lines(const char *const *want, unsigned n)
{
	for (unsigned i = 0; i < errs.n && i < n; i++)
		ck_assert_str_eq(errs.lines[i], want[i]);
	ck_assert_msg(errs.n == n, "%u lines, expected %u; first extra: %s", errs.n, n,
	              errs.n > n ? errs.lines[n] : want[errs.n]);
}

#define EXPECT(...)                                                                                \
	do {                                                                                       \
		static const char *const want_[] = {__VA_ARGS__};                                  \
		expect_lines(want_, ARRAY_SIZE(want_));                                            \
	} while (0)

/* A minimal valid file around <extra> top-level lines (from line 10 on). */
#define BASE                                                                                       \
	"listeners:\n"                                                                             \
	"  - name: l4\n"                                                                           \
	"    bind: 127.0.0.1:8080\n"                                                               \
	"    mode: tcp\n"                                                                          \
	"    pool: app\n"                                                                          \
	"pools:\n"                                                                                 \
	"  - name: app\n"                                                                          \
	"    backends:\n"                                                                          \
	"      - { address: 127.0.0.1:8081 }\n"

/* Loads <yaml> as "t.yaml" and validates it, as config_build() would. */
static struct config *load(const char *yaml)
{
	struct config *c = config_load_string("t.yaml", yaml, &errs);

	if (c && config_validate(c, &errs)) {
		config_free(c);
		c = NULL;
	}
	return c;
}

static struct config *load_ok(const char *yaml)
{
	struct config *c = load(yaml);

	ck_assert_msg(c && errs.n == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	return c;
}

static const struct key *top(const char *path)
{
	const struct key *k = schema_find(schema_top, schema_ntop, path);

	ck_assert_msg(k, "no key %s", path);
	return k;
}

static unsigned top_idx(const char *path)
{
	return top(path) - schema_top;
}

/* ---- values ---- */

static uint64_t size_of(const char *s)
{
	uint64_t v = 0;

	ck_assert_msg(value_size(s, &v) == 0, "%s", s);
	return v;
}

START_TEST(sizes_read_binary_units_in_any_case)
{
	ck_assert_uint_eq(size_of("16KB"), 16384);
	ck_assert_uint_eq(size_of("4GB"), 4ull << 30);
	ck_assert_uint_eq(size_of("512MB"), 512ull << 20);
	ck_assert_uint_eq(size_of("100B"), 100);
	ck_assert_uint_eq(size_of("1KiB"), 1024);
	ck_assert_uint_eq(size_of("4096"), 4096);
	ck_assert_uint_eq(size_of("2tb"), 2ull << 40);
	ck_assert_uint_eq(size_of("8 k"), 8192);
	ck_assert_uint_eq(size_of("0"), 0);
}
END_TEST

START_TEST(sizes_refuse_other_text_and_overflow)
{
	static const char *const bad[] = {"lots", "", "KB", "1.5KB", "16 KBs", "0x10", "1e3"};
	uint64_t v = 7;

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(value_size(bad[i], &v) == -EINVAL, "%s", bad[i]);
	ck_assert_int_eq(value_size("-1KB", &v), -ERANGE);
	ck_assert_int_eq(value_size("99999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(value_size("16777216TB", &v), -ERANGE);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(durations_read_every_unit_in_milliseconds)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {{"250ms", 250},   {"30s", 30000}, {"5m", 300000}, {"1h", 3600000},
	          {"1d", 86400000}, {"0s", 0},      {"10 ms", 10}};
	uint64_t v;

	for (unsigned i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_msg(value_duration(ok[i].s, &v) == 0, "%s", ok[i].s);
		ck_assert_uint_eq(v, ok[i].ms);
	}
}
END_TEST

START_TEST(durations_require_a_unit)
{
	uint64_t v;

	ck_assert_int_eq(value_duration("30", &v), -EINVAL);
	ck_assert_int_eq(value_duration("1w", &v), -EINVAL);
	ck_assert_int_eq(value_duration("1.5s", &v), -EINVAL);
	ck_assert_int_eq(value_duration("soon", &v), -EINVAL);
	ck_assert_int_eq(value_duration("-5s", &v), -ERANGE);
}
END_TEST

START_TEST(numbers_are_plain_decimals)
{
	double d;

	ck_assert_int_eq(value_number("0.8", &d), 0);
	ck_assert_double_eq(d, 0.8);
	ck_assert_int_eq(value_number(".5", &d), 0);
	ck_assert_double_eq(d, 0.5);
	ck_assert_int_eq(value_number("2", &d), 0);
	ck_assert_double_eq(d, 2);
	ck_assert_int_eq(value_number("-0.5", &d), 0); /* the range check refuses it */
	ck_assert_double_eq(d, -0.5);
	ck_assert_int_eq(value_number("0x10", &d), -EINVAL);
	ck_assert_int_eq(value_number("1e3", &d), -EINVAL);
	ck_assert_int_eq(value_number("inf", &d), -EINVAL);
	ck_assert_int_eq(value_number("nan", &d), -EINVAL);
	ck_assert_int_eq(value_number("", &d), -EINVAL);
	ck_assert_int_eq(value_number("0.8.1", &d), -EINVAL);
}
END_TEST

START_TEST(counts_are_unsigned_decimals)
{
	uint64_t v;

	ck_assert_int_eq(value_count("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(value_count("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(value_count("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(value_count("-1", &v), -ERANGE);
	ck_assert_int_eq(value_count("1k", &v), -EINVAL);
	ck_assert_int_eq(value_count("", &v), -EINVAL);
	ck_assert_int_eq(value_count("ten", &v), -EINVAL);
}
END_TEST

START_TEST(addresses_are_numeric_v4_or_bracketed_v6)
{
	struct cfg_addr a;

	ck_assert_int_eq(value_addr("127.0.0.1:8080", &a), 0);
	ck_assert_int_eq(a.ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 8080);
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
	ck_assert_str_eq(a.text, "127.0.0.1:8080");
	ck_assert_int_eq(value_addr("[::1]:80", &a), 0);
	ck_assert_int_eq(a.ss.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 80);
	ck_assert_str_eq(a.text, "[::1]:80");
	ck_assert_int_eq(value_addr("0.0.0.0:65535", &a), 0);
}
END_TEST

START_TEST(addresses_refuse_names_ports_and_bad_brackets)
{
	static const char *const bad[] = {
	    "localhost:80",
	    "127.0.0.1",
	    "127.0.0.1:0",
	    "127.0.0.1:65536",
	    "::1:80",
	    "[::1]80",
	    "1.2.3.4:http",
	    ":80",
	    "[]:80",
	    "300.1.1.1:80",
	    "127.0.0.1:-1",
	    "[::1:80",
	    "",
	    "[127.0.0.1]:80", /* brackets hold IPv6 only */
	    "[::ffff:1.2.3.4:80",
	};
	struct cfg_addr a;

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(value_addr(bad[i], &a) == -EINVAL, "%s", bad[i]);
}
END_TEST

START_TEST(canonical_forms_read_back)
{
	char buf[32];
	uint64_t v;
	double d;

	value_fmt_size(16384, buf, sizeof(buf));
	ck_assert_str_eq(buf, "16KB");
	value_fmt_size(1000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1000B");
	value_fmt_size(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0");
	value_fmt_duration(250, buf, sizeof(buf));
	ck_assert_str_eq(buf, "250ms");
	value_fmt_duration(300000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5m");
	ck_assert_int_eq(value_duration(buf, &v), 0);
	ck_assert_uint_eq(v, 300000);
	value_fmt_number(0.8, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0.8");
	ck_assert_int_eq(value_number(buf, &d), 0);
	ck_assert_double_eq(d, 0.8);
}
END_TEST

START_TEST(statuses_are_codes_and_ranges_of_100_to_599)
{
	uint16_t lo[CFG_STATUS_RANGES], hi[CFG_STATUS_RANGES];

	ck_assert_int_eq(value_statuses("200-399", lo, hi), 1);
	ck_assert(lo[0] == 200 && hi[0] == 399);
	ck_assert_int_eq(value_statuses("200,204,300-399", lo, hi), 3);
	ck_assert(lo[1] == 204 && hi[1] == 204 && lo[2] == 300 && hi[2] == 399);
	ck_assert_int_eq(value_statuses("100,101,102,103,104,105,106,107", NULL, NULL), 8);
	ck_assert_int_eq(value_statuses("100,101,102,103,104,105,106,107,108", NULL, NULL),
	                 -EINVAL);
	static const char *const bad[] = {"",    "200-", "-200", "200,", "399-200", "99",
	                                  "600", "2000", "200 ", " 200", "200;300", "2x0"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(value_statuses(bad[i], NULL, NULL) == -EINVAL, "%s", bad[i]);
}
END_TEST

/* Health keys: HAProxy's defaults, and which checks the keys written
 * turn on. */
START_TEST(health_defaults_and_what_turns_checks_on)
{
	struct config *c = load_ok(
	    "listeners:\n"
	    "  - { name: a, bind: 127.0.0.1:18080, mode: tcp, pool: p }\n"
	    "pools:\n"
	    "  - { name: p, backends: [{ address: 127.0.0.1:1 }] }\n"
	    "  - { name: q, health: { type: http }, backends: [{ address: 127.0.0.1:1 }] }\n"
	    "  - { name: r, health: { passive: { failures: 2 } }, backends: [{ address: 127.0.0.1:1 }] }\n");
	const struct cfg_health *h = &c->pools[0].health;

	ck_assert(!h->enabled && !h->passive.enabled);
	ck_assert(h->type == CFG_CHECK_TCP && h->interval == 2000 && h->timeout == 1000);
	ck_assert(h->rise == 2 && h->fall == 3 && h->jitter == 0.1);
	ck_assert(h->method == CFG_METHOD_GET && !strcmp(h->path, "/") && !h->host && !h->body);
	ck_assert_str_eq(h->status, "200-399");
	ck_assert(h->passive.failures == 5 && h->passive.window == 10000 &&
	          h->passive.down_time == 30000);
	ck_assert(c->pools[1].health.enabled && !c->pools[1].health.passive.enabled);
	ck_assert(c->pools[1].health.type == CFG_CHECK_HTTP);
	ck_assert(!c->pools[2].health.enabled && c->pools[2].health.passive.enabled);
	ck_assert_uint_eq(c->pools[2].health.passive.failures, 2);
	config_free(c);
}
END_TEST

START_TEST(numbers_print_without_an_exponent)
{
	/* %g wrote 10 as "1e+01", which value_number() refuses: a growth
	 * factor of 10 did not read back from --print-config */
	static const struct {
		double v;
		const char *text;
	} cases[] = {{10, "10"}, {80, "80"}, {16, "16"}, {0.00001, "0.00001"}, {1.5, "1.5"}};
	char buf[32];
	double d;

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		value_fmt_number(cases[i].v, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].text);
		ck_assert_int_eq(value_number(buf, &d), 0);
		ck_assert_double_eq(d, cases[i].v);
	}
}
END_TEST

START_TEST(explain_says_what_was_expected)
{
	char buf[256];
	struct config *c = config_new();
	const struct key *k = top("memory_tuning.warning_threshold");

	ck_assert_int_eq(schema_set(k, c, "1.7"), -ERANGE);
	schema_explain(k, "1.7", -ERANGE, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.7 is out of range (expected a ratio in 0..1)");
	ck_assert_int_eq(schema_set(top("logging.level"), c, "loud"), -EINVAL);
	schema_explain(top("logging.level"), "loud", -EINVAL, buf, sizeof(buf));
	ck_assert_str_eq(buf,
	                 "\"loud\" is not a log level (expected error, warning, info or debug)");
	schema_explain(top("memory_tuning.defer_delay"), "10", -EINVAL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"10\" has no unit (expected a duration like 30s or 250ms)");
	ck_assert_double_eq(c->memory_tuning.warning_threshold, 0.8); /* nothing stored */
	config_free(c);
}
END_TEST

/* ---- file errors ---- */

START_TEST(an_unknown_key_is_reported_at_the_key)
{
	ck_assert_ptr_null(load(BASE "\nworkerz: 4\n"));
	EXPECT(
	    "t.yaml:11:1: workerz: unknown key (expected one of: workers, wake_coalesce_us, user, group, admin, upgrade, logging, "
	    "listeners, pools, buffer_pools, memory_limits, memory_tuning)");
}
END_TEST

START_TEST(a_value_of_the_wrong_type_is_reported_at_the_value)
{
	ck_assert_ptr_null(load(BASE "memory_limits:\n  max_total_memory: lots\n"
	                             "memory_tuning:\n  warning_threshold: [1]\n"));
	EXPECT("t.yaml:11:21: memory_limits.max_total_memory: \"lots\" is not a size (expected a "
	       "size in 1MB..64TB, like 16KB or 4GB)",
	       "t.yaml:13:22: memory_tuning.warning_threshold: found a sequence (expected a ratio "
	       "in 0..1)");
}
END_TEST

START_TEST(a_value_out_of_range_is_reported_at_the_value)
{
	ck_assert_ptr_null(load(BASE "memory_tuning:\n  warning_threshold: 1.7\n"));
	EXPECT("t.yaml:11:22: memory_tuning.warning_threshold: 1.7 is out of range (expected a "
	       "ratio in 0..1)");
}
END_TEST

START_TEST(duplicate_listener_and_pool_names_are_reported)
{
	ck_assert_ptr_null(load("listeners:\n"
	                        "  - { name: a, bind: 127.0.0.1:1, mode: tcp, pool: p }\n"
	                        "  - { name: a, bind: 127.0.0.1:2, mode: tcp, pool: p }\n"
	                        "pools:\n"
	                        "  - { name: p, backends: [{ address: 127.0.0.1:3 }] }\n"
	                        "  - { name: p, backends: [{ address: 127.0.0.1:4 }] }\n"));
	EXPECT("t.yaml:3:13: listeners[1].name: \"a\" is already the name of listeners[0] "
	       "(expected a unique listener name)",
	       "t.yaml:6:13: pools[1].name: \"p\" is already the name of pools[0] (expected a "
	       "unique pool name)");
}
END_TEST

START_TEST(a_reference_to_a_missing_pool_is_reported_at_the_reference)
{
	ck_assert_ptr_null(load("listeners:\n"
	                        "  - name: edge\n"
	                        "    bind: 127.0.0.1:8088\n"
	                        "    mode: http\n"
	                        "    pool: web\n"
	                        "    routes:\n"
	                        "      - { path: /api/, pool: api }\n"
	                        "pools:\n"
	                        "  - { name: app, backends: [{ address: 127.0.0.1:3 }] }\n"));
	EXPECT("t.yaml:5:11: listeners[0].pool: no pool is named \"web\" (expected the name of a "
	       "pool in pools)",
	       "t.yaml:7:30: listeners[0].routes[0].pool: no pool is named \"api\" (expected the "
	       "name of a pool in pools)");
}
END_TEST

START_TEST(a_component_limit_above_the_total_is_reported)
{
	ck_assert_ptr_null(load(BASE "memory_limits:\n  max_total_memory: 512MB\n"
	                             "  cache_memory: 1GB\n"));
	EXPECT("t.yaml:12:17: memory_limits.cache_memory: 1GB is above "
	       "memory_limits.max_total_memory 512MB (expected cache_memory <= max_total_memory)");
}
END_TEST

START_TEST(thresholds_out_of_order_are_reported)
{
	ck_assert_ptr_null(load(BASE "memory_tuning:\n  critical_threshold: 0.7\n"));
	EXPECT("t.yaml:11:23: memory_tuning.critical_threshold: 0.7 is not above "
	       "memory_tuning.warning_threshold 0.8 (expected warning_threshold < "
	       "critical_threshold)",
	       "t.yaml:11:23: memory_tuning.critical_threshold: 0.7 is not above "
	       "memory_tuning.backpressure_start 0.85 (expected backpressure_start < "
	       "critical_threshold)");
}
END_TEST

START_TEST(a_missing_required_key_is_reported_at_its_element)
{
	ck_assert_ptr_null(load("listeners:\n"
	                        "  - name: l4\n"
	                        "    mode: tcp\n"
	                        "    pool: app\n"
	                        "pools:\n"
	                        "  - name: app\n"));
	EXPECT("t.yaml:2:5: listeners[0]: missing key \"bind\" (expected every listener to have "
	       "name, bind and mode)",
	       "t.yaml:6:5: pools[0]: missing key \"backends\" or \"discovery\" (expected one of "
	       "them for a pool)");
}
END_TEST

START_TEST(every_error_of_a_file_is_reported_in_file_order)
{
	ck_assert_ptr_null(config_load("test/configs/bad/many_errors.yaml", &errs));
	ck_assert_uint_eq(errs.n, 12);
	ck_assert_uint_eq(errs.nerr, 12);
	for (unsigned i = 1; i < errs.n; i++) {
		unsigned long a = strtoul(strchr(errs.lines[i - 1], ':') + 1, NULL, 10);
		unsigned long b = strtoul(strchr(errs.lines[i], ':') + 1, NULL, 10);

		ck_assert_uint_le(a, b);
	}
	config_errors_deinit(&errs);
}
END_TEST

/* <n> times <s>, then <m> times <t>, between <pre> and <post>, as a new string. */
static char *repeat(const char *pre, const char *s, unsigned n, const char *t, unsigned m,
                    const char *post)
{
	size_t len = strlen(pre) + n * strlen(s) + m * strlen(t) + strlen(post) + 1;
	char *out = malloc(len), *o = out;

	ck_assert_ptr_nonnull(out);
	o = stpcpy(o, pre);
	for (unsigned i = 0; i < n; i++)
		o = stpcpy(o, s);
	for (unsigned i = 0; i < m; i++)
		o = stpcpy(o, t);
	strcpy(o, post);
	return out;
}

START_TEST(nesting_deeper_than_64_is_refused_fast)
{
	/* 40,000 levels took 4.7 s in libyaml before the depth was bounded */
	char *yaml =
	    repeat(BASE "memory_tuning:\n  warning_threshold: ", "[", 40000, "]", 40000, "\n");
	char *want = repeat("t.yaml:11:84: memory_tuning.warning_threshold", "[0]", 62, "", 0,
	                    ": nesting deeper than 64 (expected at most 64 nested mappings "
	                    "and sequences)");
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_ptr_null(load(yaml));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	expect_lines((const char *const[]){want}, 1);
	ck_assert_double_lt((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, 1.0);
	free(yaml);
	free(want);
}
END_TEST

START_TEST(nesting_of_64_levels_is_read)
{
	/* the root, memory_tuning, then 62 sequences: 64 levels */
	char *yaml = repeat(BASE "memory_tuning:\n  warning_threshold: ", "[", 62, "]", 62, "\n");

	ck_assert_ptr_null(load(yaml));
	EXPECT("t.yaml:11:22: memory_tuning.warning_threshold: found a sequence (expected a ratio "
	       "in 0..1)");
	free(yaml);
}
END_TEST

START_TEST(a_name_repeated_by_every_listener_is_reported_once_each_and_fast)
{
	/* 300 aliases of one listener (3 KB) took 93 s: one line per earlier
	 * listener (n^2 / 2 of them), and an insertion sort that moved each
	 * name line past every bind line, all at the alias's two positions. */
	char *yaml =
	    repeat("pools:\n  - {name: p, backends: [{address: 127.0.0.1:9}]}\n"
	           "listeners:\n  - &l {name: a, bind: 127.0.0.1:8080, mode: tcp, pool: p}\n",
	           "  - *l\n", 999, "", 0, "");
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_ptr_null(load(yaml));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_eq(errs.n, 2 * 999); /* the name and bind of listeners 1..999 */
	ck_assert_str_eq(errs.lines[0], "t.yaml:4:15: listeners[1].name: \"a\" is already the name "
	                                "of listeners[0] (expected a unique listener name)");
	ck_assert_str_eq(errs.lines[998], "t.yaml:4:15: listeners[999].name: \"a\" is already the "
	                                  "name of listeners[0] (expected a unique listener name)");
	ck_assert_str_eq(errs.lines[999],
	                 "t.yaml:4:24: listeners[1].bind: 127.0.0.1:8080 conflicts "
	                 "with listeners[0] bind 127.0.0.1:8080 (expected a unique "
	                 "address and port)");
	ck_assert_double_lt((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, 1.0);
	config_errors_deinit(&errs);
	free(yaml);
}
END_TEST

START_TEST(a_control_byte_in_a_key_or_value_is_escaped_in_its_line)
{
	ck_assert_ptr_null(load(BASE "\"work\\ters\": 1\nworkers: \"1\\n2\"\n"));
	EXPECT(
	    "t.yaml:10:1: \"work\\x09ers\": unknown key (expected one of: workers, wake_coalesce_us, user, group, admin, upgrade, logging, "
	    "listeners, pools, buffer_pools, memory_limits, memory_tuning)",
	    "t.yaml:11:10: workers: \"1\\n2\" is not a count (expected auto or a count in "
	    "0..4096)");
}
END_TEST

START_TEST(a_long_value_is_cut_so_its_line_ends_with_what_was_expected)
{
	char *yaml = repeat(BASE "logging:\n  level: ", "x", 1000, "", 0, "\n");
	char *want = repeat("t.yaml:11:10: logging.level: \"", "x", 64, "", 0,
	                    "...\" is not a log level (expected error, warning, info or debug)");

	ck_assert_ptr_null(load(yaml));
	expect_lines((const char *const[]){want}, 1);
	free(yaml);
	free(want);
}
END_TEST

START_TEST(an_unreadable_file_is_one_error)
{
	ck_assert_ptr_null(config_load("test/configs/no-such-file.yaml", &errs));
	EXPECT("test/configs/no-such-file.yaml: cannot read: No such file or directory (expected "
	       "a readable config file)");
}
END_TEST

START_TEST(a_fifo_is_refused_without_waiting_for_a_writer)
{
	char dir[] = "/tmp/rlb-fifo-XXXXXX", fifo[64], yaml[256], want[512];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/body", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(yaml, sizeof(yaml),
	         "listeners:\n  - name: s\n    bind: 127.0.0.1:8080\n    mode: static\n"
	         "    file: %s\n",
	         fifo);
	ck_assert_ptr_null(load(yaml)); /* blocked in open() before */
	snprintf(want, sizeof(want),
	         "t.yaml:5:11: listeners[0].file: \"%s\" is not a regular file (expected a "
	         "readable file)",
	         fifo);
	expect_lines((const char *const[]){want}, 1);
	config_errors_deinit(&errs);
	ck_assert_ptr_null(config_load(fifo, &errs));
	snprintf(want, sizeof(want),
	         "%s: cannot read: not a regular file (expected a readable config file)", fifo);
	expect_lines((const char *const[]){want}, 1);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

static glob_t bad_files;

/* Reads <path> into lines (without newlines); returns how many. */
static unsigned read_lines(const char *path, char ***out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, **v = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned n = 0;

	ck_assert_msg(f, "cannot open %s", path);
	while ((len = getline(&line, &cap, f)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	*out = v;
	return n;
}

START_TEST(each_bad_config_reports_exactly_its_expected_lines)
{
	const char *yaml = bad_files.gl_pathv[_i];
	char expect[PATH_MAX], **want;
	struct config *c;
	unsigned n;

	snprintf(expect, sizeof(expect), "%.*s.expect", (int)(strlen(yaml) - 5), yaml);
	n = read_lines(expect, &want);
	ck_assert_msg(n > 0, "%s is empty", expect);
	c = config_load(yaml, &errs);
	if (c)
		config_validate(c, &errs);
	config_free(c);
	expect_lines((const char *const *)want, n);
	ck_assert_uint_eq(errs.nerr, n);
	for (unsigned i = 0; i < n; i++)
		free(want[i]);
	free(want);
	config_errors_deinit(&errs);
}
END_TEST

START_TEST(there_are_at_least_twenty_bad_configs)
{
	ck_assert_uint_ge(bad_files.gl_pathc, 20);
	for (size_t i = 0; i < bad_files.gl_pathc; i++) {
		char expect[PATH_MAX];
		const char *yaml = bad_files.gl_pathv[i];

		snprintf(expect, sizeof(expect), "%.*s.expect", (int)(strlen(yaml) - 5), yaml);
		ck_assert_msg(access(expect, R_OK) == 0, "%s has no .expect", yaml);
	}
}
END_TEST

START_TEST(the_example_config_sets_every_key_and_validates)
{
	struct config *c = config_load("config/examples/ringlb.yaml", &errs);
	bool algo[CFG_NALGO] = {false};
	bool modes[3] = {false};

	ck_assert_msg(c && errs.n == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	ck_assert_int_eq(config_validate(c, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	for (unsigned i = 0; i < schema_ntop; i++) {
		const struct key *k = &schema_top[i];

		if (k->type != KT_LIST && !(k->flags & K_NOFILE))
			ck_assert_msg(c->keys[i].src == CFG_SRC_FILE, "%s not in the example",
			              k->path);
	}
	for (unsigned i = 0; i < c->npools; i++)
		algo[c->pools[i].algorithm] = true;
	for (unsigned i = 0; i < CFG_NALGO; i++)
		ck_assert_msg(algo[i], "no pool uses %s", config_algo_name(i));
	for (unsigned i = 0; i < c->nlisteners; i++)
		modes[c->listeners[i].mode] = true;
	ck_assert(modes[LMODE_TCP] && modes[LMODE_HTTP] && modes[LMODE_STATIC]);
	ck_assert_uint_eq(c->listeners[0].nroutes, 2);
	ck_assert_int_eq(c->listeners[0].routes[0].pool_idx, config_pool_index(c, "api"));
	ck_assert_uint_eq(c->listeners[0].timeouts.idle, 120000);
	ck_assert_uint_eq(c->listeners[1].timeouts.idle, 600000);
	ck_assert_uint_eq(c->listeners[2].timeouts.idle, 300000); /* derived */
	config_free(c);
}
END_TEST

/* ---- environment ---- */

START_TEST(a_full_environment_name_sets_its_key)
{
	char *env[] = {"RINGLB_MEMORY_TUNING_WARNING_THRESHOLD=0.7",
	               "RINGLB_BUFFER_POOLS_SMALL_BUFFERS_INITIAL_COUNT=50", NULL};
	struct config *c = config_new();
	unsigned i = top_idx("memory_tuning.warning_threshold");

	ck_assert_int_eq(config_apply_env(c, env, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_double_eq(c->memory_tuning.warning_threshold, 0.7);
	ck_assert_uint_eq(c->buffer_pools[BUF_SMALL].initial_count, 50);
	ck_assert_uint_eq(c->keys[i].src, CFG_SRC_ENV);
	ck_assert_uint_eq(c->keys[i].env_short, 0);
	config_free(c);
}
END_TEST

START_TEST(a_short_environment_name_sets_its_key)
{
	char *env[] = {"RINGLB_WARNING_THRESHOLD=0.75",
	               "RINGLB_MAX_TOTAL_MEMORY=4GB",
	               "RINGLB_IDLE_CONNECTION_TIMEOUT=120s",
	               "RINGLB_WORKERS=4",
	               "RINGLB_LOG_LEVEL=debug",
	               NULL};
	struct config *c = load_ok(BASE);
	unsigned i = top_idx("memory_tuning.warning_threshold");

	ck_assert_int_eq(config_apply_env(c, env, &errs), 0);
	ck_assert_int_eq(config_validate(c, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_double_eq(c->memory_tuning.warning_threshold, 0.75);
	ck_assert_uint_eq(c->keys[i].src, CFG_SRC_ENV);
	ck_assert_uint_eq(c->keys[i].env_short, 1);
	ck_assert_uint_eq(c->memory_limits.max_total_memory, 4ull << 30);
	ck_assert_uint_eq(c->memory_tuning.idle_connection_timeout, 120000);
	ck_assert_uint_eq(c->listeners[0].timeouts.idle, 120000); /* derived again */
	ck_assert_uint_eq(c->workers, 4);
	ck_assert_int_eq(c->log_level, LOG_LVL_DEBUG);
	config_free(c);
}
END_TEST

START_TEST(the_full_name_wins_over_the_short_one)
{
	char *env[] = {"RINGLB_MEMORY_TUNING_WARNING_THRESHOLD=0.7", "RINGLB_WARNING_THRESHOLD=0.6",
	               NULL};
	struct config *c = config_new();

	ck_assert_int_eq(config_apply_env(c, env, &errs), 0);
	ck_assert_double_eq(c->memory_tuning.warning_threshold, 0.7);
	EXPECT("ringlb: warning: RINGLB_WARNING_THRESHOLD: ignored, "
	       "RINGLB_MEMORY_TUNING_WARNING_THRESHOLD is also set (expected one name per key)");
	ck_assert_uint_eq(errs.nerr, 0);
	config_free(c);
}
END_TEST

START_TEST(a_bad_environment_value_names_the_variable)
{
	char *env[] = {"RINGLB_WARNING_THRESHOLD=1.7", "RINGLB_WORKERS=2",
	               "RINGLB_MEMORY_LIMITS_CACHE_MEMORY=some", NULL};
	struct config *c = config_new();

	ck_assert_int_eq(config_apply_env(c, env, &errs), -EINVAL);
	/* in the schema's order, whatever the environment's */
	EXPECT("RINGLB_MEMORY_LIMITS_CACHE_MEMORY: \"some\" is not a size (expected a size in "
	       "0..64TB, like 16KB or 4GB)",
	       "RINGLB_WARNING_THRESHOLD: 1.7 is out of range (expected a ratio in 0..1)");
	ck_assert_double_eq(c->memory_tuning.warning_threshold, 0.8);
	ck_assert_uint_eq(c->keys[top_idx("memory_tuning.warning_threshold")].src, CFG_SRC_DEFAULT);
	ck_assert_uint_eq(c->workers, 2); /* good values apply either way */
	config_free(c);
}
END_TEST

START_TEST(a_cross_key_error_names_the_variable_that_broke_it)
{
	char *env[] = {"RINGLB_CRITICAL_THRESHOLD=0.9", NULL};
	struct config *c = load_ok(BASE "memory_tuning:\n  backpressure_start: 0.92\n");

	config_apply_env(c, env, &errs);
	ck_assert_int_eq(config_validate(c, &errs), -EINVAL);
	EXPECT("RINGLB_CRITICAL_THRESHOLD: memory_tuning.critical_threshold: 0.9 is not above "
	       "memory_tuning.backpressure_start 0.92 (expected backpressure_start < "
	       "critical_threshold)");
	config_free(c);
}
END_TEST

START_TEST(an_unknown_ringlb_variable_is_a_warning)
{
	char *env[] = {"RINGLB_WORKER=4", "RINGLB_ALONE", NULL};
	struct config *c = config_new();

	ck_assert_int_eq(config_apply_env(c, env, &errs), 0);
	EXPECT("ringlb: warning: RINGLB_WORKER: unknown variable, ignored (expected the name of a "
	       "key, see config/KEYS.md)");
	ck_assert_uint_eq(errs.nerr, 0);
	ck_assert_uint_eq(c->workers, 0);
	config_free(c);
}
END_TEST

START_TEST(variables_that_are_not_keys_pass_silently)
{
	char *env[] = {"RINGLB_NUMA_FAKE=2", "RLB_BIN=/x/ringlb", "PATH=/bin",
	               "RINGLB=1",           "ringlb_workers=3",  NULL};
	struct config *c = config_new();

	ck_assert_int_eq(config_apply_env(c, env, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(c->workers, 0);
	config_free(c);
}
END_TEST

START_TEST(environment_names_follow_the_contract_and_are_unique)
{
	const char *seen[2 * CFG_MAX_KEYS];
	unsigned n = 0;

	ck_assert_str_eq(schema_env_full(top_idx("memory_tuning.warning_threshold")),
	                 "RINGLB_MEMORY_TUNING_WARNING_THRESHOLD");
	ck_assert_str_eq(schema_env_full(top_idx("buffer_pools.small_buffers.initial_count")),
	                 "RINGLB_BUFFER_POOLS_SMALL_BUFFERS_INITIAL_COUNT");
	ck_assert_ptr_null(schema_env_short(top_idx("buffer_pools.small_buffers.initial_count")));
	ck_assert_str_eq(schema_env_short(top_idx("memory_tuning.warning_threshold")),
	                 "RINGLB_WARNING_THRESHOLD");
	ck_assert_str_eq(schema_env_short(top_idx("memory_limits.max_total_memory")),
	                 "RINGLB_MAX_TOTAL_MEMORY");
	ck_assert_str_eq(schema_env_short(top_idx("memory_tuning.idle_connection_timeout")),
	                 "RINGLB_IDLE_CONNECTION_TIMEOUT");
	ck_assert_str_eq(schema_env_full(top_idx("workers")), "RINGLB_WORKERS");
	ck_assert_str_eq(schema_env_short(top_idx("logging.level")), "RINGLB_LOG_LEVEL");
	ck_assert_ptr_null(schema_env_full(top_idx("cpus")));
	for (unsigned i = 0; i < schema_ntop; i++) {
		const char *names[] = {schema_env_full(i), schema_env_short(i)};

		for (unsigned j = 0; j < 2; j++) {
			if (!names[j])
				continue;
			for (unsigned m = 0; m < n; m++)
				ck_assert_str_ne(seen[m], names[j]);
			ck_assert(!env_is_direct(names[j], strlen(names[j])));
			seen[n++] = names[j];
		}
	}
	ck_assert_uint_gt(n, 40);
}
END_TEST

/* ---- command line ---- */

/* Output of a file descriptor while a test step runs. */
struct capture {
	int fd, saved;
	FILE *tmp;
	char buf[8192];
};

static void capture_begin(struct capture *cp, int fd)
{
	fflush(NULL);
	cp->fd = fd;
	cp->tmp = tmpfile();
	ck_assert_ptr_nonnull(cp->tmp);
	cp->saved = dup(fd);
	dup2(fileno(cp->tmp), fd);
}

static const char *capture_end(struct capture *cp)
{
	ssize_t n;

	fflush(NULL);
	dup2(cp->saved, cp->fd);
	close(cp->saved);
	n = pread(fileno(cp->tmp), cp->buf, sizeof(cp->buf) - 1, 0);
	cp->buf[n > 0 ? n : 0] = '\0';
	fclose(cp->tmp);
	return cp->buf;
}

/* cli_parse() on a NULL-terminated argument list, argv[0] included. */
static int parse(struct cli_opts *o, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return cli_parse(argc, argv, o);
}

START_TEST(cli_parse_reads_every_flag)
{
	char *argv[] = {"ringlb", "-c",        "x.yaml",  "--workers", "4", "--cpus",
	                "0-3",    "--nodes",   "0",       "--pidfile", "p", "--log-level",
	                "debug",  "--seed=42", "--check", NULL};
	struct cli_opts o;

	ck_assert_int_eq(parse(&o, argv), 0);
	ck_assert_str_eq(o.config, "x.yaml");
	ck_assert_str_eq(o.workers, "4");
	ck_assert_str_eq(o.cpus, "0-3");
	ck_assert_str_eq(o.nodes, "0");
	ck_assert_str_eq(o.pidfile, "p");
	ck_assert_str_eq(o.log_level, "debug");
	ck_assert_str_eq(o.seed, "42");
	ck_assert(o.check && !o.print_config);
	ck_assert_int_eq(parse(&o, (char *[]){"ringlb", "--config=y.yaml", "--print-config", NULL}),
	                 0);
	ck_assert_str_eq(o.config, "y.yaml");
	ck_assert(o.print_config && !o.check && !o.workers);
}
END_TEST

START_TEST(version_and_help_print_and_stop)
{
	struct capture cp;
	struct cli_opts o;

	capture_begin(&cp, STDOUT_FILENO);
	ck_assert_int_eq(parse(&o, (char *[]){"ringlb", "--version", NULL}), 1);
	ck_assert_str_eq(capture_end(&cp), "ringlb 0.1.0\n");
	capture_begin(&cp, STDOUT_FILENO);
	ck_assert_int_eq(parse(&o, (char *[]){"ringlb", "-h", NULL}), 1);
	ck_assert_ptr_nonnull(strstr(capture_end(&cp), "--print-config"));
}
END_TEST

START_TEST(a_usage_error_is_one_line)
{
	static const struct {
		char *argv[4];
		const char *line;
	} cases[] = {
	    {{"ringlb", "--nope", NULL},
	     "ringlb: error: unknown option --nope (see ringlb --help)\n"},
	    {{"ringlb", "-x", NULL}, "ringlb: error: unknown option -x (see ringlb --help)\n"},
	    {{"ringlb", "--workers", NULL},
	     "ringlb: error: --workers needs an argument (see ringlb --help)\n"},
	    {{"ringlb", "-c", NULL}, "ringlb: error: -c needs an argument (see ringlb --help)\n"},
	    {{"ringlb", "--check=yes", NULL},
	     "ringlb: error: --check takes no argument (see ringlb --help)\n"},
	    {{"ringlb", "run", NULL},
	     "ringlb: error: unexpected argument \"run\" (see ringlb --help)\n"},
	    {{"ringlb", "--check", "--print-config", NULL},
	     "ringlb: error: --check and --print-config exclude each other (see ringlb --help)\n"},
	    {{"ringlb", "--pidfile=", NULL},
	     "ringlb: error: --pidfile needs a file name (see ringlb --help)\n"},
	};
	struct capture cp;
	struct cli_opts o;

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		capture_begin(&cp, STDERR_FILENO);
		ck_assert_int_eq(parse(&o, (char **)cases[i].argv), -EINVAL);
		ck_assert_str_eq(capture_end(&cp), cases[i].line);
	}
}
END_TEST

START_TEST(a_bad_flag_value_names_the_flag)
{
	struct cli_opts o = {.workers = "abc", .log_level = "loud", .cpus = "3-1", .seed = "-4"};
	struct config *c = config_new();

	ck_assert_int_eq(config_apply_cli(c, &o, &errs), -EINVAL);
	EXPECT("--workers: \"abc\" is not a count (expected auto or a count in 0..4096)",
	       "--cpus: \"3-1\" is not a list: \"3-1\": range is not ascending (expected a list "
	       "like 0-7,16-23)",
	       "--log-level: \"loud\" is not a log level (expected error, warning, info or debug)",
	       "--seed: -4 is out of range (expected a count in 0..18446744073709551615)");
	ck_assert_uint_eq(c->workers, 0);
	ck_assert_ptr_null(c->cpus);
	config_free(c);
}
END_TEST

START_TEST(every_key_flag_is_parsed_and_applied)
{
	unsigned n = 0;

	for (unsigned i = 0; i < schema_ntop; i++) {
		bool mapped = false, parsed = false;

		if (!schema_top[i].cli)
			continue;
		n++;
		for (unsigned j = 0; j < ARRAY_SIZE(cli_keys); j++)
			mapped |= strcmp(cli_keys[j].flag, schema_top[i].cli) == 0;
		for (unsigned j = 0; cli_longopts[j].name; j++)
			parsed |= strcmp(cli_longopts[j].name, schema_top[i].cli + 2) == 0;
		ck_assert_msg(mapped && parsed, "%s", schema_top[i].cli);
	}
	ck_assert_uint_eq(n, ARRAY_SIZE(cli_keys));
}
END_TEST

START_TEST(precedence_is_flag_over_environment_over_file_over_default)
{
	char *env[] = {"RINGLB_WORKERS=3", "RINGLB_WARNING_THRESHOLD=0.75", NULL};
	struct cli_opts o = {.workers = "4", .seed = "7"};
	struct config *c = load_ok(BASE "workers: 2\nlogging: { level: warning }\n"
	                                "memory_tuning: { warning_threshold: 0.7 }\n");

	ck_assert_int_eq(config_apply_env(c, env, &errs), 0);
	ck_assert_int_eq(config_apply_cli(c, &o, &errs), 0);
	ck_assert_int_eq(config_validate(c, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(c->workers, 4);
	ck_assert_uint_eq(c->keys[top_idx("workers")].src, CFG_SRC_CLI);
	ck_assert_double_eq(c->memory_tuning.warning_threshold, 0.75);
	ck_assert_uint_eq(c->keys[top_idx("memory_tuning.warning_threshold")].src, CFG_SRC_ENV);
	ck_assert_int_eq(c->log_level, LOG_LVL_WARN);
	ck_assert_uint_eq(c->keys[top_idx("logging.level")].src, CFG_SRC_FILE);
	ck_assert_uint_eq(c->keys[top_idx("logging.level")].line, 11);
	ck_assert_uint_eq(c->keys[top_idx("logging.level")].col, 19);
	ck_assert_double_eq(c->memory_tuning.critical_threshold, 0.95);
	ck_assert_uint_eq(c->keys[top_idx("memory_tuning.critical_threshold")].src,
	                  CFG_SRC_DEFAULT);
	ck_assert_uint_eq(c->seed, 7);
	config_free(c);
}
END_TEST

START_TEST(config_build_runs_every_step_and_reports_every_error)
{
	char *env[] = {"RINGLB_DEFER_DELAY=1h", NULL};
	struct cli_opts o = {.config = "config/examples/ringlb.yaml", .workers = "9999"};
	struct config *c;

	ck_assert_ptr_null(config_build(&o, env, &errs));
	EXPECT("RINGLB_DEFER_DELAY: 1h is out of range (expected a duration in 1ms..1m, like 30s "
	       "or 250ms)",
	       "--workers: 9999 is out of range (expected auto or a count in 0..4096)");
	config_errors_deinit(&errs);
	o.workers = "2";
	c = config_build(&o, env + 1, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(c->workers, 2);
	ck_assert_str_eq(c->path, "config/examples/ringlb.yaml");
	config_free(c);
	o = (struct cli_opts){0};
	c = config_build(&o, env + 1, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->path);
	config_free(c);
	o.config = "test/configs/bad/ratio_out_of_range.yaml";
	ck_assert_ptr_null(config_build(&o, env + 1, &errs));
	ck_assert_uint_eq(errs.nerr, 1);
	config_errors_deinit(&errs);
}
END_TEST

/* The text a FILE * function writes. Free it. */
static char *print_to_string(void (*fn)(const struct config *, FILE *), const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fn(c, f);
	fclose(f);
	return buf;
}

START_TEST(the_check_summary_counts_listeners_pools_and_backends)
{
	struct config *c = config_load("config/examples/ringlb.yaml", &errs);
	char *s = print_to_string(config_print_summary, c);

	ck_assert_ptr_nonnull(strstr(s, "listener edge: http 127.0.0.1:8088 -> pool web, 2 routes, "
	                                "access log stderr (text), max_connections 10000\n"));
	ck_assert_ptr_nonnull(strstr(s, "pool db: maglev, 2 backends\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nconfig/examples/ringlb.yaml: ok: 5 listeners, 7 pools, "
	                                "11 backends, workers auto\n"));
	ck_assert_ptr_nonnull(strstr(s, "pool registry: maglev, backends from DNS SRV "
	                                "_http._tcp.api.service.consul\n"));
	free(s);
	config_free(c);
	c = config_builtin();
	s = print_to_string(config_print_summary, c);
	ck_assert_ptr_nonnull(
	    strstr(s, "\n<built-in>: ok: 4 listeners, 1 pool, 2 backends, workers auto\n"));
	free(s);
	config_free(c);
}
END_TEST

/* ---- the built-in config ---- */

START_TEST(the_builtin_config_is_the_demo_at_default_values)
{
	struct config *c = config_builtin(), *d = config_new();

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->path);
	ck_assert_int_eq(config_validate(c, &errs), 0);
	ck_assert_uint_eq(c->nlisteners, 4);
	ck_assert_str_eq(c->listeners[3].name, "web");
	ck_assert_str_eq(c->listeners[3].bind.text, "127.0.0.1:8088");
	ck_assert_int_eq(c->listeners[3].mode, LMODE_HTTP);
	ck_assert_int_eq(c->listeners[3].pool_idx, 0);
	ck_assert_str_eq(c->listeners[0].name, "l4");
	ck_assert_str_eq(c->listeners[0].bind.text, "127.0.0.1:8080");
	ck_assert_int_eq(c->listeners[0].mode, LMODE_TCP);
	ck_assert_int_eq(c->listeners[0].splice, SPLICE_AUTO);
	ck_assert_int_eq(c->listeners[0].pool_idx, 0);
	ck_assert_str_eq(c->listeners[1].name, "demo-a");
	ck_assert_str_eq(c->listeners[1].bind.text, "127.0.0.1:8081");
	ck_assert_int_eq(c->listeners[1].mode, LMODE_STATIC);
	ck_assert_uint_eq(c->listeners[1].body_len, 18);
	ck_assert_str_eq(c->listeners[1].body, "hello from demo-a\n");
	ck_assert_str_eq(c->listeners[2].bind.text, "127.0.0.1:8082");
	ck_assert_str_eq(c->listeners[2].body, "hello from demo-b\n");
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_uint_eq(c->listeners[i].max_connections, 1024);
		ck_assert_uint_eq(c->listeners[i].timeouts.idle, 300000);
	}
	ck_assert_uint_eq(c->npools, 1);
	ck_assert_str_eq(c->pools[0].name, "demo");
	ck_assert_int_eq(c->pools[0].algorithm, CFG_ALGO_ROUND_ROBIN);
	ck_assert_uint_eq(c->pools[0].nbackends, 2);
	ck_assert_str_eq(c->pools[0].backends[0].address.text, "127.0.0.1:8081");
	ck_assert_str_eq(c->pools[0].backends[1].address.text, "127.0.0.1:8082");
	ck_assert_uint_eq(c->pools[0].backends[1].weight, 1);
	for (unsigned i = 0; i < BUF_NCLASS; i++) {
		ck_assert_uint_eq(c->buffer_pools[i].initial_count,
		                  d->buffer_pools[i].initial_count / 10);
		ck_assert_uint_eq(c->buffer_pools[i].max_count, d->buffer_pools[i].max_count);
	}
	ck_assert_uint_eq(c->buffer_pools[BUF_GIANT].initial_count, 1);
	ck_assert_mem_eq(&c->memory_limits, &d->memory_limits, sizeof(d->memory_limits));
	ck_assert_mem_eq(&c->memory_tuning, &d->memory_tuning, sizeof(d->memory_tuning));
	ck_assert_uint_eq(c->workers, 0);
	for (unsigned i = 0; i < schema_ntop; i++)
		ck_assert_uint_eq(c->keys[i].src, CFG_SRC_DEFAULT);
	config_free(d);
	config_free(c);
}
END_TEST

START_TEST(print_config_of_the_builtin_says_default_everywhere)
{
	struct config *c = config_builtin();
	char *s = print_to_string(config_print, c), *save = NULL;
	unsigned n = 0;

	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		ck_assert_msg(strstr(line, "  # default"), "%s", line);
		n++;
	}
	/* a listener's two lists (routes, tls.certificates) print one "[]" line each */
	ck_assert_uint_eq(n, (schema_ntop - 2) + 4 * (schema_listeners.nkeys - 2) + 4 * 2 +
	                         (schema_pools.nkeys - 1) + 2 * schema_backends.nkeys);
	free(s);
	config_free(c);
}
END_TEST

/* ---- --print-config ---- */

START_TEST(print_config_shows_each_value_and_its_source)
{
	char *env[] = {"RINGLB_WARNING_THRESHOLD=0.75", NULL};
	struct cli_opts o = {.workers = "4"};
	struct config *c = load_ok("logging:\n  level: warning\n" BASE
	                           "      - { address: 127.0.0.2:8081, weight: 2 }\n");
	char *s;

	config_apply_env(c, env, &errs);
	config_apply_cli(c, &o, &errs);
	ck_assert_uint_eq(errs.n, 0);
	s = print_to_string(config_print, c);
	ck_assert_ptr_nonnull(strstr(s, "# ringlb effective configuration: t.yaml\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nworkers = 4  # --workers\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlogging.level = warning  # t.yaml:2\n"));
	ck_assert_ptr_nonnull(
	    strstr(s, "\nmemory_tuning.warning_threshold = 0.75  # RINGLB_WARNING_THRESHOLD\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nmemory_tuning.critical_threshold = 0.95  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nmemory_limits.max_total_memory = 512MB  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].bind = 127.0.0.1:8080  # t.yaml:5\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].routes = []  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].timeouts.idle = 5m  # default "
	                                "(memory_tuning.idle_connection_timeout)\n"));
	ck_assert_ptr_nonnull(strstr(s, "\npools[0].backends[1].weight = 2  # t.yaml:12\n"));
	ck_assert_ptr_nonnull(strstr(s, "\npools[0].backends[1].max_connections = 0  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\ncpus = (all)  # default\n"));
	free(s);
	config_free(c);
}
END_TEST

/* ---- TLS ---- */

#define DEMO "config/examples/tls/"

/* An http listener with TLS from the demo certificates, then <extra>
 * lines of its tls mapping (from line 8 on). */
#define TLS_HTTP(extra)                                                                            \
	"listeners:\n"                                                                             \
	"  - name: edge\n"                                                                         \
	"    bind: 127.0.0.1:8443\n"                                                               \
	"    mode: http\n"                                                                         \
	"    pool: app\n"                                                                          \
	"    tls:\n"                                                                               \
	"      cert: " DEMO "server.crt\n"                                                         \
	"      key: " DEMO "server.key\n" extra "pools:\n"                                         \
	"  - name: app\n"                                                                          \
	"    backends:\n"                                                                          \
	"      - { address: 127.0.0.1:8081 }\n"

START_TEST(tls_keys_have_their_defaults_and_tls_is_off_without_them)
{
	struct config *c = load_ok(BASE);
	const struct cfg_tls *t = &c->listeners[0].tls;

	ck_assert(!t->enabled);
	ck_assert_ptr_null(t->cert);
	ck_assert_uint_eq(t->ncertificates, 0);
	ck_assert_int_eq(t->min_version, CFG_TLS_1_2);
	ck_assert_ptr_null(t->ciphers);
	ck_assert_ptr_null(t->ciphersuites);
	ck_assert_uint_eq(t->alpn.n, 0); /* no tls: no derived default either */
	ck_assert_ptr_null(t->client_ca);
	ck_assert_int_eq(t->verify_client, CFG_VERIFY_CLIENT_NONE);
	ck_assert(t->session_tickets && t->session_cache);
	ck_assert_uint_eq(t->ticket_key_rotation, 12 * 3600 * 1000);
	ck_assert_uint_eq(t->session_lifetime, 5 * 60 * 1000);
	ck_assert_uint_eq(t->sni_cache_size, 1000);
	ck_assert_uint_eq(c->listeners[0].timeouts.handshake, 10000);
	ck_assert(!c->pools[0].tls.enabled);
	ck_assert_int_eq(c->pools[0].tls.verify, CFG_VERIFY_PEER);
	ck_assert_ptr_null(c->pools[0].tls.ca);
	config_free(c);
}
END_TEST

START_TEST(the_builtin_config_has_no_tls)
{
	struct config *c = config_builtin();

	for (unsigned i = 0; i < c->nlisteners; i++)
		ck_assert(!c->listeners[i].tls.enabled);
	ck_assert(!c->pools[0].tls.enabled);
	config_free(c);
}
END_TEST

START_TEST(every_listener_tls_key_is_parsed)
{
	struct config *c = load_ok(
	    TLS_HTTP("      certificates:\n"
	             "        - { cert: " DEMO "server-rsa.crt, key: " DEMO "server-rsa.key }\n"
	             "        - cert: " DEMO "server.crt\n"
	             "          key: " DEMO "server.key\n"
	             "      min_version: 1.3\n"
	             "      ciphers: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n"
	             "      ciphersuites: TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\n"
	             "      alpn: [http/1.1, http/1.0]\n"
	             "      client_ca: " DEMO "ca.crt\n"
	             "      verify_client: optional\n"
	             "      session_tickets: no\n"
	             "      session_cache: off\n"
	             "      ticket_key_rotation: 1h\n"
	             "      session_lifetime: 2h\n"
	             "      sni_cache_size: 100\n"
	             "    timeouts: { handshake: 3s }\n"));
	const struct cfg_tls *t = &c->listeners[0].tls;

	ck_assert(t->enabled);
	ck_assert_str_eq(t->cert, DEMO "server.crt");
	ck_assert_str_eq(t->key, DEMO "server.key");
	ck_assert_uint_eq(t->ncertificates, 2);
	ck_assert_str_eq(t->certificates[0].cert, DEMO "server-rsa.crt");
	ck_assert_str_eq(t->certificates[0].key, DEMO "server-rsa.key");
	ck_assert_int_eq(t->certificates[0].line, 10);
	ck_assert_str_eq(t->certificates[1].key, DEMO "server.key");
	ck_assert_uint_eq(t->certificates[1].key_line[1], 12);
	ck_assert_int_eq(t->min_version, CFG_TLS_1_3);
	ck_assert_str_eq(t->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
	ck_assert_str_eq(t->ciphersuites, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256");
	ck_assert_uint_eq(t->alpn.n, 2);
	ck_assert_str_eq(t->alpn.v[0], "http/1.1");
	ck_assert_str_eq(t->alpn.v[1], "http/1.0");
	ck_assert_str_eq(t->client_ca, DEMO "ca.crt");
	ck_assert_int_eq(t->verify_client, CFG_VERIFY_CLIENT_OPTIONAL);
	ck_assert(!t->session_tickets && !t->session_cache);
	ck_assert_uint_eq(t->ticket_key_rotation, 3600 * 1000);
	ck_assert_uint_eq(t->session_lifetime, 2 * 3600 * 1000);
	ck_assert_uint_eq(t->sni_cache_size, 100);
	ck_assert_uint_eq(c->listeners[0].timeouts.handshake, 3000);
	config_free(c);
}
END_TEST

START_TEST(alpn_defaults_to_http11_on_http_and_to_none_on_tcp)
{
	struct config *c = load_ok(TLS_HTTP(""));

	ck_assert(c->listeners[0].tls.enabled);
	ck_assert_uint_eq(c->listeners[0].tls.alpn.n, 1);
	ck_assert_str_eq(c->listeners[0].tls.alpn.v[0], "http/1.1");
	config_free(c);
	c = load_ok("listeners:\n"
	            "  - { name: t, bind: 127.0.0.1:1, mode: tcp, pool: p,\n"
	            "      tls: { cert: " DEMO "server.crt, key: " DEMO "server.key } }\n"
	            "pools:\n"
	            "  - { name: p, backends: [{ address: 127.0.0.1:2 }] }\n");
	ck_assert(c->listeners[0].tls.enabled);
	ck_assert_uint_eq(c->listeners[0].tls.alpn.n, 0);
	config_free(c);
}
END_TEST

START_TEST(alpn_is_a_sequence_a_comma_list_or_empty)
{
	struct config *c = load_ok(TLS_HTTP("      alpn: \"http/1.1, http/1.0\"\n"));

	ck_assert_uint_eq(c->listeners[0].tls.alpn.n, 2);
	ck_assert_str_eq(c->listeners[0].tls.alpn.v[1], "http/1.0");
	config_free(c);
	c = load_ok(TLS_HTTP("      alpn: []\n")); /* none, even on http */
	ck_assert_uint_eq(c->listeners[0].tls.alpn.n, 0);
	config_free(c);
	c = load_ok("listeners:\n"
	            "  - { name: t, bind: 127.0.0.1:1, mode: tcp, pool: p, tls: { cert: " DEMO
	            "server.crt, key: " DEMO "server.key, alpn: [h2, imap] } }\n"
	            "pools:\n"
	            "  - { name: p, backends: [{ address: 127.0.0.1:2 }] }\n");
	ck_assert_uint_eq(c->listeners[0].tls.alpn.n, 2); /* tcp offload offers anything */
	ck_assert_str_eq(c->listeners[0].tls.alpn.v[0], "h2");
	config_free(c);
}
END_TEST

START_TEST(a_protocol_list_parses_prints_and_refuses_bad_names)
{
	const struct key *k =
	    schema_find(schema_listeners.keys, schema_listeners.nkeys, "tls.alpn");
	struct cfg_listener ls = {0};
	char buf[128];

	ck_assert_int_eq(schema_set(k, &ls, " http/1.1 ,h2"), 0);
	ck_assert_uint_eq(ls.tls.alpn.n, 2);
	schema_format(k, &ls, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[http/1.1, h2]");
	ck_assert_int_eq(schema_set(k, &ls, "a,,b"), -EINVAL);
	ck_assert_int_eq(schema_set(k, &ls, "a,"), -EINVAL);
	ck_assert_int_eq(schema_set(k, &ls, "h 2"), -EINVAL);
	ck_assert_uint_eq(ls.tls.alpn.n, 2); /* nothing stored on error */
	schema_explain(k, "a,,b", -EINVAL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"a,,b\" is not a list of protocol names (expected a list of "
	                      "protocol names like [http/1.1])");
	ck_assert_int_eq(schema_set(k, &ls, ""), 0);
	schema_format(k, &ls, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[]");
	ck_assert_int_eq(schema_strlist_push(k, &ls, "http/1.1"), 0);
	ck_assert_int_eq(schema_strlist_push(k, &ls, "a,b"), -EINVAL);
	ck_assert_uint_eq(ls.tls.alpn.n, 1);
	schema_free(schema_listeners.keys, schema_listeners.nkeys, &ls);
	ck_assert_ptr_null(ls.tls.alpn.v);
}
END_TEST

START_TEST(booleans_read_true_false_yes_no_on_off)
{
	static const struct {
		const char *s;
		bool v;
	} ok[] = {{"true", true}, {"false", false}, {"yes", true},  {"no", false},
	          {"on", true},   {"off", false},   {"True", true}, {"OFF", false}};
	const struct key *k =
	    schema_find(schema_listeners.keys, schema_listeners.nkeys, "tls.session_cache");
	struct cfg_listener ls = {0};
	char buf[64];

	for (unsigned i = 0; i < ARRAY_SIZE(ok); i++) {
		ls.tls.session_cache = !ok[i].v;
		ck_assert_msg(schema_set(k, &ls, ok[i].s) == 0, "%s", ok[i].s);
		ck_assert(ls.tls.session_cache == ok[i].v);
		schema_format(k, &ls, buf, sizeof(buf));
		ck_assert_str_eq(buf, ok[i].v ? "true" : "false");
	}
	ck_assert_int_eq(schema_set(k, &ls, "maybe"), -EINVAL);
	schema_explain(k, "maybe", -EINVAL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"maybe\" is not a boolean (expected true or false)");
}
END_TEST

START_TEST(cipher_lists_are_kept_as_written_and_checked_for_stray_characters)
{
	const struct key *k =
	    schema_find(schema_listeners.keys, schema_listeners.nkeys, "tls.ciphers");
	struct cfg_listener ls = {0};
	char buf[128];

	ck_assert_int_eq(schema_set(k, &ls, "HIGH:!aNULL:!MD5:+ECDHE@STRENGTH"), 0);
	ck_assert_str_eq(ls.tls.ciphers, "HIGH:!aNULL:!MD5:+ECDHE@STRENGTH");
	ck_assert_int_eq(schema_set(k, &ls, "AES128 SHA"), -EINVAL);
	ck_assert_int_eq(schema_set(k, &ls, ""), -EINVAL);
	schema_explain(k, "a;b", -EINVAL, buf, sizeof(buf));
	ck_assert_str_eq(
	    buf, "\"a;b\" is not a cipher list (expected a cipher list of names joined by ':')");
	schema_free(schema_listeners.keys, schema_listeners.nkeys, &ls);
}
END_TEST

START_TEST(tls_errors_name_the_key_at_its_line_and_column)
{
	ck_assert_ptr_null(load("listeners:\n"
	                        "  - name: demo\n"
	                        "    bind: 127.0.0.1:8081\n"
	                        "    mode: static\n"
	                        "    body: hi\n"
	                        "    tls: { cert: /nonexistent/a.crt }\n"
	                        "  - name: t\n"
	                        "    bind: 127.0.0.1:8443\n"
	                        "    mode: tcp\n"
	                        "    pool: p\n"
	                        "    tls:\n"
	                        "      key: " DEMO "server.key\n"
	                        "      verify_client: optional\n"
	                        "      certificates:\n"
	                        "        - { key: " DEMO "server-rsa.key }\n"
	                        "        - { cert: /nonexistent/b.crt, key: " DEMO
	                        "server-rsa.crt }\n"
	                        "pools:\n"
	                        "  - name: p\n"
	                        "    tls: { key: " DEMO "client.key, sni: 10.0.0.1 }\n"
	                        "    backends: [{ address: 127.0.0.1:2 }]\n"));
	EXPECT("t.yaml:6:18: listeners[0].tls: not used in static mode (expected tls only in tcp "
	       "and http mode)",
	       "t.yaml:12:12: listeners[1].tls.key: set without tls.cert (expected tls.cert and "
	       "tls.key together)",
	       "t.yaml:13:22: listeners[1].tls.verify_client: optional without tls.client_ca "
	       "(expected a client_ca file to verify client certificates against)",
	       "t.yaml:15:11: listeners[1].tls.certificates[0]: missing key \"cert\" (expected "
	       "every certificate to have a cert and a key)",
	       "t.yaml:16:19: listeners[1].tls.certificates[1].cert: cannot read "
	       "\"/nonexistent/b.crt\": No such file or directory (expected a readable PEM file)",
	       "t.yaml:16:44: listeners[1].tls.certificates[1].key: \"" DEMO
	       "server-rsa.crt\" holds no private key (expected an unencrypted PEM private key, "
	       "-----BEGIN PRIVATE KEY-----)",
	       "t.yaml:19:17: pools[0].tls.key: set without tls.cert (expected tls.cert and "
	       "tls.key together)",
	       "t.yaml:19:54: pools[0].tls.sni: \"10.0.0.1\" is not a server name (expected a "
	       "host name like api.example.com, no wildcard or address)");
}
END_TEST

START_TEST(a_client_ca_without_verify_client_is_a_warning)
{
	struct config *c = load(TLS_HTTP("      client_ca: " DEMO "ca.crt\n"));

	ck_assert_ptr_nonnull(c);
	EXPECT("ringlb: warning: t.yaml:9:18: listeners[0].tls.client_ca: no client certificate is "
	       "asked for (expected tls.verify_client: optional or required to use it)");
	ck_assert_uint_eq(errs.nerr, 0);
	config_free(c);
}
END_TEST

START_TEST(pool_tls_keys_are_parsed_and_turn_it_on)
{
	struct config *c = load_ok(BASE "  - name: up\n"
	                                "    tls:\n"
	                                "      ca: " DEMO "ca.crt\n"
	                                "      sni: api.example.com\n"
	                                "      verify: none\n"
	                                "      cert: " DEMO "client.crt\n"
	                                "      key: " DEMO "client.key\n"
	                                "    backends: [{ address: 127.0.0.1:9443 }]\n");
	const struct cfg_pool_tls *t = &c->pools[1].tls;

	ck_assert(!c->pools[0].tls.enabled);
	ck_assert(t->enabled);
	ck_assert_str_eq(t->ca, DEMO "ca.crt");
	ck_assert_str_eq(t->sni, "api.example.com");
	ck_assert_int_eq(t->verify, CFG_VERIFY_NONE);
	ck_assert_str_eq(t->cert, DEMO "client.crt");
	ck_assert_str_eq(t->key, DEMO "client.key");
	config_free(c);
	c = load_ok(BASE "  - { name: up, tls: { verify: none }, backends: [{ address: "
	                 "127.0.0.1:9443 }] }\n");
	ck_assert(c->pools[1].tls.enabled);
	ck_assert_ptr_null(c->pools[1].tls.ca); /* verify none: no CA needed */
	config_free(c);
}
END_TEST

START_TEST(a_pool_verifying_peers_without_a_ca_uses_the_system_store)
{
	struct config *c = load(BASE "  - name: up\n"
	                             "    tls: { sni: api.example.com }\n"
	                             "    backends: [{ address: 127.0.0.1:9443 }]\n");
	char *s;

	if (access(CFG_SYSTEM_CA, R_OK) != 0) { /* no ca-certificates: the error says so */
		ck_assert_ptr_null(c);
		ck_assert_uint_eq(errs.nerr, 1);
		ck_assert_ptr_nonnull(strstr(errs.lines[0],
		                             "t.yaml:11:16: pools[1].tls.ca: the "
		                             "default, the system store: cannot read "
		                             "\"" CFG_SYSTEM_CA "\""));
		config_errors_deinit(&errs);
		return;
	}
	ck_assert_msg(c && errs.n == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	ck_assert(c->pools[1].tls.enabled);
	ck_assert_str_eq(c->pools[1].tls.ca, CFG_SYSTEM_CA);
	s = print_to_string(config_print, c);
	ck_assert_ptr_nonnull(strstr(s, "\npools[1].tls.ca = " CFG_SYSTEM_CA "  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\npools[0].tls.ca = (none)  # default\n"));
	free(s);
	config_free(c);
}
END_TEST

START_TEST(tls_files_of_a_static_listener_are_not_read)
{
	ck_assert_ptr_null(
	    load("listeners:\n"
	         "  - name: demo\n"
	         "    bind: 127.0.0.1:8081\n"
	         "    mode: static\n"
	         "    body: hi\n"
	         "    tls:\n"
	         "      cert: /nonexistent/a.crt\n"
	         "      key: /nonexistent/a.key\n"
	         "      certificates: [{ cert: /nonexistent/b.crt, key: /x/b.key }]\n"));
	EXPECT("t.yaml:7:13: listeners[0].tls: not used in static mode (expected tls only in tcp "
	       "and http mode)");
}
END_TEST

START_TEST(print_config_shows_the_tls_keys)
{
	struct config *c = load_ok(TLS_HTTP(""));
	char *s = print_to_string(config_print, c);

	ck_assert_ptr_nonnull(
	    strstr(s, "\nlisteners[0].tls.cert = " DEMO "server.crt  # t.yaml:7\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].tls.certificates = []  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].tls.alpn = [http/1.1]  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].tls.min_version = 1.2  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].tls.ciphers = (none)  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].tls.session_tickets = true  # default\n"));
	ck_assert_ptr_nonnull(
	    strstr(s, "\nlisteners[0].tls.ticket_key_rotation = 12h  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\nlisteners[0].timeouts.handshake = 10s  # default\n"));
	ck_assert_ptr_nonnull(strstr(s, "\npools[0].tls.verify = peer  # default\n"));
	free(s);
	config_free(c);
}
END_TEST

START_TEST(the_https_example_loads_and_validates)
{
	struct config *c = config_load("config/examples/https.yaml", &errs);
	char *s;

	ck_assert_msg(c && errs.n == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	ck_assert_int_eq(config_validate(c, &errs), 0);
	ck_assert(c->listeners[0].tls.enabled);
	ck_assert_uint_eq(c->listeners[0].tls.ncertificates, 1);
	ck_assert_int_eq(c->listeners[1].tls.verify_client, CFG_VERIFY_CLIENT_REQUIRED);
	ck_assert_int_eq(c->listeners[2].mode, LMODE_TCP);
	ck_assert_int_eq(c->listeners[2].tls.min_version, CFG_TLS_1_3);
	ck_assert_uint_eq(c->listeners[2].tls.alpn.n, 0);
	ck_assert(!c->listeners[3].tls.enabled);
	ck_assert(!c->pools[0].tls.enabled && c->pools[1].tls.enabled);
	ck_assert_str_eq(c->pools[1].tls.sni, "localhost");
	s = print_to_string(config_print_summary, c);
	ck_assert_ptr_nonnull(strstr(s, "listener https: http 127.0.0.1:8443 -> pool web, 1 route, "
	                                "tls 2 certificates, max_connections 4096\n"));
	ck_assert_ptr_nonnull(strstr(s, "pool secure: round_robin, 1 backend, tls\n"));
	free(s);
	config_free(c);
}
END_TEST

/* A stand-in for the TLS code's key check: RSA keys go with RSA certificates. */
static unsigned key_matches;

static int fake_key_match(const char *cert, const char *key, char *why, size_t len)
{
	key_matches++;
	if ((strstr(cert, "rsa") != NULL) == (strstr(key, "rsa") != NULL))
		return 0;
	snprintf(why, len, "one is RSA, the other ECDSA");
	return -EINVAL;
}

START_TEST(the_key_match_hook_checks_every_pair_and_reports_at_the_cert)
{
	struct config *c;

	config_tls_key_match = fake_key_match;
	c = load(TLS_HTTP("      certificates:\n"
	                  "        - { cert: " DEMO "server-rsa.crt, key: " DEMO "server.key }\n"
	                  "        - { cert: " DEMO "server-rsa.crt, key: " DEMO
	                  "server-rsa.key }\n"
	                  "        - { cert: " DEMO "server-rsa.crt, key: /nonexistent/x.key }\n"
	                  "  - name: plain\n"
	                  "    bind: 127.0.0.1:8080\n"
	                  "    mode: http\n"
	                  "    pool: app\n"));
	config_tls_key_match = NULL;
	ck_assert_ptr_null(c);
	/* the default and two entries: a pair whose file is in error is not matched */
	EXPECT("t.yaml:10:19: listeners[0].tls.certificates[0].cert: \"" DEMO
	       "server-rsa.crt\" is not the certificate of key \"" DEMO
	       "server.key\": one is RSA, the other ECDSA (expected a certificate and its own key)",
	       "t.yaml:12:60: listeners[0].tls.certificates[2].key: cannot read "
	       "\"/nonexistent/x.key\": No such file or directory (expected a readable PEM file)");
	ck_assert_uint_eq(key_matches, 3);
	config_errors_deinit(&errs);
	key_matches = 0;
	config_tls_key_match = fake_key_match;
	c = load_ok(BASE "  - { name: up, tls: { cert: " DEMO "client.crt, key: " DEMO
	                 "client.key, verify: none }, backends: [{ address: 127.0.0.1:9 }] }\n");
	config_tls_key_match = NULL;
	ck_assert_uint_eq(key_matches, 1);
	config_free(c);
}
END_TEST

/* Writes <text> to a new temporary file, whose name goes to <path>. */
static void temp_file(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/ringlb-test-pem-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* pem_check()'s message for <text> as <want>, "" when it passes. */
static const char *pem_verdict(const char *text, enum pem_want want)
{
	static char what[256];
	char path[64];
	const char *expect;
	int ret;

	temp_file(path, sizeof(path), text);
	ret = pem_check(path, want, what, sizeof(what), &expect);
	unlink(path);
	if (!ret)
		return "";
	ck_assert_int_eq(ret, -EINVAL);
	return strstr(what, "\" ") + 2;
}

START_TEST(the_pem_check_knows_certificates_from_keys)
{
	char what[256];
	const char *exp;

	ck_assert_int_eq(pem_check(DEMO "server.crt", PEM_CERT, what, sizeof(what), &exp), 0);
	ck_assert_int_eq(pem_check(DEMO "server.key", PEM_KEY, what, sizeof(what), &exp), 0);
	ck_assert_int_eq(pem_check(DEMO "server-rsa.key", PEM_KEY, what, sizeof(what), &exp), 0);
	ck_assert_int_eq(pem_check("/nonexistent/x.pem", PEM_CERT, what, sizeof(what), &exp),
	                 -ENOENT);
	ck_assert_str_eq(what, "cannot read \"/nonexistent/x.pem\": No such file or directory");
	ck_assert_str_eq(exp, "a readable PEM file");
	ck_assert_int_eq(pem_check("config", PEM_CERT, what, sizeof(what), &exp), -EINVAL);
	ck_assert_str_eq(what, "\"config\" is not a regular file");
	ck_assert_str_eq(pem_verdict("", PEM_CERT), "is not PEM: no -----BEGIN line");
	ck_assert_str_eq(pem_verdict("MIIB...\n", PEM_KEY), "is not PEM: no -----BEGIN line");
	ck_assert_str_eq(
	    pem_verdict("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n", PEM_CERT),
	    "holds no certificate");
	ck_assert_str_eq(pem_verdict("-----BEGIN TRUSTED CERTIFICATE-----\n", PEM_CERT),
	                 "holds no certificate");
	ck_assert_str_eq(pem_verdict("-----BEGIN CERTIFICATE-----\n", PEM_KEY),
	                 "holds no private key");
	ck_assert_str_eq(pem_verdict("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", PEM_KEY),
	                 "holds an encrypted private key");
	ck_assert_str_eq(
	    pem_verdict("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n", PEM_KEY),
	    "holds an encrypted private key");
	/* text before the block, EC parameters before the key, cert and key in one file */
	ck_assert_str_eq(
	    pem_verdict("Certificate:\n  Data: ...\n-----BEGIN CERTIFICATE-----\n", PEM_CERT), "");
	ck_assert_str_eq(pem_verdict("-----BEGIN EC PARAMETERS-----\nBggq\n-----END EC "
	                             "PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\n",
	                             PEM_KEY),
	                 "");
	ck_assert_str_eq(pem_verdict("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
	                             "-----BEGIN PRIVATE KEY-----\n",
	                             PEM_KEY),
	                 "");
	ck_assert_str_eq(pem_verdict("x -----BEGIN CERTIFICATE-----\n", PEM_CERT),
	                 "holds no certificate"); /* a BEGIN line starts a line */
}
END_TEST

/* ---- lifetime ---- */

static _Atomic unsigned released;

static void count_release(struct config *c)
{
	ck_assert_uint_le(atomic_load(&c->refs), 1);
	released++;
}

START_TEST(the_last_unref_releases_once)
{
	struct config *c = config_new();

	released = 0;
	c->release = count_release;
	ck_assert_uint_eq(atomic_load(&c->refs), 1);
	ck_assert_ptr_eq(config_ref(c), c);
	config_ref(c);
	ck_assert_uint_eq(atomic_load(&c->refs), 3);
	config_unref(c);
	config_unref(c);
	ck_assert_uint_eq(released, 0);
	ck_assert_uint_eq(atomic_load(&c->refs), 1);
	config_unref(c);
	ck_assert_uint_eq(released, 1);
	config_unref(NULL);
}
END_TEST

START_TEST(config_free_runs_the_release_hook)
{
	struct config *c = config_builtin();

	released = 0;
	c->release = count_release;
	config_free(c);
	ck_assert_uint_eq(released, 1);
	config_free(NULL);
}
END_TEST

static void *ref_unref_loop(void *arg)
{
	struct config *c = arg;

	for (unsigned i = 0; i < 20000; i++) {
		config_ref(c);
		config_unref(c);
	}
	config_unref(c); /* the reference main took for this thread */
	return NULL;
}

START_TEST(references_from_many_threads_release_exactly_once)
{
	struct config *c = config_builtin();
	pthread_t t[4];

	released = 0;
	c->release = count_release;
	for (unsigned i = 0; i < 4; i++) {
		config_ref(c);
		ck_assert_int_eq(pthread_create(&t[i], NULL, ref_unref_loop, c), 0);
	}
	config_unref(c);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(released, 1);
}
END_TEST

START_TEST(pool_names_and_algorithms_resolve)
{
	struct config *c = config_load("config/examples/ringlb.yaml", &errs);

	ck_assert_int_eq(config_pool_index(c, "web"), 0);
	ck_assert_int_eq(config_pool_index(c, "spare"), 4);
	ck_assert_int_eq(config_pool_index(c, "nope"), -1);
	ck_assert_str_eq(config_algo_name(CFG_ALGO_MAGLEV), "maglev");
	ck_assert_str_eq(config_algo_name(CFG_NALGO), "?");
	config_free(c);
}
END_TEST

/* ---- config/KEYS.md ---- */

/* <s> with '|' and '*' escaped, for a table cell. */
static void md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|' || *s == '*')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void md_table(FILE *f, const struct key *keys, unsigned n, const char *prefix, bool top)
{
	fputs("| key | type | default | environment | flag | description |\n", f);
	fputs("|---|---|---|---|---|---|\n", f);
	for (unsigned i = 0; i < n; i++) {
		const struct key *k = &keys[i];
		const char *full = top ? schema_env_full(i) : NULL;
		const char *brief = top ? schema_env_short(i) : NULL;
		char exp[200];

		schema_expect(k, exp, sizeof(exp));
		fprintf(f, "| `%s%s` | ", prefix, k->path);
		md_cell(f, exp);
		fputs(" | ", f);
		if (k->flags & K_REQ)
			fputs("required", f);
		else if (k->def)
			fprintf(f, "`%s`", k->def);
		else
			fputs("unset", f);
		fputs(" | ", f);
		if (full)
			fprintf(f, "`%s`", full);
		if (brief)
			fprintf(f, ", `%s`", brief);
		if (!full)
			fputs("-", f);
		fprintf(f, " | %s%s%s | ", k->cli ? "`" : "-", k->cli ? k->cli : "",
		        k->cli ? "`" : "");
		md_cell(f, k->doc ? k->doc : "");
		if (k->flags & K_NOFILE)
			fputs(" (not in the file)", f);
		fputs(" |\n", f);
	}
	fputs("\n", f);
}

/* config/KEYS.md, from the schema. */
static char *keys_md(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fputs("# ringlb configuration keys\n\n"
	      "<!-- Generated from config/schema.c by test/unit/test_config.c: after changing\n"
	      "     the schema, run `RLB_UPDATE_KEYS=1 build/test/test_config`. The unit test\n"
	      "     fails while this file and the schema differ. -->\n\n"
	      "Every key ringlb reads, in the order of the schema. Paths are dotted; `[]`\n"
	      "marks a list element. See `config/examples/ringlb.yaml` for a complete file.\n\n"
	      "- **Precedence**: command-line flag > environment variable > YAML file >\n"
	      "  built-in default.\n"
	      "- **Values**: sizes `16KB` `4GB` `512MB` `100B` `1KiB` `4096` (binary\n"
	      "  multiples: 1KB = 1024B); durations `250ms` `30s` `5m` `1h` `1d` (a unit is\n"
	      "  required); ratios and factors `0.8` `1.5`; counts `1000`; addresses\n"
	      "  `127.0.0.1:8080` `[::1]:8080` (numeric, no DNS); booleans `true` `false`\n"
	      "  (also `yes`/`no`, `on`/`off`); protocol lists `[http/1.1, http/1.0]` (or\n"
	      "  `http/1.1,http/1.0`); file paths relative to the working directory.\n"
	      "- **Environment**: `RINGLB_` + the path with `.` as `_`, upper-cased; a key\n"
	      "  whose last part is unique in the schema also answers to `RINGLB_` + that\n"
	      "  part. When both are set the full name wins. Only top-level keys have\n"
	      "  variables. An unknown `RINGLB_` variable draws a warning.\n"
	      "- **Errors**: `FILE:LINE:COL: KEY.PATH: MESSAGE (expected WHAT)`, one per line,\n"
	      "  all of them; an environment or flag error names the variable or flag.\n"
	      "- **TLS**: a listener (`tcp` or `http`, never `static`) or a pool is TLS when\n"
	      "  any of its `tls` keys is set. A TLS listener needs `tls.cert` and `tls.key`;\n"
	      "  every file a `tls` key names must be a readable PEM file of its kind\n"
	      "  (certificate, or unencrypted private key), checked at load and on reload;\n"
	      "  whether a key matches its certificate is checked when the TLS contexts are\n"
	      "  built.\n\n"
	      "## Top level\n\n",
	      f);
	md_table(f, schema_top, schema_ntop, "", true);
	fputs("## Listeners: `listeners[]`\n\n", f);
	md_table(f, schema_listeners.keys, schema_listeners.nkeys, "listeners[].", false);
	fputs("## Routes: `listeners[].routes[]`\n\n", f);
	md_table(f, schema_routes.keys, schema_routes.nkeys, "listeners[].routes[].", false);
	fputs("## Certificates: `listeners[].tls.certificates[]`\n\n", f);
	md_table(f, schema_certs.keys, schema_certs.nkeys, "listeners[].tls.certificates[].",
	         false);
	fputs("## Pools: `pools[]`\n\n", f);
	md_table(f, schema_pools.keys, schema_pools.nkeys, "pools[].", false);
	fputs("## Backends: `pools[].backends[]`\n\n", f);
	md_table(f, schema_backends.keys, schema_backends.nkeys, "pools[].backends[].", false);
	fputs("## Variables that are not keys\n\n"
	      "These `RINGLB_` variables are read directly by the code that needs them\n"
	      "and never draw an unknown-variable warning:\n\n",
	      f);
	for (unsigned i = 0; env_direct[i].name; i++)
		fprintf(f, "- `%s`: %s.\n", env_direct[i].name, env_direct[i].doc);
	fclose(f);
	return buf;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int ch;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(m);
	fclose(f);
	return buf;
}

START_TEST(keys_md_names_every_key)
{
	static const struct {
		const struct schema_list *l;
		const char *prefix;
	} lists[] = {
	    {&schema_listeners, "listeners[]."},
	    {&schema_routes, "listeners[].routes[]."},
	    {&schema_certs, "listeners[].tls.certificates[]."},
	    {&schema_pools, "pools[]."},
	    {&schema_backends, "pools[].backends[]."},
	};
	char *doc = read_file("config/KEYS.md"), want[160];

	ck_assert_msg(doc, "config/KEYS.md is missing");
	for (unsigned i = 0; i < schema_ntop; i++) {
		snprintf(want, sizeof(want), "| `%s` |", schema_top[i].path);
		ck_assert_msg(strstr(doc, want), "KEYS.md lacks %s", schema_top[i].path);
	}
	for (unsigned j = 0; j < ARRAY_SIZE(lists); j++) {
		for (unsigned i = 0; i < lists[j].l->nkeys; i++) {
			snprintf(want, sizeof(want), "| `%s%s` |", lists[j].prefix,
			         lists[j].l->keys[i].path);
			ck_assert_msg(strstr(doc, want), "KEYS.md lacks %s", want);
		}
	}
	free(doc);
}
END_TEST

START_TEST(keys_md_is_what_the_schema_generates)
{
	char *want = keys_md(), *have;
	const char *update = getenv("RLB_UPDATE_KEYS");

	if (update && *update == '1') {
		FILE *f = fopen("config/KEYS.md", "w");

		ck_assert_ptr_nonnull(f);
		fputs(want, f);
		fclose(f);
	}
	have = read_file("config/KEYS.md");
	ck_assert_msg(have && strcmp(have, want) == 0,
	              "config/KEYS.md differs from the schema: run RLB_UPDATE_KEYS=1 "
	              "build/test/test_config");
	free(have);
	free(want);
}
END_TEST

/* ---- the suite ---- */

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase(s, "values");
	tcase_add_test(tc, sizes_read_binary_units_in_any_case);
	tcase_add_test(tc, sizes_refuse_other_text_and_overflow);
	tcase_add_test(tc, durations_read_every_unit_in_milliseconds);
	tcase_add_test(tc, durations_require_a_unit);
	tcase_add_test(tc, numbers_are_plain_decimals);
	tcase_add_test(tc, counts_are_unsigned_decimals);
	tcase_add_test(tc, addresses_are_numeric_v4_or_bracketed_v6);
	tcase_add_test(tc, addresses_refuse_names_ports_and_bad_brackets);
	tcase_add_test(tc, canonical_forms_read_back);
	tcase_add_test(tc, numbers_print_without_an_exponent);
	tcase_add_test(tc, statuses_are_codes_and_ranges_of_100_to_599);
	tcase_add_test(tc, health_defaults_and_what_turns_checks_on);
	tcase_add_test(tc, explain_says_what_was_expected);

	tc = tcase(s, "file");
	tcase_add_test(tc, an_unknown_key_is_reported_at_the_key);
	tcase_add_test(tc, a_value_of_the_wrong_type_is_reported_at_the_value);
	tcase_add_test(tc, a_value_out_of_range_is_reported_at_the_value);
	tcase_add_test(tc, duplicate_listener_and_pool_names_are_reported);
	tcase_add_test(tc, a_reference_to_a_missing_pool_is_reported_at_the_reference);
	tcase_add_test(tc, a_component_limit_above_the_total_is_reported);
	tcase_add_test(tc, thresholds_out_of_order_are_reported);
	tcase_add_test(tc, a_missing_required_key_is_reported_at_its_element);
	tcase_add_test(tc, every_error_of_a_file_is_reported_in_file_order);
	tcase_add_test(tc, nesting_deeper_than_64_is_refused_fast);
	tcase_add_test(tc, nesting_of_64_levels_is_read);
	tcase_add_test(tc, a_name_repeated_by_every_listener_is_reported_once_each_and_fast);
	tcase_add_test(tc, a_control_byte_in_a_key_or_value_is_escaped_in_its_line);
	tcase_add_test(tc, a_long_value_is_cut_so_its_line_ends_with_what_was_expected);
	tcase_add_test(tc, an_unreadable_file_is_one_error);
	tcase_add_test(tc, a_fifo_is_refused_without_waiting_for_a_writer);
	tcase_add_test(tc, there_are_at_least_twenty_bad_configs);
	tcase_add_loop_test(tc, each_bad_config_reports_exactly_its_expected_lines, 0,
	                    bad_files.gl_pathc);
	tcase_add_test(tc, the_example_config_sets_every_key_and_validates);
	tcase_add_test(tc, pool_names_and_algorithms_resolve);

	tc = tcase(s, "environment");
	tcase_add_test(tc, a_full_environment_name_sets_its_key);
	tcase_add_test(tc, a_short_environment_name_sets_its_key);
	tcase_add_test(tc, the_full_name_wins_over_the_short_one);
	tcase_add_test(tc, a_bad_environment_value_names_the_variable);
	tcase_add_test(tc, a_cross_key_error_names_the_variable_that_broke_it);
	tcase_add_test(tc, an_unknown_ringlb_variable_is_a_warning);
	tcase_add_test(tc, variables_that_are_not_keys_pass_silently);
	tcase_add_test(tc, environment_names_follow_the_contract_and_are_unique);

	tc = tcase(s, "cli");
	tcase_add_test(tc, cli_parse_reads_every_flag);
	tcase_add_test(tc, version_and_help_print_and_stop);
	tcase_add_test(tc, a_usage_error_is_one_line);
	tcase_add_test(tc, a_bad_flag_value_names_the_flag);
	tcase_add_test(tc, every_key_flag_is_parsed_and_applied);
	tcase_add_test(tc, precedence_is_flag_over_environment_over_file_over_default);
	tcase_add_test(tc, config_build_runs_every_step_and_reports_every_error);
	tcase_add_test(tc, the_check_summary_counts_listeners_pools_and_backends);

	tc = tcase(s, "builtin and print");
	tcase_add_test(tc, the_builtin_config_is_the_demo_at_default_values);
	tcase_add_test(tc, print_config_of_the_builtin_says_default_everywhere);
	tcase_add_test(tc, print_config_shows_each_value_and_its_source);

	tc = tcase(s, "tls");
	tcase_add_test(tc, tls_keys_have_their_defaults_and_tls_is_off_without_them);
	tcase_add_test(tc, the_builtin_config_has_no_tls);
	tcase_add_test(tc, every_listener_tls_key_is_parsed);
	tcase_add_test(tc, alpn_defaults_to_http11_on_http_and_to_none_on_tcp);
	tcase_add_test(tc, alpn_is_a_sequence_a_comma_list_or_empty);
	tcase_add_test(tc, a_protocol_list_parses_prints_and_refuses_bad_names);
	tcase_add_test(tc, booleans_read_true_false_yes_no_on_off);
	tcase_add_test(tc, cipher_lists_are_kept_as_written_and_checked_for_stray_characters);
	tcase_add_test(tc, tls_errors_name_the_key_at_its_line_and_column);
	tcase_add_test(tc, a_client_ca_without_verify_client_is_a_warning);
	tcase_add_test(tc, pool_tls_keys_are_parsed_and_turn_it_on);
	tcase_add_test(tc, a_pool_verifying_peers_without_a_ca_uses_the_system_store);
	tcase_add_test(tc, tls_files_of_a_static_listener_are_not_read);
	tcase_add_test(tc, print_config_shows_the_tls_keys);
	tcase_add_test(tc, the_https_example_loads_and_validates);
	tcase_add_test(tc, the_pem_check_knows_certificates_from_keys);
	tcase_add_test(tc, the_key_match_hook_checks_every_pair_and_reports_at_the_cert);

	tc = tcase(s, "lifetime");
	tcase_add_test(tc, the_last_unref_releases_once);
	tcase_add_test(tc, config_free_runs_the_release_hook);
	tcase_add_test(tc, references_from_many_threads_release_exactly_once);

	tc = tcase(s, "docs");
	tcase_add_test(tc, keys_md_names_every_key);
	tcase_add_test(tc, keys_md_is_what_the_schema_generates);
	return s;
}

/* Moves to the source tree's top (see the head comment). */
static int go_top(void)
{
	const char *t = getenv("RLB_TOP");
	char dir[PATH_MAX];
	ssize_t n;

	if (t && *t)
		return chdir(t);
	if (access("config/schema.c", R_OK) == 0)
		return 0;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return -1;
	dir[n] = '\0';
	for (char *slash; (slash = strrchr(dir, '/')) && slash != dir;) {
		*slash = '\0';
		if (chdir(dir) == 0 && access("config/schema.c", R_OK) == 0)
			return 0;
	}
	return -1;
}

int main(void)
{
	int ret;

	if (go_top() < 0) {
		fprintf(stderr, "test_config: cannot find the source tree (set RLB_TOP)\n");
		return 1;
	}
	if (glob("test/configs/bad/*.yaml", 0, NULL, &bad_files) != 0) {
		globfree(&bad_files);
		memset(&bad_files, 0, sizeof(bad_files));
	}
	ret = ck_run(config_suite());
	globfree(&bad_files);
	return ret;
}
