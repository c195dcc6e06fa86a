/* Buffer pools: four size classes (4, 16, 64, 256 KiB) per NUMA node, in
 * node-local memory, with lock-free free lists and a small per-worker cache
 * in front (so the common get/put touches no shared cache line).
 *
 * Every resident buffer is charged to the accountant's ACCT_BUF component.
 * A returned buffer has its written prefix zeroed before anyone can get it.
 * pool_get()/pool_put() are called from the owning worker with its cache;
 * pool_adjust() and pool_stats() from the control thread.
 */
#ifndef RINGLB_CORE_POOL_H
#define RINGLB_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "config/config-t.h"
#include "core/mem/acct.h"

#define POOL_SMALL  (4u << 10)
#define POOL_MEDIUM (16u << 10)
#define POOL_LARGE  (64u << 10)
#define POOL_GIANT  (256u << 10)

struct pool;       /* one node's four classes */
struct pool_cache; /* one worker's cache in front of a node's pool */

struct pool_class_stats {
	uint64_t size;     /* bytes per buffer */
	uint64_t count;    /* buffers resident (pool size) */
	uint64_t in_use;   /* handed out */
	uint64_t standing; /* of those, on standby in receive rings */
	uint64_t min_count, max_count;
	uint64_t gets, puts, fails, grows, shrinks;
	uint64_t zeroed_bytes;
	/* past max_count (pool.c): buffers allocated outside the class, out
	 * now and at most; taken, returned (freed), refused by the limits */
	uint64_t over_in_use, over_peak;
	uint64_t over_gets, over_puts, over_fails;
};

struct pool_stats {
	int node;
	struct pool_class_stats cls[BUF_NCLASS];
};

/* Creates the pools of <node> (a real node id, -1 = no binding) sized by
 * <cfg>, charging <acct>. Returns NULL on failure (errno set). */
struct pool *pool_new(int node, const struct cfg_buffer_class cfg[BUF_NCLASS], struct acct *acct);
/* Frees every buffer. All caches must have been freed first. */
void pool_free(struct pool *p);

/* The size of the class pool buffer <buf> belongs to (0 if it is none). */
size_t pool_buf_size(struct pool_cache *c, const void *buf);

/* The smallest class that holds <size> bytes, or -1 if none does. */
int pool_class_of(size_t size);
size_t pool_class_size(int cls);

/* A worker's cache in front of <p>. */
struct pool_cache *pool_cache_new(struct pool *p);
/* Flushes every buffer of the cache back to its pool (its owner calls it,
 * when idle memory is given back): the pool's sizing can then shrink. */
void pool_cache_trim(struct pool_cache *c);
/* Flushes the cache back to its pool and frees it. */
void pool_cache_free(struct pool_cache *c);

/* The owner of <c> holds <delta> more (or fewer) buffers of <cls> on
 * standby, ready to be filled (its receive ring): sizing counts them free,
 * so a ring does not keep its pool grown. */
void pool_cache_standing(struct pool_cache *c, int cls, int delta);

/* Returns a zeroed buffer of class <cls>, or NULL when the accountant
 * refuses it (memory_limits). A class at its max_count hands out a buffer
 * from outside its area instead (counted in over_*), freed when it comes
 * back: max_count bounds what a class keeps, not what can be had. <site>
 * names the caller for the leak check; pool_get() fills it in. */
void *pool_get_at(struct pool_cache *c, int cls, const char *site);
#define POOL_STR_(x)     #x
#define POOL_STR(x)      POOL_STR_(x)
#define pool_get(c, cls) pool_get_at((c), (cls), __FILE__ ":" POOL_STR(__LINE__))

/* Gives <buf> back; <used> is how far it was written (the high-water mark):
 * that prefix is zeroed now. <buf> may belong to another node's pool; a
 * buffer from past max_count is freed and uncharged. */
void pool_put(struct pool_cache *c, void *buf, size_t used);

/* Adaptive sizing, called by the control thread every pool_check_interval:
 * grows a class by its growth factor above <grow> utilisation (buffers
 * handed out and not standing, over buffers resident), shrinks it
 * (releasing memory) below <shrink>, within initial_count..max_count. */
void pool_adjust(struct pool *p, double grow, double shrink);

void pool_stats(struct pool *p, struct pool_stats *st);

/* The count a class of <count> buffers, <in_use> of them handed out, should
 * have: ceil(count * growth) above <grow> utilisation, count / growth below
 * <shrink>, within [min, max]. Pure: the unit tests drive it. */
uint32_t pool__target(uint32_t count, uint32_t in_use, uint32_t min, uint32_t max, double growth,
                      double grow, double shrink);

/* Debug builds (RINGLB_DEBUG): logs every buffer held longer than
 * <threshold_ms>; returns how many. Release builds return 0. */
unsigned pool_leak_check(struct pool *p, uint64_t now_ms, uint64_t threshold_ms);

/* Zeroes a secret in place (an Authorization or Cookie header value when
 * its request context is released) in a way the compiler cannot drop as a
 * dead store, unlike a memset() of memory about to be given back. */
static inline void pool_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

#endif
