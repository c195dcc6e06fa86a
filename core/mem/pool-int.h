/* Buffer pools inside (pool.h): the types pool.c and pool_over.c share. */
#ifndef RINGLB_CORE_MEM_POOL_INT_H
#define RINGLB_CORE_MEM_POOL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config-t.h"
#include "core/mem/acct.h"

struct pool_cache;

#define POOL_CACHE_MAX 32
#define POOL_OVER_NB   1024 /* hash buckets of a pool's overflow table */

/* Written by the worker that holds the buffer, read by the leak check. */
struct pool_track {
	_Atomic uint64_t since;   /* ms, when handed out */
	const char *_Atomic site; /* NULL while in the pool */
};

/* A buffer past its class's max_count (see the head comment). */
struct pool_over {
	struct pool_over *next; /* in its hash bucket */
	char *buf;
	uint64_t since;   /* ms, when handed out (the leak check) */
	const char *site; /* who took it */
	uint8_t cls;
};

struct pool_class {
	char *base;
	uint32_t size;
	uint32_t cap;               /* slots reserved: max_count */
	_Atomic uint32_t *next;     /* link of each slot, in whichever stack holds it */
	_Atomic uint64_t free_head; /* tag << 32 | index */
	_Atomic uint64_t spare_head;
	_Atomic uint32_t count;  /* resident buffers */
	_Atomic uint32_t nfree;  /* on the free stack */
	_Atomic uint32_t cached; /* in workers' caches */
	uint32_t min_count;
	double growth;
	_Atomic uint64_t gets, puts, fails, grows, shrinks, zeroed;
	_Atomic uint64_t over_gets, over_puts, over_fails; /* past max_count */
	_Atomic uint32_t over_in_use, over_peak;
#ifdef RINGLB_DEBUG
	struct pool_track *track;
#endif
};

struct pool {
	int node;
	struct acct *acct;
	struct pool_class cls[BUF_NCLASS];
	pthread_mutex_t caches_lock; /* registration and the control thread's walk */
	struct pool_cache *caches;
	pthread_mutex_t over_lock;   /* the overflow table */
	struct pool_over **over;     /* POOL_OVER_NB buckets, allocated at the first */
	_Atomic uint32_t over_count; /* overflow buffers out, every class */
};

/* pool_over.c. A zeroed buffer of class <cls> from outside the class's
 * area, charged to ACCT_BUF; NULL when the accountant (or the allocator)
 * refuses (counted). */
void *pool__over_get(struct pool *p, int cls, const char *site);
/* The class size of <buf> if it is one of <p>'s overflow buffers, else 0. */
size_t pool__over_size(struct pool *p, const void *buf);
/* Gives back <buf> if it is one of <p>'s overflow buffers (true): its
 * written prefix zeroed, then freed and uncharged. */
bool pool__over_put(struct pool *p, void *buf, size_t used);
/* Overflow buffers of <p> held past <threshold_ms>, each logged. */
unsigned pool__over_leaks(struct pool *p, uint64_t now_ms, uint64_t threshold_ms);
/* Frees what is left in the overflow table at pool_free() (a leak). */
void pool__over_free_all(struct pool *p);

#endif
