/* CPU and node lists: "0-7,16-23" <-> cpu_set_t. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "numa/cpulist.h"

/* Reads a decimal CPU number from [*s, end) and advances *s past it.
 * Returns the number, or -1 when there is no digit or it is too large. */
static int cpulist_number(const char **s, const char *end)
{
	const char *p = *s;
	long v = 0;

	if (p == end || *p < '0' || *p > '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v >= CPU_SETSIZE)
			v = CPU_SETSIZE; /* keep going, report "too large" */
		p++;
	}
	*s = p;
	return (int)v;
}

static int cpulist_bad(char *err, size_t errlen, const char *part, size_t partlen, const char *why)
{
	snprintf(err, errlen, "\"%.*s\": %s", (int)partlen, part, why);
	return -EINVAL;
}

/* Parses one entry "N" or "N-M" in [s, end) into <set>. */
static int cpulist_entry(const char *s, const char *end, cpu_set_t *set, char *err, size_t errlen)
{
	const char *p = s;
	int lo, hi;

	if (s == end)
		return -ENOENT;
	lo = hi = cpulist_number(&p, end);
	if (lo >= 0 && p < end && *p == '-') {
		p++;
		hi = cpulist_number(&p, end);
	}
	if (lo < 0 || hi < 0 || p != end)
		return cpulist_bad(err, errlen, s, end - s, "not a CPU number");
	if (lo >= CPU_SETSIZE || hi >= CPU_SETSIZE) {
		char why[64];

		snprintf(why, sizeof(why), "CPU number too large (max %d)", CPU_SETSIZE - 1);
		return cpulist_bad(err, errlen, s, end - s, why);
	}
	if (hi < lo)
		return cpulist_bad(err, errlen, s, end - s, "range is not ascending");
	for (; lo <= hi; lo++)
		CPU_SET(lo, set);
	return 0;
}

int cpulist_parse(const char *s, cpu_set_t *set, char *err, size_t errlen)
{
	const char *p = s, *comma;
	int ret;

	CPU_ZERO(set);
	if (!*s) {
		snprintf(err, errlen, "empty list");
		return -EINVAL;
	}
	for (;;) {
		comma = strchr(p, ',');
		ret = cpulist_entry(p, comma ? comma : p + strlen(p), set, err, errlen);
		if (ret == -ENOENT)
			return cpulist_bad(err, errlen, s, strlen(s), "empty entry");
		if (ret < 0)
			return ret;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Appends "lo" or "lo-hi" to buf, comma first unless at the start. */
static size_t cpulist_put(char *buf, size_t len, size_t n, int lo, int hi)
{
	int w;

	if (n >= len)
		return n;
	if (lo == hi)
		w = snprintf(buf + n, len - n, "%s%d", n ? "," : "", lo);
	else
		w = snprintf(buf + n, len - n, "%s%d-%d", n ? "," : "", lo, hi);
	if (w < 0)
		return n;
	return (size_t)w < len - n ? n + w : len - 1;
}

size_t cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t n = 0;
	int cpu, lo = -1;

	if (!len)
		return 0;
	buf[0] = '\0';
	for (cpu = 0; cpu <= CPU_SETSIZE; cpu++) {
		bool in = cpu < CPU_SETSIZE && CPU_ISSET(cpu, set);

		if (in && lo < 0)
			lo = cpu;
		if (!in && lo >= 0) {
			n = cpulist_put(buf, len, n, lo, cpu - 1);
			lo = -1;
		}
	}
	return n;
}
