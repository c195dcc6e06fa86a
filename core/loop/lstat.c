/* Per-worker counters of listeners and backends (lstat.h): two lists,
 * prepended under a mutex and walked without it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop/lstat.h"

const uint64_t lstat_bounds_us[LSTAT_NB] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

struct lstat_entry {
	struct lstat_entry *next;
	const char *addr; /* backends: the second half of <key> */
	unsigned n;
	void *w; /* n blocks: struct lstat_w or struct bstat_w */
	char key[];
};

static struct {
	pthread_mutex_t lock;
	unsigned nworkers;
	struct lstat_entry *_Atomic listeners;
	struct lstat_entry *_Atomic backends;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER, .nworkers = 1};

static __thread struct lstat_w sink_l;
static __thread struct bstat_w sink_b;

void lstat_init(unsigned nworkers)
{
	pthread_mutex_lock(&reg.lock);
	reg.nworkers = nworkers ? nworkers : 1;
	pthread_mutex_unlock(&reg.lock);
}

/* The entry of (<a>, <b>) in <list>, made with blocks of <size> if there is
 * none; NULL without memory. */
static struct lstat_entry *entry_get(struct lstat_entry *_Atomic *list, const char *a,
                                     const char *b, size_t size)
{
	size_t la = strlen(a) + 1, lb = b ? strlen(b) + 1 : 0;
	struct lstat_entry *e;

	pthread_mutex_lock(&reg.lock);
	for (e = atomic_load_explicit(list, memory_order_relaxed); e; e = e->next)
		if (!strcmp(e->key, a) && (!b || !strcmp(e->addr, b)))
			goto out;
	e = calloc(1, sizeof(*e) + la + lb);
	if (!e)
		goto out;
	e->n = reg.nworkers;
	e->w = aligned_alloc(64, size * e->n);
	if (!e->w) {
		free(e);
		e = NULL;
		goto out;
	}
	memset(e->w, 0, size * e->n);
	memcpy(e->key, a, la);
	if (b) {
		memcpy(e->key + la, b, lb);
		e->addr = e->key + la;
	}
	e->next = atomic_load_explicit(list, memory_order_relaxed);
	atomic_store_explicit(list, e, memory_order_release);
out:
	pthread_mutex_unlock(&reg.lock);
	return e;
}

struct lstat_w *lstat_listener(const char *name, unsigned worker)
{
	struct lstat_entry *e = entry_get(&reg.listeners, name, NULL, sizeof(struct lstat_w));

	return e && worker < e->n ? &((struct lstat_w *)e->w)[worker] : &sink_l;
}

struct bstat_w *lstat_backend(const char *pool, const char *addr, unsigned worker)
{
	struct lstat_entry *e = entry_get(&reg.backends, pool, addr, sizeof(struct bstat_w));

	return e && worker < e->n ? &((struct bstat_w *)e->w)[worker] : &sink_b;
}

void lstat_foreach_listener(void (*fn)(const char *name, const struct lstat_w *w, unsigned n,
                                       void *arg),
                            void *arg)
{
	for (struct lstat_entry *e = atomic_load_explicit(&reg.listeners, memory_order_acquire); e;
	     e = e->next)
		fn(e->key, e->w, e->n, arg);
}

void lstat_foreach_backend(void (*fn)(const char *pool, const char *addr, const struct bstat_w *w,
                                      unsigned n, void *arg),
                           void *arg)
{
	for (struct lstat_entry *e = atomic_load_explicit(&reg.backends, memory_order_acquire); e;
	     e = e->next)
		fn(e->key, e->addr, e->w, e->n, arg);
}

static void free_list(struct lstat_entry *_Atomic *list)
{
	struct lstat_entry *e = atomic_exchange(list, NULL), *next;

	for (; e; e = next) {
		next = e->next;
		free(e->w);
		free(e);
	}
}

void lstat_free_all(void)
{
	pthread_mutex_lock(&reg.lock);
	free_list(&reg.listeners);
	free_list(&reg.backends);
	pthread_mutex_unlock(&reg.lock);
}
