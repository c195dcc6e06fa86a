/* Buffers past a class's max_count (pool-int.h; the policy is pool.c's
 * head comment): allocated outside the class's area, charged to ACCT_BUF,
 * kept in the pool's table by address under a mutex (the rare path), and
 * freed, their written prefix zeroed, when they come back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/mem/pool-int.h"

static uint32_t pool_over_hash(const void *buf)
{
	uintptr_t k = (uintptr_t)buf >> 6;

	return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 40) % POOL_OVER_NB;
}

void *pool__over_get(struct pool *p, int cls, const char *site)
{
	struct pool_class *pc = &p->cls[cls];
	struct pool_over *o;
	uint32_t n, peak;

	if (acct_charge(p->acct, ACCT_BUF, p->node, pc->size) < 0)
		goto refused;
	o = calloc(1, sizeof(*o));
	if (o)
		o->buf = aligned_alloc(64, pc->size);
	if (!o || !o->buf) {
		free(o);
		acct_release(p->acct, ACCT_BUF, p->node, pc->size);
		goto refused;
	}
	memset(o->buf, 0, pc->size);
	o->cls = (uint8_t)cls;
	o->site = site;
	o->since = clock_ms();
	pthread_mutex_lock(&p->over_lock);
	if (!p->over && !(p->over = calloc(POOL_OVER_NB, sizeof(*p->over)))) {
		pthread_mutex_unlock(&p->over_lock);
		free(o->buf);
		free(o);
		acct_release(p->acct, ACCT_BUF, p->node, pc->size);
		goto refused;
	}
	n = pool_over_hash(o->buf);
	o->next = p->over[n];
	p->over[n] = o;
	pthread_mutex_unlock(&p->over_lock);
	atomic_fetch_add_explicit(&p->over_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->over_gets, 1, memory_order_relaxed);
	n = atomic_fetch_add_explicit(&pc->over_in_use, 1, memory_order_relaxed) + 1;
	peak = atomic_load_explicit(&pc->over_peak, memory_order_relaxed);
	while (n > peak &&
	       !atomic_compare_exchange_weak_explicit(&pc->over_peak, &peak, n,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
	return o->buf;
refused:
	atomic_fetch_add_explicit(&pc->over_fails, 1, memory_order_relaxed);
	return NULL;
}

/* Takes <buf> out of <p>'s overflow table; NULL if it is not there. */
static struct pool_over *pool_over_take(struct pool *p, const void *buf)
{
	struct pool_over **pp, *o = NULL;

	if (!atomic_load_explicit(&p->over_count, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&p->over_lock);
	for (pp = p->over ? &p->over[pool_over_hash(buf)] : NULL; pp && *pp; pp = &(*pp)->next)
		if ((*pp)->buf == buf) {
			o = *pp;
			*pp = o->next;
			break;
		}
	pthread_mutex_unlock(&p->over_lock);
	if (o)
		atomic_fetch_sub_explicit(&p->over_count, 1, memory_order_relaxed);
	return o;
}

size_t pool__over_size(struct pool *p, const void *buf)
{
	size_t size = 0;

	if (!atomic_load(&p->over_count))
		return 0;
	pthread_mutex_lock(&p->over_lock);
	for (struct pool_over *x = p->over ? p->over[pool_over_hash(buf)] : NULL; x; x = x->next)
		if (x->buf == buf)
			size = p->cls[x->cls].size;
	pthread_mutex_unlock(&p->over_lock);
	return size;
}

bool pool__over_put(struct pool *p, void *buf, size_t used)
{
	struct pool_over *o = pool_over_take(p, buf);
	struct pool_class *pc;

	if (!o)
		return false;
	pc = &p->cls[o->cls];
	if (used > pc->size)
		used = pc->size;
	memset(buf, 0, used); /* the heap is shared: nothing of ours stays in it */
	free(buf);
	free(o);
	acct_release(p->acct, ACCT_BUF, p->node, pc->size);
	atomic_fetch_add_explicit(&pc->over_puts, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->zeroed, used, memory_order_relaxed);
	atomic_fetch_sub_explicit(&pc->over_in_use, 1, memory_order_relaxed);
	return true;
}

unsigned pool__over_leaks(struct pool *p, uint64_t now_ms, uint64_t threshold_ms)
{
	unsigned n = 0;

	pthread_mutex_lock(&p->over_lock);
	for (uint32_t b = 0; p->over && b < POOL_OVER_NB; b++)
		for (struct pool_over *o = p->over[b]; o; o = o->next) {
			if (now_ms < o->since || now_ms - o->since <= threshold_ms)
				continue;
			n++;
			log_warn(
			    "leak check: node %d %u-byte buffer past max_count held %llu ms, from %s",
			    p->node, p->cls[o->cls].size, (unsigned long long)(now_ms - o->since),
			    o->site);
		}
	pthread_mutex_unlock(&p->over_lock);
	return n;
}

void pool__over_free_all(struct pool *p)
{
	unsigned left = 0;

	for (uint32_t n = 0; p->over && n < POOL_OVER_NB; n++)
		while (p->over[n]) {
			struct pool_over *o = p->over[n];

			p->over[n] = o->next;
			acct_release(p->acct, ACCT_BUF, p->node, p->cls[o->cls].size);
			free(o->buf);
			free(o);
			left++;
		}
	if (left)
		log_warn("pool: node %d: %u buffers past max_count not returned", p->node, left);
	free(p->over);
	p->over = NULL;
}
