/* Fault injection (fault.h): the rules of RINGLB_FAULT and their counters.
 *
 * A rule is a probability or a period per kind. Calls and injections are
 * counted with atomics; draws use a per-thread xorshift64* state derived
 * from the seed and the order in which threads first reach a hook (the
 * workers start one after the other), so a seed repeats a run's draws as
 * closely as the scheduling allows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/fault.h"
#include "core/base/log.h"

struct fault_rule {
	double rate;    /* probability per call, 0 = none */
	uint64_t every; /* every Nth call, 0 = none */
	uint64_t max;   /* at most this many faults, 0 = no cap */
	char when[32];  /* as written */
	_Atomic uint64_t calls, injected;
};

static const char *const fault_names[FAULT_NKINDS] = {
    [FAULT_ALLOC] = "alloc",   [FAULT_POOL] = "pool",       [FAULT_SQE] = "sqe",
    [FAULT_SUBMIT] = "submit", [FAULT_ACCEPT] = "accept",   [FAULT_CONNECT] = "connect",
    [FAULT_SEND] = "send",     [FAULT_SHORT] = "short",     [FAULT_RECV] = "recv",
    [FAULT_TLS] = "tls",       [FAULT_RECVCAP] = "recvcap",
};

static struct fault_rule fault_rules[FAULT_NKINDS];
static bool fault_any;
static uint64_t fault_seed = 1;
#ifdef RINGLB_FAULT
static _Atomic unsigned fault_threads; /* threads that drew so far */
static __thread uint64_t fault_rng;    /* this thread's state, 0 until its first draw */
_Atomic bool fault__armed;
#endif

const char *fault_name(enum fault_kind k)
{
	return (unsigned)k < FAULT_NKINDS ? fault_names[k] : NULL;
}

static int fault_kind_of(const char *name, size_t len)
{
	for (int k = 0; k < FAULT_NKINDS; k++)
		if (strlen(fault_names[k]) == len && memcmp(fault_names[k], name, len) == 0)
			return k;
	return -1;
}

/* WHEN[:MAX] of one rule into <r>. */
static int fault_parse_when(const char *s, size_t len, struct fault_rule *r)
{
	char buf[64], *end, *colon;

	if (len == 0 || len >= sizeof(buf) || len >= sizeof(r->when))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memcpy(r->when, buf, len + 1);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		errno = 0;
		r->max = strtoull(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || r->max == 0)
			return -EINVAL;
	}
	errno = 0;
	if (buf[0] == '@') {
		r->every = strtoull(buf + 1, &end, 10);
		if (errno || *end || end == buf + 1 || r->every == 0)
			return -EINVAL;
		return 0;
	}
	r->rate = strtod(buf, &end);
	if (errno || *end || end == buf || !(r->rate > 0 && r->rate <= 1))
		return -EINVAL;
	return 0;
}

static int fault_parse(const char *spec, struct fault_rule *rules, char *err, size_t errlen)
{
	const char *p = spec;

	while (*p) {
		const char *end = strchrnul(p, ','), *eq = memchr(p, '=', (size_t)(end - p));
		int k = eq ? fault_kind_of(p, (size_t)(eq - p)) : -1;

		if (end == p) {
			p++;
			continue;
		}
		if (k < 0) {
			snprintf(
			    err, errlen, "RINGLB_FAULT: %.*s: unknown fault kind (expected %s)",
			    (int)(eq ? eq - p : end - p), p,
			    "alloc, pool, sqe, submit, accept, connect, send, short, recv, tls or recvcap");
			return -EINVAL;
		}
		memset(&rules[k], 0, sizeof(rules[k]));
		if (fault_parse_when(eq + 1, (size_t)(end - eq - 1), &rules[k]) < 0) {
			snprintf(
			    err, errlen,
			    "RINGLB_FAULT: %.*s: bad rule (expected KIND=RATE or KIND=@N, RATE in (0,1], optionally :MAX)",
			    (int)(end - p), p);
			return -EINVAL;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

int fault_init(const char *spec, const char *seed, char *err, size_t errlen)
{
	struct fault_rule rules[FAULT_NKINDS];
	char *end;
	int ret;

	if (!spec || !*spec)
		return 0;
#ifndef RINGLB_FAULT
	snprintf(err, errlen,
	         "RINGLB_FAULT: this build has no fault injection hooks (build with make fault)");
	return -ENOTSUP;
#endif
	memset(rules, 0, sizeof(rules));
	ret = fault_parse(spec, rules, err, errlen);
	if (ret < 0)
		return ret;
	if (seed && *seed) {
		errno = 0;
		fault_seed = strtoull(seed, &end, 0);
		if (errno || *end) {
			snprintf(err, errlen, "RINGLB_FAULT_SEED: %s: not a number", seed);
			return -EINVAL;
		}
	}
	fault_any = false;
	for (int k = 0; k < FAULT_NKINDS; k++) {
		fault_rules[k].rate = rules[k].rate;
		fault_rules[k].every = rules[k].every;
		fault_rules[k].max = rules[k].max;
		memcpy(fault_rules[k].when, rules[k].when, sizeof(rules[k].when));
		atomic_store(&fault_rules[k].calls, 0);
		atomic_store(&fault_rules[k].injected, 0);
		if (rules[k].rate || rules[k].every)
			fault_any = true;
	}
	return 0;
}

void fault_arm(void)
{
#ifdef RINGLB_FAULT
	atomic_store(&fault__armed, fault_any);
#endif
}

#ifdef RINGLB_FAULT

/* This thread's draw in [0,1). */
static double fault_draw(void)
{
	uint64_t s = fault_rng;

	if (!s) {
		unsigned t = atomic_fetch_add(&fault_threads, 1) + 1;

		s = (fault_seed ^ ((uint64_t)t * 0x9e3779b97f4a7c15ull)) | 1;
	}
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	fault_rng = s;
	return (double)((s * 0x2545f4914f6cdd1dull) >> 11) / (double)(1ull << 53);
}

/* Takes one of <r>'s faults, unless its cap is reached. */
static bool fault_take(struct fault_rule *r)
{
	uint64_t n = atomic_load_explicit(&r->injected, memory_order_relaxed);

	do {
		if (r->max && n >= r->max)
			return false;
	} while (!atomic_compare_exchange_weak(&r->injected, &n, n + 1));
	return true;
}

bool fault__hit(enum fault_kind k)
{
	struct fault_rule *r = &fault_rules[k];
	uint64_t n;

	if (!r->rate && !r->every)
		return false;
	n = atomic_fetch_add_explicit(&r->calls, 1, memory_order_relaxed) + 1;
	if (r->every ? n % r->every != 0 : fault_draw() >= r->rate)
		return false;
	return fault_take(r);
}
#endif

uint64_t fault_injected(enum fault_kind k)
{
	return (unsigned)k < FAULT_NKINDS ? atomic_load(&fault_rules[k].injected) : 0;
}

uint64_t fault_calls(enum fault_kind k)
{
	return (unsigned)k < FAULT_NKINDS ? atomic_load(&fault_rules[k].calls) : 0;
}

void fault_log(const char *prefix)
{
	for (int k = 0; k < FAULT_NKINDS; k++) {
		const struct fault_rule *r = &fault_rules[k];

		if (!r->rate && !r->every)
			continue;
		log_info("%s kind=%s when=%s calls=%llu injected=%llu", prefix, fault_names[k],
		         r->when, (unsigned long long)atomic_load(&r->calls),
		         (unsigned long long)atomic_load(&r->injected));
	}
}
