/* The backend registry: a chained hash table under one mutex.
 *
 * The table doubles when it holds more entries than buckets, and is freed
 * with its last entry, so an empty registry holds no memory. A failed
 * resize keeps the old table: chains grow, nothing is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/base/log.h"
#include "core/lb/backend.h"

#define BACKEND_ALIGN    64 /* a cache line */
#define BACKEND_BUCKETS0 16 /* first table size, a power of two */

static struct {
	pthread_mutex_t lock;
	struct backend **bucket; /* NULL while empty */
	unsigned nbuckets;       /* a power of two, or 0 */
	unsigned count;
} backend_reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t backend_hash(const char *pool, const char *addr)
{
	return XXH3_64bits_withSeed(addr, strlen(addr), XXH3_64bits(pool, strlen(pool)));
}

/* The entry of the key, or NULL. Under the lock. */
static struct backend *backend_find(uint64_t h, const char *pool, const char *addr)
{
	struct backend *be;

	if (!backend_reg.nbuckets)
		return NULL;
	for (be = backend_reg.bucket[h & (backend_reg.nbuckets - 1)]; be; be = be->next)
		if (be->hash == h && !strcmp(be->pool, pool) && !strcmp(be->addr, addr))
			return be;
	return NULL;
}

/* Rehashes into twice the buckets (or the first table). Under the lock.
 * Returns 0 or -ENOMEM (the old table stays). */
static int backend_grow(void)
{
	unsigned n = backend_reg.nbuckets ? backend_reg.nbuckets * 2 : BACKEND_BUCKETS0, i;
	struct backend **b = calloc(n, sizeof(*b)), *be, *next;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < backend_reg.nbuckets; i++) {
		for (be = backend_reg.bucket[i]; be; be = next) {
			next = be->next;
			be->next = b[be->hash & (n - 1)];
			b[be->hash & (n - 1)] = be;
		}
	}
	free(backend_reg.bucket);
	backend_reg.bucket = b;
	backend_reg.nbuckets = n;
	return 0;
}

/* A zeroed entry for the key, not linked yet. */
static struct backend *backend_new(uint64_t h, const char *pool, const char *addr)
{
	size_t plen = strlen(pool) + 1, alen = strlen(addr) + 1;
	size_t size = sizeof(struct backend) + plen + alen;
	struct backend *be;

	size = (size + BACKEND_ALIGN - 1) & ~(size_t)(BACKEND_ALIGN - 1);
	be = aligned_alloc(BACKEND_ALIGN, size);
	if (!be)
		return NULL;
	memset(be, 0, size);
	memcpy(be->pool, pool, plen);
	memcpy(be->pool + plen, addr, alen);
	be->addr = be->pool + plen;
	be->hash = h;
	return be;
}

struct backend *backend_get(const char *pool, const char *addr)
{
	uint64_t h = backend_hash(pool, addr);
	struct backend *be;

	pthread_mutex_lock(&backend_reg.lock);
	be = backend_find(h, pool, addr);
	if (!be) {
		if (backend_reg.count >= backend_reg.nbuckets && backend_grow() < 0 &&
		    !backend_reg.nbuckets)
			goto out;
		be = backend_new(h, pool, addr);
		if (!be)
			goto out;
		be->next = backend_reg.bucket[h & (backend_reg.nbuckets - 1)];
		backend_reg.bucket[h & (backend_reg.nbuckets - 1)] = be;
		backend_reg.count++;
	}
	be->refs++;
out:
	pthread_mutex_unlock(&backend_reg.lock);
	return be;
}

struct backend *backend_ref(struct backend *be)
{
	pthread_mutex_lock(&backend_reg.lock);
	be->refs++;
	pthread_mutex_unlock(&backend_reg.lock);
	return be;
}

/* Unlinks <be> from its bucket; frees the table with the last entry. Under
 * the lock. */
static void backend_unlink(struct backend *be)
{
	struct backend **p = &backend_reg.bucket[be->hash & (backend_reg.nbuckets - 1)];

	while (*p != be)
		p = &(*p)->next;
	*p = be->next;
	if (--backend_reg.count)
		return;
	free(backend_reg.bucket);
	backend_reg.bucket = NULL;
	backend_reg.nbuckets = 0;
}

void backend_put(struct backend *be)
{
	bool last;

	if (!be)
		return;
	pthread_mutex_lock(&backend_reg.lock);
	last = --be->refs == 0;
	if (last)
		backend_unlink(be);
	pthread_mutex_unlock(&backend_reg.lock);
	if (last)
		free(be);
}

unsigned backend_count(void)
{
	unsigned n;

	pthread_mutex_lock(&backend_reg.lock);
	n = backend_reg.count;
	pthread_mutex_unlock(&backend_reg.lock);
	return n;
}

const char *backend_state_name(enum backend_state s)
{
	static const char *const name[BACKEND_NSTATES] = {
	    [BACKEND_UP] = "up",
	    [BACKEND_DOWN] = "down",
	    [BACKEND_DRAINING] = "draining",
	    [BACKEND_DISABLED] = "disabled",
	};

	return s < BACKEND_NSTATES ? name[s] : "?";
}

