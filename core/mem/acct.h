/* The global memory accountant: every byte the data path holds is charged
 * here before it is allocated, per component and per NUMA node, against the
 * limits of `memory_limits`. The pressure level and the accept decision of
 * DESIGN.md's "Contracts" derive from it.
 *
 * Thread safety: all counters are atomics; any thread may charge/release.
 */
#ifndef RINGLB_CORE_ACCT_H
#define RINGLB_CORE_ACCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/config-t.h"

#define ACCT_MAX_NODES 64

enum acct_comp {
	ACCT_CONN,  /* connection tables and records */
	ACCT_BUF,   /* buffer pools */
	ACCT_SSL,   /* TLS sessions and contexts */
	ACCT_CACHE, /* caches */
	ACCT_NCOMP,
};

enum acct_level {
	ACCT_NORMAL,
	ACCT_WARNING,
	ACCT_CRITICAL,
};

enum acct_decision {
	ACCT_ACCEPT,
	ACCT_DEFER,
	ACCT_REJECT,
};

struct acct_comp_stats {
	uint64_t current, peak, limit;
	uint64_t allocs, releases, refused;
};

struct acct_stats {
	struct acct_comp_stats comp[ACCT_NCOMP];
	struct acct_comp_stats total;
	uint64_t node_current[ACCT_MAX_NODES];
	unsigned nnodes;
	enum acct_level level;
	enum acct_level level_peak; /* the highest level reached since start */
	uint64_t entered[3];        /* times each level was entered */
	double usage;               /* the largest u */
};

struct acct;

/* Creates an accountant with the limits and thresholds of <lim>/<tun>. */
struct acct *acct_new(const struct cfg_memory_limits *lim, const struct cfg_memory_tuning *tun);
void acct_free(struct acct *a);

/* Replaces limits and thresholds (reload). Current usage is kept. */
void acct_set_limits(struct acct *a, const struct cfg_memory_limits *lim,
                     const struct cfg_memory_tuning *tun);

/* Charges <n> bytes to <comp> on <node> (-1 = unknown). Returns 0, or
 * -ENOMEM without charging anything when the component's or the total's
 * limit would be exceeded. */
int acct_charge(struct acct *a, enum acct_comp comp, int node, size_t n);

/* Gives back <n> bytes charged with acct_charge(). */
void acct_release(struct acct *a, enum acct_comp comp, int node, size_t n);

/* Pressure level from the largest current/limit, per the Contracts. */
enum acct_level acct_level(const struct acct *a);
const char *acct_level_name(enum acct_level lvl);

/* The accept decision for a new connection, drawing from <rng> (a
 * per-worker xorshift64 state that tests seed). */
enum acct_decision acct_decide(const struct acct *a, uint64_t *rng);

/* Copies every counter. */
void acct_snapshot(const struct acct *a, struct acct_stats *st);

/* True when every component is back at zero (tests, shutdown). */
bool acct_idle(const struct acct *a);

/* xorshift64*: the per-worker PRNG. Returns a double in [0,1). */
double acct_rand01(uint64_t *rng);

#endif
