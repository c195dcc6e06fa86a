/* libFuzzer harness for the scalar value parsers (config/value.c) and the
 * environment overrides (config_apply_env(), config/env.c):
 *
 *   make fuzz FUZZ=values SECS=300
 *
 * The first byte picks the parser: count, size, duration, number, bool,
 * address; the rest is the text. Each answer is checked against a slow
 * reference reading the grammar config/value.h documents (digits, an
 * optional space run, a unit from the documented list in any case; a '-'
 * is -ERANGE; overflow is -ERANGE), the value is left alone on error, and a
 * value prints in canonical form (value_fmt_*) as text that reads back as
 * the same value. An address must be numeric, IPv4 bare or IPv6 in
 * brackets, and read back to the same socket address.
 *
 * With the first byte's mode at 6 or 7, the rest is an environment, one
 * "NAME=value" a line; a line whose first byte is 0x80 or above names a key
 * by index instead (its full or short variable, then '=' and the rest). The
 * environment is applied to a fresh snapshot, which is then validated:
 * every line added is a warning or "RINGLB_NAME: MESSAGE (expected WHAT)",
 * one line of text; -EINVAL exactly when an error was added; and every key
 * the environment set prints (--print-config's form) as text that sets the
 * same value again.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "config/config.h" /* the code under test: linked by the Makefile */
#include "config/schema.h"
#include "config/value.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

enum { V_COUNT, V_SIZE, V_DURATION, V_NUMBER, V_BOOL, V_ADDR, V_ENV, V_NMODES };

/* ---- references ---- */

struct ref_unit {
	const char *name;
	uint64_t mult;
};

/* config/value.h: "16KB 4GB 512MB 100B 1KiB 4096 (binary: KB = KiB = 1024)" */
static const struct ref_unit ref_sizes[] = {
    {"", 1},          {"B", 1},          {"K", 1 << 10},     {"KB", 1 << 10},     {"KiB", 1 << 10},
    {"M", 1 << 20},   {"MB", 1 << 20},   {"MiB", 1 << 20},   {"G", 1 << 30},      {"GB", 1 << 30},
    {"GiB", 1 << 30}, {"T", 1ull << 40}, {"TB", 1ull << 40}, {"TiB", 1ull << 40}, {NULL, 0},
};
/* "250ms 30s 5m 1h 1d (a unit is required)" */
static const struct ref_unit ref_durations[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};
static const struct ref_unit ref_none[] = {{"", 1}, {NULL, 0}};

/* ['-'] DIGIT+ SP* UNIT: the value, -EINVAL or -ERANGE. */
static int ref_with_unit(const char *s, const struct ref_unit *units, uint64_t *out)
{
	unsigned __int128 v = 0;
	bool neg = *s == '-', big = false;
	const char *p = s + neg, *d = p;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		big |= v > UINT64_MAX;
		if (big)
			v = 0; /* keep going: the unit still decides -EINVAL */
	}
	if (p == d)
		return -EINVAL;
	while (*p == ' ')
		p++;
	for (; units->name; units++)
		if (strcasecmp(p, units->name) == 0)
			break;
	if (!units->name)
		return -EINVAL;
	if (neg || big || v * units->mult > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)(v * units->mult);
	return 0;
}

/* ['-'] (DIGIT+ ['.' DIGIT*] | '.' DIGIT+): the grammar value_number() reads. */
static bool ref_is_number(const char *s)
{
	size_t i = *s == '-', d;

	for (d = i; isdigit((unsigned char)s[i]); i++)
		;
	if (i > d && s[i] == '.')
		for (i++; isdigit((unsigned char)s[i]); i++)
			;
	else if (i == d && s[i] == '.' && isdigit((unsigned char)s[i + 1]))
		for (i++; isdigit((unsigned char)s[i]); i++)
			;
	else if (i == d)
		return false;
	return s[i] == '\0';
}

/* ---- the parsers ---- */

typedef int (*parse_u64)(const char *, uint64_t *);

static void check_u64(const char *s, parse_u64 parse, const struct ref_unit *units,
                      int (*fmt)(uint64_t, char *, size_t))
{
	uint64_t v = SENTINEL, w = SENTINEL, again = SENTINEL;
	int ret = parse(s, &v), want = ref_with_unit(s, units, &w);
	char buf[64];

	if (ret != want || (!ret && v != w)) {
		fprintf(stderr, "\"%s\": %d %llu, the reference %d %llu\n", s, ret,
		        (unsigned long long)v, want, (unsigned long long)w);
		abort();
	}
	if (ret) {
		CHECK(v == SENTINEL); /* a caller's value survives an error */
		return;
	}
	if (!fmt) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	} else {
		CHECK(fmt(v, buf, sizeof(buf)) < (int)sizeof(buf));
	}
	CHECK(parse(buf, &again) == 0 && again == v);
}

static void check_number(const char *s)
{
	double v = 1234.5, again = 0;
	int ret = value_number(s, &v);
	char buf[512]; /* room for the smallest normal double, 2.2e-308, in full */

	CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	CHECK((ret != -EINVAL) == ref_is_number(s));
	if (ret) {
		CHECK(v == 1234.5);
		return;
	}
	CHECK(v == strtod(s, NULL) && v == v && v - v == 0); /* finite */
	CHECK(value_fmt_number(v, buf, sizeof(buf)) < (int)sizeof(buf));
	CHECK(value_number(buf, &again) == 0 && again == v);
}

