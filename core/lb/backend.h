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

/* Entries in the registry now (tests, stats). */
unsigned backend_count(void);

#endif
