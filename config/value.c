/* Scalar values: one parser per kind, shared by YAML, environment and CLI. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/value.h"

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1ull << 10},
    {"kb", 1ull << 10},
    {"kib", 1ull << 10},
    {"m", 1ull << 20},
    {"mb", 1ull << 20},
    {"mib", 1ull << 20},
    {"g", 1ull << 30},
    {"gb", 1ull << 30},
    {"gib", 1ull << 30},
    {"t", 1ull << 40},
    {"tb", 1ull << 40},
    {"tib", 1ull << 40},
    {NULL, 0},
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}, {NULL, 0},
};

/* Reads the <n> decimal digits at <s> into <out>; -ERANGE on overflow. */
static int value_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

/* An unsigned integer followed by one of <units> (case-insensitive); a
 * space may separate them. A '-' before digits is -ERANGE, not -EINVAL:
 * the text is a number of the right kind, just not a representable one. */
static int value_with_unit(const char *s, const struct unit *units, uint64_t *out)
{
	bool neg = s[0] == '-';
	const struct unit *u;
	const char *p = s + neg;
	size_t n = strspn(p, "0123456789");
	uint64_t v, r;

	if (n == 0)
		return -EINVAL;
	for (p += n; *p == ' '; p++)
		;
	for (u = units; u->name; u++) {
		if (strcasecmp(p, u->name) == 0)
			break;
	}
	if (!u->name)
		return -EINVAL;
	if (neg || value_digits(s + neg, n, &v) || __builtin_mul_overflow(v, u->mult, &r))
		return -ERANGE;
	*out = r; /* only on success: a caller's value survives an error */
	return 0;
}

int value_count(const char *s, uint64_t *out)
{
	static const struct unit none[] = {{"", 1}, {NULL, 0}};

	return value_with_unit(s, none, out);
}

int value_size(const char *s, uint64_t *out)
{
	return value_with_unit(s, size_units, out);
}

int value_duration(const char *s, uint64_t *ms)
{
	return value_with_unit(s, duration_units, ms);
}

int value_number(const char *s, double *out)
{
	const char *p = s + (*s == '-');
	char *end;
	double v;

	/* digits, optionally a dot and more digits: no hex, exponents, inf */
	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -EINVAL;
	p += strspn(p, "0123456789");
	if (*p == '.')
		p += 1 + strspn(p + 1, "0123456789");
	if (*p)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}

int value_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -EINVAL;
}

/* Splits "host:port" / "[host]:port" into <host> and <port>. */
static int value_split_addr(const char *s, char *host, size_t hlen, const char **port)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		n = rb - s - 1;
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', colon - s))
			return -EINVAL;
		n = colon - s;
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

int value_addr(const char *s, struct cfg_addr *a)
{
	struct addrinfo hints = {
	    .ai_family = s[0] == '[' ? AF_INET6 : AF_INET, /* "[IPv6]:port" or "IPv4:port" */
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res;
	const char *port;
	char host[INET6_ADDRSTRLEN + 32];
	uint64_t p;

	if (strlen(s) >= sizeof(a->text) || value_split_addr(s, host, sizeof(host), &port))
		return -EINVAL;
	if (value_count(port, &p) || p == 0 || p > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &res))
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	strcpy(a->text, s);
	freeaddrinfo(res);
	return 0;
}

/* <v> in the largest unit of <units> (ascending) that divides it. */
static int value_fmt_unit(uint64_t v, const struct unit *units, size_t n, char *buf, size_t len)
{
	for (size_t i = n; i-- > 0;) {
		if (v % units[i].mult == 0)
			return snprintf(buf, len, "%llu%s", (unsigned long long)(v / units[i].mult),
			                units[i].name);
	}
	return snprintf(buf, len, "%llu", (unsigned long long)v);
}

int value_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const struct unit u[] = {
	    {"B", 1},           {"KB", 1ull << 10}, {"MB", 1ull << 20},
	    {"GB", 1ull << 30}, {"TB", 1ull << 40},
	};

	if (v == 0)
		return snprintf(buf, len, "0");
	return value_fmt_unit(v, u, sizeof(u) / sizeof(u[0]), buf, len);
}

int value_fmt_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms == 0)
		return snprintf(buf, len, "0s");
	return value_fmt_unit(ms, duration_units, 5, buf, len);
}

int value_fmt_number(double v, char *buf, size_t len)
{
	int n = 0;

	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (!strchr(buf, 'e'))
		return n;
	/* value_number() reads no exponent: the fewest decimals that read back */
	for (int d = 0; d < 400; d++) {
		n = snprintf(buf, len, "%.*f", d, v);
		if ((size_t)n >= len || strtod(buf, NULL) == v)
			break;
	}
	return n;
}

const char *value_cut(const char *s, char *buf)
{
	size_t n = VALUE_CUT;

	if (strnlen(s, n + 1) <= n)
		return s;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--; /* s[n] continues a character: cut before it */
	memcpy(buf, s, n);
	memcpy(buf + n, "...", 4);
	return buf;
}

/* One status, 100..599, at *s; moves *s past it. */
static int value_status(const char **s, uint16_t *out)
{
	unsigned v = 0, n = 0;

	while (**s >= '0' && **s <= '9' && n < 4) {
		v = v * 10 + (unsigned)(**s - '0');
		(*s)++;
		n++;
	}
	if (n != 3 || v < 100 || v > 599)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int value_statuses(const char *s, uint16_t *lo, uint16_t *hi)
{
	uint16_t a, b;
	int n = 0;

	for (;;) {
		if (n == CFG_STATUS_RANGES || value_status(&s, &a) < 0)
			return -EINVAL;
		b = a;
		if (*s == '-' && (s++, value_status(&s, &b) < 0 || b < a))
			return -EINVAL;
		if (lo) {
			lo[n] = a;
			hi[n] = b;
		}
		n++;
		if (*s != ',')
			break;
		s++;
	}
	return *s ? -EINVAL : n;
}