static void check_bool(const char *s)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	bool v = false, known = false, want = false;
	int ret = value_bool(s, &v);

	for (unsigned i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			known = want = true;
		if (!strcasecmp(s, no[i]))
			known = true;
	}
	CHECK(ret == (known ? 0 : -EINVAL));
	CHECK(!known || v == want);
}

/* The port of "host:port" or "[host]:port", as written. */
static unsigned long port_of(const char *s)
{
	return strtoul(strrchr(s, ':') + 1, NULL, 10);
}

static void check_addr(const char *s)
{
	struct cfg_addr a, b;
	const struct sockaddr_in *v4 = (const void *)&a.ss;
	const struct sockaddr_in6 *v6 = (const void *)&a.ss;
	int ret;

	memset(&a, 0x5a, sizeof(a));
	ret = value_addr(s, &a);
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret) {
		CHECK(a.len == 0x5a5a5a5a);
		return;
	}
	CHECK(!strcmp(a.text, s) && strlen(s) < sizeof(a.text));
	if (s[0] == '[') {
		CHECK(a.ss.ss_family == AF_INET6 && a.len == sizeof(*v6));
		CHECK(ntohs(v6->sin6_port) == port_of(s));
	} else {
		CHECK(a.ss.ss_family == AF_INET && a.len == sizeof(*v4));
		CHECK(ntohs(v4->sin_port) == port_of(s) && !strchr(s, '['));
	}
	CHECK(port_of(s) >= 1 && port_of(s) <= 65535);
	CHECK(value_addr(a.text, &b) == 0 && b.len == a.len && !memcmp(&a.ss, &b.ss, a.len));
}

/* ---- the environment ---- */

/* Every line is a warning or "RINGLB_...: MESSAGE (expected WHAT)". */
static void check_env_lines(const struct cfg_errors *e, unsigned from)
{
	unsigned nerr = 0;

	for (unsigned i = from; i < e->n; i++) {
		const char *l = e->lines[i];
		size_t n = strlen(l);
		bool ok = n && l[n - 1] == ')' && strstr(l, " (expected ");

		for (const char *p = l; *p; p++)
			ok &= (unsigned char)*p >= 0x20 && *p != 0x7f;
		if (strncmp(l, "ringlb: warning: RINGLB_", 24) != 0) {
			ok &= !strncmp(l, "RINGLB_", 7) && strstr(l, ": ");
			nerr++;
		}
		if (!ok) {
			fprintf(stderr, "line %u breaks the format: \"%s\"\n", i, l);
			abort();
		}
	}
	CHECK(nerr <= e->nerr);
}

/* A key the environment set prints as text that sets the same value. */
static void check_reads_back(const struct config *c)
{
	for (unsigned i = 0; i < schema_ntop; i++) {
		const struct key *k = &schema_top[i];
		struct config *d;
		char a[512], b[512];

		if (c->keys[i].src != CFG_SRC_ENV || k->type == KT_STRING || k->type == KT_LIST)
			continue;
		schema_format(k, c, a, sizeof(a));
		d = config_new();
		CHECK(d && schema_set(k, d, a) == 0);
		schema_format(k, d, b, sizeof(b));
		if (strcmp(a, b)) {
			fprintf(stderr, "%s: \"%s\" reads back as \"%s\"\n", k->path, a, b);
			abort();
		}
		config_free(d);
	}
}

/* Splits <text> into an environment (see the head comment); frees with
 * free_env(). */
static char **make_env(const char *text)
{
	size_t n = 1;
	char **env;
	unsigned i = 0;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	env = calloc(n + 1, sizeof(*env));
	while (*text) {
		size_t len = strcspn(text, "\n");
		unsigned char b = (unsigned char)text[0];
		const char *name;

		if (b >= 0x80 && schema_ntop) {
			unsigned k = (b - 0x80) % (2 * schema_ntop);

			name = k % 2 ? schema_env_short(k / 2) : schema_env_full(k / 2);
			if (name && asprintf(&env[i], "%s=%.*s", name, (int)len - 1, text + 1) > 0)
				i++;
		} else {
			env[i++] = strndup(text, len);
		}
		text += len + (text[len] == '\n');
	}
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

static void check_env(const char *text)
{
	struct cfg_errors errs;
	struct config *c = config_new();
	char **env = make_env(text);
	unsigned n0;
	int ret;

	CHECK(c);
	config_errors_init(&errs);
	ret = config_apply_env(c, env, &errs);
	CHECK(ret == 0 || ret == -EINVAL);
	CHECK((ret == -EINVAL) == (errs.nerr > 0));
	check_env_lines(&errs, 0);
	check_reads_back(c);
	n0 = errs.n;
	ret = config_validate(c, &errs);
	CHECK((ret == 0) == (errs.n == n0));
	check_env_lines(&errs, n0);
	config_errors_deinit(&errs);
	config_free(c);
	free_env(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0'; /* a value is a C string: a NUL ends it */
	switch (data[0] % (V_NMODES + 1)) {
	case V_COUNT:
		check_u64(s, value_count, ref_none, NULL);
		break;
	case V_SIZE:
		check_u64(s, value_size, ref_sizes, value_fmt_size);
		break;
	case V_DURATION:
		check_u64(s, value_duration, ref_durations, value_fmt_duration);
		break;
	case V_NUMBER:
		check_number(s);
		break;
	case V_BOOL:
		check_bool(s);
		break;
	case V_ADDR:
		check_addr(s);
		break;
	default:
		check_env(s);
	}
	free(s);
	return 0;
}
