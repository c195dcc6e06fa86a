/* Buffer pools: four size classes per node.
 *
 * Each class reserves address space for max_count buffers in one node-bound
 * mapping (MAP_NORESERVE: no memory until touched). A buffer is identified
 * by its index in that area. Two lock-free stacks share one array of next
 * links: <free> holds resident buffers ready to hand out, <spare> the slots
 * that hold no memory (never used, or given back to the OS by a shrink).
 * Stack heads pack a 32-bit index with a 32-bit tag bumped at every change,
 * so a pop that raced with pop-pop-push of the same index fails its CAS (no
 * ABA) and nothing needs RCU or a lock. (liburcu's lfstack would need a
 * grace period before a popped node is pushed again, or a mutex between
 * poppers: neither fits a buffer that goes back within microseconds.)
 *
 * Resident buffers are charged to ACCT_BUF when a class grows (on demand by
 * one buffer, or by its growth factor in pool_adjust()) and released when it
 * shrinks. Hand-out and return do not touch the accountant. A worker's cache
 * keeps up to POOL_CACHE_MAX buffers per class and moves half of that at a
 * time to or from the shared stack, so most gets and puts touch only the
 * worker's own cache line; the pool's counters of gets and puts lag by at
 * most one cache's unflushed batch.
 *
 * Past max_count. max_count bounds what a class keeps and grows to, not
 * what the process may hold: that is memory_limits' job (DESIGN.md's
 * Contracts). A get that finds its class at max_count, every resident
 * buffer handed out, takes an overflow buffer: allocated outside the
 * class's area (aligned_alloc), charged to ACCT_BUF like a resident one,
 * and freed (its written prefix zeroed first) as soon as it is returned,
 * so the class never keeps more than max_count. Only the accountant can
 * refuse one. Overflow buffers are found again by address in the pool's
 * table, under a mutex: they are the rare path, and the lock is never
 * taken while the class has room. Every case is counted per class
 * (over_gets, over_puts, over_fails, over_in_use, over_peak).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "core/base/fault.h"
#include "core/base/log.h"
#include "core/mem/pool-int.h"
#include "core/mem/pool.h"
#include "numa/nodemem.h"

#define POOL_NONE      UINT32_MAX
#define POOL_MAX_POOLS 64

static const uint32_t pool_sizes[BUF_NCLASS] = {POOL_SMALL, POOL_MEDIUM, POOL_LARGE, POOL_GIANT};
/* A cache of 32 giant buffers would pin 8 MiB per worker: fewer for big classes. */
static const uint32_t pool_cache_cap[BUF_NCLASS] = {32, 32, 8, 4};

struct pool_cache_class {
	uint32_t n;
	uint32_t idx[POOL_CACHE_MAX];
	uint64_t gets, puts, zeroed; /* not yet added to the pool's counters */
};

struct pool_cache {
	struct pool *pool;
	struct pool_cache *next; /* in pool->caches */
	struct pool_cache_class cls[BUF_NCLASS];
	/* Handed out but on standby (a receive ring): free for sizing. Written
	 * by the owner only, read by the control thread. */
	_Atomic uint32_t standing[BUF_NCLASS];
};

/* Every pool, so pool_put() finds the owner of a buffer from another node. */
static struct pool *_Atomic pool_all[POOL_MAX_POOLS];
static pthread_mutex_t pool_all_lock = PTHREAD_MUTEX_INITIALIZER;

int pool_class_of(size_t size)
{
	for (int i = 0; i < BUF_NCLASS; i++)
		if (size <= pool_sizes[i])
			return i;
	return -1;
}

size_t pool_class_size(int cls)
{
	return cls >= 0 && cls < BUF_NCLASS ? pool_sizes[cls] : 0;
}

/* ---- the tagged stacks ---- */

static void pool_push(struct pool_class *pc, _Atomic uint64_t *head, uint32_t idx)
{
	uint64_t old = atomic_load_explicit(head, memory_order_relaxed), nw;

	do {
		atomic_store_explicit(&pc->next[idx], (uint32_t)old, memory_order_relaxed);
		nw = ((old >> 32) + 1) << 32 | idx;
	} while (!atomic_compare_exchange_weak_explicit(head, &old, nw, memory_order_release,
	                                                memory_order_relaxed));
}

