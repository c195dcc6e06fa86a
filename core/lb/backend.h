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

/* Calls <fn> on every entry, under the registry's lock (so <fn> must not
 * call into the registry), in no set order. */
void backend_foreach(void (*fn)(struct backend *be, void *arg), void *arg);

/* Entries in the registry now (tests, stats). */
unsigned backend_count(void);

#endif
