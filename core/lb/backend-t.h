/* Backends' runtime state, shared by config snapshots: types only. */
#ifndef RINGLB_CORE_BACKEND_T_H
#define RINGLB_CORE_BACKEND_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One backend as the process knows it across reloads: the registry's entry
 * for a (pool name, address text) pair. Every snapshot whose pool of that
 * name lists that address refers to the same entry, so its counters and
 * state survive a reload. What is config (the weight) stays per snapshot,
 * in struct lb.
 *
 * The counters and <down> are atomics, read and written lock-free by every
 * worker. The rest belongs to the registry (core/backend.c), under its
 * lock. Entries are cache-line aligned so that two backends' counters never
 * share a line.
 */
struct backend {
	_Atomic uint32_t active; /* connections in progress, all workers, all snapshots */
	/* Set by health checks; a down backend is skipped. The health-check and
	 * admin issues will want more than up/down (checking, drain, maint):
	 * that becomes an enum backend_state here, read with one atomic load as
	 * <down> is now. */
	_Atomic bool down;
	_Atomic uint64_t picks; /* times chosen */
	_Atomic uint64_t connect_ok;
	_Atomic uint64_t connect_fail;

	/* registry only, under its lock */
	unsigned refs;        /* backend_get()/backend_ref() minus backend_put() */
	uint64_t hash;        /* of the key */
	struct backend *next; /* in its bucket */
	const char *addr;     /* the key's second half, inside <pool>'s allocation */
	char pool[];          /* the key: pool name, NUL, address text, NUL */
};

#endif
