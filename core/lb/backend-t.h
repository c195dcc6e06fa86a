/* Backends' runtime state, shared by config snapshots: types only. */
#ifndef RINGLB_CORE_BACKEND_T_H
#define RINGLB_CORE_BACKEND_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A backend's state as every worker sees it (one atomic load). Only up
 * takes new connections; draining keeps the ones it has; down and disabled
 * take none. It is derived from two inputs kept apart so that neither
 * forgets the other: the health verdict (checks, passive detection) and the
 * operator's word (admin endpoint). Order of precedence: disabled, draining
 * (operator), then down (health: the active checks' verdict, or a passive
 * hold), else up. */
enum backend_state {
	BACKEND_UP,
	BACKEND_DOWN,
	BACKEND_DRAINING,
	BACKEND_DISABLED,
	BACKEND_NSTATES,
};

/* What the operator asked for (POST /backends/POOL/ADDR/drain|disable|enable). */
enum backend_admin {
	BACKEND_ADMIN_ENABLE, /* none: health decides */
	BACKEND_ADMIN_DRAIN,
	BACKEND_ADMIN_DISABLE,
};

/* backend.streak: the ms of the first failure of the current streak in the
 * high 40 bits, how many in the low 24 (0 = no streak). */
#define BACKEND_STREAK_BITS 24
#define BACKEND_STREAK_MAX  ((1u << BACKEND_STREAK_BITS) - 1)

/* One backend as the process knows it across reloads: the registry's entry
 * for a (pool name, address text) pair. Every snapshot whose pool of that
 * name lists that address refers to the same entry, so its counters and
 * state survive a reload. What is config (the weight) stays per snapshot,
 * in struct lb.
 *
 * The counters and the states are atomics, read and written lock-free by every
 * worker. The rest belongs to the registry (core/backend.c), under its
 * lock. Entries are cache-line aligned so that two backends' counters never
 * share a line.
 */
struct backend {
	_Atomic uint32_t active;      /* connections in progress, all workers, all snapshots */
	_Atomic uint8_t state;        /* enum backend_state: what balancing reads */
	_Atomic uint8_t health;       /* BACKEND_UP or BACKEND_DOWN: checks' verdict */
	_Atomic uint8_t admin;        /* enum backend_admin: the operator's word */
	_Atomic uint64_t transitions; /* changes of <state> */
	_Atomic uint64_t picks;       /* times chosen */
	_Atomic uint64_t connect_ok;
	_Atomic uint64_t connect_fail;

	/* Passive checks (backend_passive_*()): written by workers on
	 * failures only, and once per streak on the next success. */
	_Atomic uint64_t streak;        /* BACKEND_STREAK: first failure's ms << 24 | count */
	_Atomic uint8_t passive;        /* 1 while passive detection holds it down */
	_Atomic uint64_t passive_until; /* ms (clock_ms()) the hold ends */
	_Atomic uint64_t passive_downs; /* times passive detection took it down */
	/* Active checks' results (the control thread) */
	_Atomic uint64_t checks_ok;
	_Atomic uint64_t checks_fail;

	/* registry only, under its lock */
	unsigned refs;        /* backend_get()/backend_ref() minus backend_put() */
	uint64_t hash;        /* of the key */
	struct backend *next; /* in its bucket */
	const char *addr;     /* the key's second half, inside <pool>'s allocation */
	char pool[];          /* the key: pool name, NUL, address text, NUL */
};

#endif
