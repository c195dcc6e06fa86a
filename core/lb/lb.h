/* Balancing algorithms behind one interface.
 *
 * A struct lb is built from a pool's backend list when a config snapshot is
 * built and freed with it; workers read it concurrently. Its backends are
 * entries of the backend registry (core/backend.h), shared with every other
 * snapshot listing the same pool and address, so their counters (atomics)
 * survive reloads; the weights are this snapshot's. Each worker keeps its
 * own struct lb_cursor per pool for the algorithms that need position state,
 * so picks touch no shared cache line except the least_conn/p2c active
 * counters.
 */
#ifndef RINGLB_CORE_LB_H
#define RINGLB_CORE_LB_H

#include <stddef.h>
#include "core/lb/backend-t.h"
#include "core/lb/lb-t.h"

/* Builds the balancing state for the <n> registry entries <be> (NULL when
 * n is 0) with <weights> (NULL: all 1). Takes its own reference on each
 * entry; the caller keeps its own. Returns NULL on allocation failure or
 * for an unknown algorithm or too many backends. Free with lb_free(). */
struct lb *lb_new(enum lb_algo algo, struct backend *const *be, const uint32_t *weights,
                  unsigned n);
/* Frees <lb> (NULL: nothing) and drops its references on the entries. */
void lb_free(struct lb *lb);

/* Initialises <cur> for <lb>, with a per-worker <seed>. Returns 0 or -ENOMEM.
 * Release with lb_cursor_deinit(). */
int lb_cursor_init(struct lb_cursor *cur, const struct lb *lb, uint64_t seed);
void lb_cursor_deinit(struct lb_cursor *cur);

/* Picks a backend index for a new connection or request. <key> is the hash
 * key (maglev: a hash of the client address or header; others ignore it).
 * Backends listed in <tried> (ntried entries), down ones and weight 0 ones
 * are skipped. Returns the index, or -1 when none is eligible. Does not
 * change the active count: call lb_conn_start()/lb_conn_end(). */
int lb_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
            unsigned ntried);

/* Hashes a key (client address bytes, header value) for maglev. */
uint64_t lb_hash(const void *data, size_t len);

/* The registry entry of backend <i>: its shared runtime state. */
static inline struct backend *lb_backend(const struct lb *lb, int i)
{
	return lb->slot[i].be;
}

/* A connection to backend <i> starts or ends: the entry's active count,
 * which every snapshot listing the backend sees. */
static inline void lb_conn_start(struct lb *lb, int i)
{
	atomic_fetch_add_explicit(&lb->slot[i].be->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&lb->slot[i].be->picks, 1, memory_order_relaxed);
}

static inline void lb_conn_end(struct lb *lb, int i)
{
	atomic_fetch_sub_explicit(&lb->slot[i].be->active, 1, memory_order_relaxed);
}

/* Counts a connect to backend <i> that succeeded, or failed. */
static inline void lb_connect_ok(struct lb *lb, int i)
{
	atomic_fetch_add_explicit(&lb->slot[i].be->connect_ok, 1, memory_order_relaxed);
}

static inline void lb_connect_fail(struct lb *lb, int i)
{
	atomic_fetch_add_explicit(&lb->slot[i].be->connect_fail, 1, memory_order_relaxed);
}

#endif