static uint32_t pool_pop(struct pool_class *pc, _Atomic uint64_t *head)
{
	uint64_t old = atomic_load_explicit(head, memory_order_acquire), nw;
	uint32_t idx;

	do {
		idx = (uint32_t)old;
		if (idx == POOL_NONE)
			return POOL_NONE;
		nw = ((old >> 32) + 1) << 32 |
		     atomic_load_explicit(&pc->next[idx], memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(head, &old, nw, memory_order_acquire,
	                                                memory_order_acquire));
	return idx;
}

static char *pool_addr(const struct pool_class *pc, uint32_t idx)
{
	return pc->base + (size_t)idx * pc->size;
}

/* ---- growth and shrink ---- */

/* Makes one more buffer resident and puts it on the free stack. Returns
 * false at max_count or when the accountant refuses. */
static bool pool_grow_one(struct pool *p, struct pool_class *pc)
{
	uint32_t idx = pool_pop(pc, &pc->spare_head);

	if (idx == POOL_NONE)
		return false;
	if (acct_charge(p->acct, ACCT_BUF, p->node, pc->size) < 0) {
		pool_push(pc, &pc->spare_head, idx);
		return false;
	}
	atomic_fetch_add_explicit(&pc->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->nfree, 1, memory_order_relaxed);
	pool_push(pc, &pc->free_head, idx);
	return true;
}

/* Takes one free buffer back to the OS. */
static bool pool_shrink_one(struct pool *p, struct pool_class *pc)
{
	uint32_t idx = pool_pop(pc, &pc->free_head);

	if (idx == POOL_NONE)
		return false;
	atomic_fetch_sub_explicit(&pc->nfree, 1, memory_order_relaxed);
	nodemem_discard(pool_addr(pc, idx), pc->size);
	atomic_fetch_sub_explicit(&pc->count, 1, memory_order_relaxed);
	acct_release(p->acct, ACCT_BUF, p->node, pc->size);
	pool_push(pc, &pc->spare_head, idx);
	return true;
}

static int pool_class_init(struct pool *p, int i, const struct cfg_buffer_class *cfg)
{
	struct pool_class *pc = &p->cls[i];
	uint32_t k;

	pc->size = pool_sizes[i];
	pc->cap = cfg->max_count;
	pc->min_count = cfg->initial_count;
	pc->growth = cfg->growth_factor;
	atomic_init(&pc->free_head, POOL_NONE);
	atomic_init(&pc->spare_head, POOL_NONE);
	pc->base = nodemem_alloc((size_t)pc->cap * pc->size, p->node);
	pc->next = calloc(pc->cap, sizeof(*pc->next));
	if (!pc->base || !pc->next)
		return -ENOMEM;
#ifdef RINGLB_DEBUG
	pc->track = calloc(pc->cap, sizeof(*pc->track));
	if (!pc->track)
		return -ENOMEM;
#endif
	/* Pushed high to low so buffers are handed out from the start of the area. */
	for (k = pc->cap; k-- > 0;)
		pool_push(pc, &pc->spare_head, k);
	for (k = 0; k < pc->min_count; k++)
		if (!pool_grow_one(p, pc))
			return -ENOBUFS;
	return 0;
}

struct pool *pool_new(int node, const struct cfg_buffer_class cfg[BUF_NCLASS], struct acct *acct)
{
	struct pool *p = calloc(1, sizeof(*p));
	int i, ret = 0;

	if (!p)
		return NULL;
	p->node = node;
	p->acct = acct;
	pthread_mutex_init(&p->caches_lock, NULL);
	pthread_mutex_init(&p->over_lock, NULL);
	for (i = 0; i < BUF_NCLASS && !ret; i++)
		ret = pool_class_init(p, i, &cfg[i]);
	if (ret < 0) {
		pool_free(p);
		errno = -ret;
		return NULL;
	}
	pthread_mutex_lock(&pool_all_lock);
	for (i = 0; i < POOL_MAX_POOLS; i++)
		if (!pool_all[i]) {
			pool_all[i] = p;
			break;
		}
	pthread_mutex_unlock(&pool_all_lock);
	return p;
}

void pool_free(struct pool *p)
{
	int i;

	if (!p)
		return;
	pthread_mutex_lock(&pool_all_lock);
	for (i = 0; i < POOL_MAX_POOLS; i++)
		if (pool_all[i] == p)
			pool_all[i] = NULL;
	pthread_mutex_unlock(&pool_all_lock);
	pool__over_free_all(p);
	for (i = 0; i < BUF_NCLASS; i++) {
		struct pool_class *pc = &p->cls[i];
		uint32_t count = atomic_load(&pc->count), nfree = atomic_load(&pc->nfree);

		if (count != nfree)
			log_warn("pool: node %d class %u: %u of %u buffers not returned", p->node,
			         pc->size, count - nfree, count);
		if (pc->count)
			acct_release(p->acct, ACCT_BUF, p->node, (size_t)count * pc->size);
		nodemem_free(pc->base, (size_t)pc->cap * pc->size);
		free(pc->next);
#ifdef RINGLB_DEBUG
		free(pc->track);
#endif
	}
	pthread_mutex_destroy(&p->caches_lock);
	pthread_mutex_destroy(&p->over_lock);
	free(p);
}

/* ---- past max_count (pool_over.c), across pools ---- */

/* The class size of overflow buffer <buf> of any pool, 0 if it is none. */
static size_t pool_over_size(struct pool *own, const void *buf)
{
	size_t size = 0;

	for (int k = -1; k < POOL_MAX_POOLS && !size; k++) {
		struct pool *p = k < 0 ? own : pool_all[k];

		if (p && (k < 0 || p != own))
			size = pool__over_size(p, buf);
	}
	return size;
}

/* Gives back overflow buffer <buf> if it is one of any pool (true). */
static bool pool_over_put(struct pool *own, void *buf, size_t used)
{
	for (int k = -1; k < POOL_MAX_POOLS; k++) {
		struct pool *p = k < 0 ? own : pool_all[k];

		if (p && (k < 0 || p != own) && pool__over_put(p, buf, used))
			return true;
	}
	return false;
}

/* ---- the per-worker cache ---- */

struct pool_cache *pool_cache_new(struct pool *p)
{
	struct pool_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->pool = p;
	pthread_mutex_lock(&p->caches_lock);
	c->next = p->caches;
	p->caches = c;
	pthread_mutex_unlock(&p->caches_lock);
	return c;
}

void pool_cache_standing(struct pool_cache *c, int cls, int delta)
{
	uint32_t v = atomic_load_explicit(&c->standing[cls], memory_order_relaxed);

	atomic_store_explicit(&c->standing[cls], v + delta, memory_order_relaxed);
}

/* Buffers of class <cls> on standby in every cache of <p>. */
static uint32_t pool_standing(struct pool *p, int cls)
{
	uint32_t n = 0;

	pthread_mutex_lock(&p->caches_lock);
	for (struct pool_cache *c = p->caches; c; c = c->next)
		n += atomic_load_explicit(&c->standing[cls], memory_order_relaxed);
	pthread_mutex_unlock(&p->caches_lock);
	return n;
}

/* Adds the cache's batched counters to the pool's. */
static void pool_cache_sync(struct pool_class *pc, struct pool_cache_class *cc)
{
	atomic_fetch_add_explicit(&pc->gets, cc->gets, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->puts, cc->puts, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->zeroed, cc->zeroed, memory_order_relaxed);
	cc->gets = cc->puts = cc->zeroed = 0;
}

/* Moves <n> buffers from the cache to the shared stack. */
static void pool_cache_drain(struct pool_class *pc, struct pool_cache_class *cc, uint32_t n)
{
	uint32_t k;

	for (k = 0; k < n && cc->n; k++)
		pool_push(pc, &pc->free_head, cc->idx[--cc->n]);
	atomic_fetch_add_explicit(&pc->nfree, k, memory_order_relaxed);
	atomic_fetch_sub_explicit(&pc->cached, k, memory_order_relaxed);
	pool_cache_sync(pc, cc);
}

void pool_cache_trim(struct pool_cache *c)
{
	for (int i = 0; i < BUF_NCLASS; i++)
		pool_cache_drain(&c->pool->cls[i], &c->cls[i], POOL_CACHE_MAX);
}

void pool_cache_free(struct pool_cache *c)
{
	struct pool_cache **pp;

	if (!c)
		return;
	pthread_mutex_lock(&c->pool->caches_lock);
	for (pp = &c->pool->caches; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	pthread_mutex_unlock(&c->pool->caches_lock);
	for (int i = 0; i < BUF_NCLASS; i++)
		pool_cache_drain(&c->pool->cls[i], &c->cls[i], POOL_CACHE_MAX);
	free(c);
}

/* Fills half the cache from the shared stack, growing the class by one
 * buffer at a time when the stack is empty. Returns false when nothing
 * could be had. */
static bool pool_cache_fill(struct pool *p, struct pool_class *pc, struct pool_cache_class *cc,
                            uint32_t want)
{
	uint32_t got = 0, idx;

	while (got < want) {
		idx = pool_pop(pc, &pc->free_head);
		if (idx == POOL_NONE) {
			if (got || !pool_grow_one(p, pc))
				break;
			atomic_fetch_add_explicit(&pc->grows, 1, memory_order_relaxed);
			continue;
		}
		atomic_fetch_sub_explicit(&pc->nfree, 1, memory_order_relaxed);
		cc->idx[cc->n++] = idx;
		got++;
	}
	atomic_fetch_add_explicit(&pc->cached, got, memory_order_relaxed);
	pool_cache_sync(pc, cc);
	return got > 0;
}

void *pool_get_at(struct pool_cache *c, int cls, const char *site)
{
	struct pool_class *pc;
	struct pool_cache_class *cc;
	uint32_t idx;

	if (cls < 0 || cls >= BUF_NCLASS)
		return NULL;
	pc = &c->pool->cls[cls];
	cc = &c->cls[cls];
	if (fault_hit(FAULT_POOL)) {
		atomic_fetch_add_explicit(&pc->fails, 1, memory_order_relaxed);
		return NULL;
	}
	if (!cc->n && !pool_cache_fill(c->pool, pc, cc, pool_cache_cap[cls] / 2)) {
		void *o = NULL;

		/* No slot left to grow into: the class is at max_count. */
		if ((uint32_t)atomic_load_explicit(&pc->spare_head, memory_order_acquire) ==
		    POOL_NONE)
			o = pool__over_get(c->pool, cls, site);
		if (!o)
			atomic_fetch_add_explicit(&pc->fails, 1, memory_order_relaxed);
		return o;
	}
	idx = cc->idx[--cc->n];
	atomic_fetch_sub_explicit(&pc->cached, 1, memory_order_relaxed);
	cc->gets++;
#ifdef RINGLB_DEBUG
	atomic_store_explicit(&pc->track[idx].since, clock_ms(), memory_order_relaxed);
	atomic_store_explicit(&pc->track[idx].site, site, memory_order_release);
#else
	(void)site;
#endif
	return pool_addr(pc, idx);
}

/* The pool and class a buffer belongs to: <own> first, then every pool. */
static struct pool_class *pool_owner(struct pool *own, const void *buf, struct pool **owner)
{
	for (int k = -1; k < POOL_MAX_POOLS; k++) {
		struct pool *p = k < 0 ? own : pool_all[k];

		if (!p || (k >= 0 && p == own))
			continue;
		for (int i = 0; i < BUF_NCLASS; i++) {
			struct pool_class *pc = &p->cls[i];
			const char *b = buf;

			if (b >= pc->base && b < pc->base + (size_t)pc->cap * pc->size) {
				*owner = p;
				return pc;
			}
		}
	}
	return NULL;
}

size_t pool_buf_size(struct pool_cache *c, const void *buf)
{
	struct pool *owner;
	struct pool_class *pc = pool_owner(c->pool, buf, &owner);

	return pc ? pc->size : pool_over_size(c->pool, buf);
}

void pool_put(struct pool_cache *c, void *buf, size_t used)
{
	struct pool *owner;
	struct pool_class *pc;
	struct pool_cache_class *cc;
	uint32_t idx;
	int cls;

	if (!buf)
		return;
	pc = pool_owner(c->pool, buf, &owner);
	if (!pc && pool_over_put(c->pool, buf, used))
		return;
	if (!pc) {
		log_err("pool_put: %p is no pool buffer", buf);
		abort();
	}
	idx = (uint32_t)(((char *)buf - pc->base) / pc->size);
	if (used > pc->size)
		used = pc->size;
	/* Only the written prefix can hold another connection's bytes. */
	memset(buf, 0, used);
#ifdef RINGLB_DEBUG
	atomic_store_explicit(&pc->track[idx].site, NULL, memory_order_relaxed);
#endif
	cls = (int)(pc - owner->cls);
	if (owner != c->pool) {
		/* Another node's buffer goes straight home. */
		pool_push(pc, &pc->free_head, idx);
		atomic_fetch_add_explicit(&pc->nfree, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&pc->puts, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&pc->zeroed, used, memory_order_relaxed);
		return;
	}
	cc = &c->cls[cls];
	if (cc->n == pool_cache_cap[cls])
		pool_cache_drain(pc, cc, pool_cache_cap[cls] / 2);
	cc->idx[cc->n++] = idx;
	cc->puts++;
	cc->zeroed += used;
	atomic_fetch_add_explicit(&pc->cached, 1, memory_order_relaxed);
}

/* ---- the control thread's side ---- */

/* The resize a class needs at utilisation <u>: its new count. */
uint32_t pool__target(uint32_t count, uint32_t in_use, uint32_t min, uint32_t max, double growth,
                      double grow, double shrink)
{
	/* An empty class has nothing in use: growing it to one buffer would
	 * only have the next interval shrink it back (gets grow on demand). */
	double u = count ? (double)in_use / count : 0.0;
	uint64_t t = count;

	/* Both roundings allow for the error of the double: 33 / 1.1 is 30,
	 * not the 29.999999999999996 it computes to. */
	if (u > grow)
		t = (uint64_t)(count * growth + 0.999999);
	else if (u < shrink)
		t = (uint64_t)(count / growth + 0.000001);
	if (t == count && u > grow)
		t = count + 1;
	if (t < min)
		t = min;
	if (t > max)
		t = max;
	return (uint32_t)t;
}

void pool_adjust(struct pool *p, double grow, double shrink)
{
	for (int i = 0; i < BUF_NCLASS; i++) {
		struct pool_class *pc = &p->cls[i];
		uint32_t count = atomic_load(&pc->count);
		uint32_t idle =
		    atomic_load(&pc->nfree) + atomic_load(&pc->cached) + pool_standing(p, i);
		uint32_t in_use = count > idle ? count - idle : 0;
		uint32_t t =
		    pool__target(count, in_use, pc->min_count, pc->cap, pc->growth, grow, shrink);

		if (t > count) {
			while (count < t && pool_grow_one(p, pc))
				count++;
			atomic_fetch_add_explicit(&pc->grows, 1, memory_order_relaxed);
		} else if (t < count) {
			while (count > t && pool_shrink_one(p, pc))
				count--;
			atomic_fetch_add_explicit(&pc->shrinks, 1, memory_order_relaxed);
		}
	}
}

void pool_stats(struct pool *p, struct pool_stats *st)
{
	st->node = p->node;
	for (int i = 0; i < BUF_NCLASS; i++) {
		struct pool_class *pc = &p->cls[i];
		struct pool_class_stats *s = &st->cls[i];
		uint32_t count = atomic_load(&pc->count);
		uint32_t idle = atomic_load(&pc->nfree) + atomic_load(&pc->cached);

		s->size = pc->size;
		s->count = count;
		s->in_use = count > idle ? count - idle : 0;
		s->standing = pool_standing(p, i);
		s->min_count = pc->min_count;
		s->max_count = pc->cap;
		s->gets = atomic_load(&pc->gets);
		s->puts = atomic_load(&pc->puts);
		s->fails = atomic_load(&pc->fails);
		s->grows = atomic_load(&pc->grows);
		s->shrinks = atomic_load(&pc->shrinks);
		s->zeroed_bytes = atomic_load(&pc->zeroed);
		s->over_in_use = atomic_load(&pc->over_in_use);
		s->over_peak = atomic_load(&pc->over_peak);
		s->over_gets = atomic_load(&pc->over_gets);
		s->over_puts = atomic_load(&pc->over_puts);
		s->over_fails = atomic_load(&pc->over_fails);
	}
}

unsigned pool_leak_check(struct pool *p, uint64_t now_ms, uint64_t threshold_ms)
{
	unsigned n = 0;
#ifdef RINGLB_DEBUG
	for (int i = 0; i < BUF_NCLASS; i++) {
		struct pool_class *pc = &p->cls[i];

		for (uint32_t k = 0; k < pc->cap; k++) {
			struct pool_track *t = &pc->track[k];
			const char *site = atomic_load_explicit(&t->site, memory_order_acquire);
			uint64_t since = atomic_load_explicit(&t->since, memory_order_relaxed);

			if (!site || now_ms < since || now_ms - since <= threshold_ms)
				continue;
			n++;
			log_warn("leak check: node %d %u-byte buffer %u held %llu ms, from %s",
			         p->node, pc->size, k, (unsigned long long)(now_ms - since), site);
		}
	}
	n += pool__over_leaks(p, now_ms, threshold_ms);
#else
	(void)p;
	(void)now_ms;
	(void)threshold_ms;
#endif
	return n;
}
