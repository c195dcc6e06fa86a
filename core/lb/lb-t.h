/* Balancing: types only. */
#ifndef RINGLB_CORE_LB_T_H
#define RINGLB_CORE_LB_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/lb/backend-t.h"

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

/* One backend of a pool as one snapshot sees it: the registry's entry,
 * whose runtime state (atomics) every snapshot listing it shares, and this
 * snapshot's weight. */
struct lb_slot {
	struct backend *be; /* one reference, held by the struct lb */
	uint32_t weight;    /* from config; 0 = never picked */
};

struct lb;
struct lb_cursor;

/* One balancing algorithm, as lb.c calls it: each algorithm file (lb_rr.c,
 * lb_wrr.c, lb_lc.c, lb_p2c.c, lb_maglev.c) defines one table and lb.c
 * calls only through it, never the other way round. */
struct lb_algo_ops {
	const char *name;
	/* Picks an eligible backend for <key> (maglev; the others ignore it),
	 * skipping the <ntried> indexes of <tried>. Never called with an
	 * empty pool. Returns the index or -1. */
	int (*pick)(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
	            unsigned ntried);
	/* Optional: builds per-snapshot state once the weights are set
	 * (maglev's table, freed by lb_free()). Returns 0 or -ENOMEM. */
	int (*build)(struct lb *lb);
	/* Optional: per-worker state in a cursor of a non-empty pool (smooth
	 * WRR's cur->cw, freed by lb_cursor_deinit()). Returns 0 or -ENOMEM. */
	int (*cursor_init)(struct lb_cursor *cur, const struct lb *lb);
};

/* Balancing state of one pool: built once per config snapshot, then read by
 * every worker. It owns its slot array and a reference on each entry. */
struct lb {
	const struct lb_algo_ops *ops;
	enum lb_algo algo;
	unsigned n;           /* backends */
	struct lb_slot *slot; /* n */
	uint32_t *maglev;     /* LB_MAGLEV_SIZE entries (backend index), maglev only */
	uint32_t total_weight;
};

/* Per-worker, per-pool cursor: never shared, so no atomics. */
struct lb_cursor {
	uint32_t rr; /* round robin position */
	int32_t *cw; /* smooth WRR current weights, n entries (its cursor_init) */
	unsigned n;
	uint64_t rng; /* xorshift state for p2c, seeded per worker */
};

#endif