/* The state that <be>'s health and admin inputs give. */
static enum backend_state backend_derive(const struct backend *be)
{
	switch (atomic_load_explicit(&be->admin, memory_order_relaxed)) {
	case BACKEND_ADMIN_DISABLE:
		return BACKEND_DISABLED;
	case BACKEND_ADMIN_DRAIN:
		return BACKEND_DRAINING;
	default:
		return atomic_load_explicit(&be->health, memory_order_relaxed) == BACKEND_UP &&
		               !atomic_load_explicit(&be->passive, memory_order_relaxed)
		           ? BACKEND_UP
		           : BACKEND_DOWN;
	}
}

/* Publishes the derived state of <be>; logs and counts a change. Under the
 * registry's lock, so that the health thread and an admin request never
 * interleave their read-modify-write. Returns true on a change. */
static bool backend_update(struct backend *be, const char *reason)
{
	enum backend_state old = backend_state(be), now = backend_derive(be);

	if (old == now)
		return false;
	atomic_store_explicit(&be->state, now, memory_order_relaxed);
	atomic_fetch_add_explicit(&be->transitions, 1, memory_order_relaxed);
	log_info("backend pool=%s addr=%s %s->%s reason=%s", be->pool, be->addr,
	         backend_state_name(old), backend_state_name(now), reason);
	return true;
}

bool backend_set_health(struct backend *be, bool up, const char *reason)
{
	bool changed;

	pthread_mutex_lock(&backend_reg.lock);
	atomic_store_explicit(&be->health, up ? BACKEND_UP : BACKEND_DOWN, memory_order_relaxed);
	changed = backend_update(be, reason);
	pthread_mutex_unlock(&backend_reg.lock);
	return changed;
}

int backend_set_admin(const char *pool, const char *addr, enum backend_admin a)
{
	struct backend *be;

	pthread_mutex_lock(&backend_reg.lock);
	be = backend_find(backend_hash(pool, addr), pool, addr);
	if (be) {
		atomic_store_explicit(&be->admin, a, memory_order_relaxed);
		backend_update(be, "admin");
	}
	pthread_mutex_unlock(&backend_reg.lock);
	return be ? 0 : -ENOENT;
}

void backend_foreach(void (*fn)(struct backend *be, void *arg), void *arg)
{
	unsigned i;
	struct backend *be;

	pthread_mutex_lock(&backend_reg.lock);
	for (i = 0; i < backend_reg.nbuckets; i++)
		for (be = backend_reg.bucket[i]; be; be = be->next)
			fn(be, arg);
	pthread_mutex_unlock(&backend_reg.lock);
}

/* The streak word after one more failure at <now>: a new streak when there
 * was none or the window of the running one is over. */
static uint64_t backend_streak_next(uint64_t old, uint64_t now, uint64_t window)
{
	uint64_t since = old >> BACKEND_STREAK_BITS, n = old & BACKEND_STREAK_MAX;

	if (!old || now - since > window) {
		since = now;
		n = 0;
	}
	if (n < BACKEND_STREAK_MAX)
		n++;
	return since << BACKEND_STREAK_BITS | n;
}

bool backend_passive_fail(struct backend *be, uint64_t now, uint32_t failures, uint64_t window,
                          uint64_t down_time)
{
	uint64_t old = atomic_load_explicit(&be->streak, memory_order_relaxed), nw;

	if (atomic_load_explicit(&be->passive, memory_order_relaxed))
		return false; /* held already: the streak restarts after the hold */
	do
		nw = backend_streak_next(old, now, window);
	while (!atomic_compare_exchange_weak_explicit(&be->streak, &old, nw, memory_order_relaxed,
	                                              memory_order_relaxed));
	if ((nw & BACKEND_STREAK_MAX) < failures)
		return false;
	if (atomic_exchange_explicit(&be->passive, 1, memory_order_relaxed))
		return false; /* another worker got there first */
	atomic_store_explicit(&be->passive_until, now + down_time, memory_order_relaxed);
	atomic_store_explicit(&be->streak, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&be->passive_downs, 1, memory_order_relaxed);
	pthread_mutex_lock(&backend_reg.lock);
	backend_update(be, "passive");
	pthread_mutex_unlock(&backend_reg.lock);
	return true;
}

bool backend_passive_expire(struct backend *be, uint64_t now, bool force)
{
	if (!atomic_load_explicit(&be->passive, memory_order_relaxed) ||
	    (!force && now < atomic_load_explicit(&be->passive_until, memory_order_relaxed)))
		return false;
	pthread_mutex_lock(&backend_reg.lock);
	atomic_store_explicit(&be->streak, 0, memory_order_relaxed);
	atomic_store_explicit(&be->passive, 0, memory_order_relaxed);
	backend_update(be, "passive-expired");
	pthread_mutex_unlock(&backend_reg.lock);
	return true;
}
