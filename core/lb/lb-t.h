/* Balancing: types only. */
#ifndef RINGLB_CORE_LB_T_H
#define RINGLB_CORE_LB_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum lb_algo {
	LB_ROUND_ROBIN,
	LB_WEIGHTED_ROUND_ROBIN, /* smooth (nginx) weighted round robin */
	LB_LEAST_CONN,
	LB_P2C,    /* power of two random choices on active count */
	LB_MAGLEV, /* consistent hashing on a key (client address, header) */
	LB_NALGO,
};

#define LB_MAX_TRIES   4     /* distinct backends tried for one connection */
#define LB_MAGLEV_SIZE 65537 /* prime, > 100 x backends for near-even spread */

/* Runtime state of one backend, shared by every worker (atomics). */
struct lb_backend {
	uint32_t weight;         /* from config; 0 = never picked */
	_Atomic uint32_t active; /* connections in progress, all workers */
	_Atomic bool down;       /* set by health checks; a down backend is skipped */
	_Atomic uint64_t picks;  /* times chosen */
	_Atomic uint64_t connect_ok;
	_Atomic uint64_t connect_fail;
};

/* Runtime state of one pool: built once per config snapshot, then read by
 * every worker. The backend array is owned by it. */
struct lb {
	enum lb_algo algo;
	unsigned n; /* backends */
	struct lb_backend *be;
	uint32_t *maglev; /* LB_MAGLEV_SIZE entries (backend index), maglev only */
	uint32_t total_weight;
};

/* Per-worker, per-pool cursor: never shared, so no atomics. */
struct lb_cursor {
	uint32_t rr; /* round robin position */
	int32_t *cw; /* smooth WRR current weights, n entries */
	unsigned n;
	uint64_t rng; /* xorshift state for p2c, seeded per worker */
};

#endif
