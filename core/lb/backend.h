/* The backend registry: runtime state of every backend some config snapshot
 * lists, keyed by (pool name, address text as written), shared by all the
 * snapshots that list it.
 *
 * An entry is refcounted: each struct lb that refers to it holds one
 * reference, so it lives while any snapshot uses it and is freed by the
 * last backend_put(), from whichever thread frees the last such snapshot.
 * A pool renamed or an address written differently is another entry, with
 * counters from 0.
 *
 * Thread safety: the registry's table and the reference counts are under
 * one mutex, taken only when snapshots are built and freed; the entries'
 * counters are atomics that workers use without it.
 */
#ifndef RINGLB_CORE_BACKEND_H
#define RINGLB_CORE_BACKEND_H

#include <stdbool.h>

#include "core/lb/backend-t.h"

/* Returns the entry of backend <addr> in pool <pool>, created with every
 * counter at 0 if there was none, with one reference for the caller (drop
 * it with backend_put()). Returns NULL on ENOMEM. */
struct backend *backend_get(const char *pool, const char *addr);

/* Takes one more reference on <be>, which the caller holds; returns <be>. */
struct backend *backend_ref(struct backend *be);

/* Drops one reference on <be> (NULL: nothing); the last one removes it from
 * the registry and frees it. Any thread. */
void backend_put(struct backend *be);

/* <be>'s state (one relaxed load; any thread). */
static inline enum backend_state backend_state(const struct backend *be)
{
	return (enum backend_state)atomic_load_explicit(&be->state, memory_order_relaxed);
}

/* "up", "down", "draining", "disabled". */
const char *backend_state_name(enum backend_state s);

/* Records the health verdict on <be> (up: true) and recomputes its state;
 * a change of state is logged once, with <reason>, as
 * "ringlb: backend pool=P addr=A up->down reason=R", and counted. Returns
 * true when the state changed. Any thread; callers of one backend must
 * not race each other (the health checker is one thread). */
bool backend_set_health(struct backend *be, bool up, const char *reason);

/* Records the operator's word on backend <addr> of pool <pool> and
 * recomputes its state (logged and counted as above, reason=admin). It is
 * kept while any snapshot lists the backend, so across reloads. Returns 0,
 * or -ENOENT when no snapshot lists it. */
int backend_set_admin(const char *pool, const char *addr, enum backend_admin a);

/* Passive checks: a failure of a connection to <be> (connect refused or
 * timed out, a reset, an http 5xx) at <now> (clock_ms()). Consecutive
 * failures form a streak that starts at the first; once <failures> of them
 * fall within <window> ms of it, <be> is held down for <down_time> ms
 * (logged and counted as a state change, reason=passive) and true is
 * returned, to the one caller that did it. Lock-free (a CAS on <be>'s
 * streak word) until then; any worker. */
bool backend_passive_fail(struct backend *be, uint64_t now, uint32_t failures, uint64_t window,
                          uint64_t down_time);

/* Ends <be>'s passive hold when it is due at <now> (or at once with
 * <force>): its state is recomputed (logged when it changes,
 * reason=passive-expired). Returns true when a hold ended. The control
 * thread. */
bool backend_passive_expire(struct backend *be, uint64_t now, bool force);

/* A success of a connection to <be>: ends a failure streak. One load, and
 * a store only when a streak was running. Any worker. */
static inline void backend_passive_ok(struct backend *be)
{
	if (atomic_load_explicit(&be->streak, memory_order_relaxed))
		atomic_store_explicit(&be->streak, 0, memory_order_relaxed);
}

/* Calls <fn> on every entry, under the registry's lock (so <fn> must not
 * call into the registry), in no set order. */
void backend_foreach(void (*fn)(struct backend *be, void *arg), void *arg);

/* Entries in the registry now (tests, stats). */
unsigned backend_count(void);

#endif
