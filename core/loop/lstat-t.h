/* Per-worker counters of listeners and backends: types only (lstat.h). */
#ifndef RINGLB_CORE_LSTAT_T_H
#define RINGLB_CORE_LSTAT_T_H

#include <stdatomic.h>
#include <stdint.h>

#define LSTAT_NB    16 /* histogram bounds (lstat_bounds_us), +Inf not counted */
#define LSTAT_NCODE 6  /* HTTP answers by class: [0] anything else, [1..5] 1xx..5xx */

/* A latency histogram: counts per bucket (not cumulative: the reader sums
 * them), n[LSTAT_NB] past the last bound, and the sum of what was added. */
struct lstat_hist {
	_Atomic uint64_t n[LSTAT_NB + 1];
	_Atomic uint64_t sum_us;
};

/* Why a client connection was refused. */
enum lstat_reject {
	LSTAT_REJ_PRESSURE,   /* memory pressure (Critical): closed, or 503 */
	LSTAT_REJ_TABLE_FULL, /* no record free in the worker's table */
	LSTAT_REJ_NO_BACKEND, /* no backend up in the pool: refused, or 503 */
	LSTAT_NREJ,
};

/* One listener (by name) on one worker. Written by that worker alone
 * (relaxed load + store), read by whoever scrapes. A cache line of its own
 * at least, so workers never share one. */
struct lstat_w {
	_Atomic uint64_t accepted;
	_Atomic uint64_t active;
	_Atomic uint64_t deferred;
	_Atomic uint64_t rejected[LSTAT_NREJ];
	_Atomic uint64_t http[LSTAT_NCODE];
	struct lstat_hist dur; /* http: head's first byte to the end of the answer */
} __attribute__((aligned(64)));

/* One backend (by pool name and address) on one worker, the same way. */
struct bstat_w {
	_Atomic uint64_t http[LSTAT_NCODE]; /* answers it gave, by class */
	struct lstat_hist connect;          /* connect (and a TLS handshake) */
} __attribute__((aligned(64)));

#endif
