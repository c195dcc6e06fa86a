/* Memory of tls/: every block wolfSSL allocates (wolfSSL_SetAllocators)
 * and every block this module allocates goes through tls__malloc() and
 * friends, which count the bytes held. A block counts as its
 * malloc_usable_size(), what glibc really sets aside for it (the chunk
 * header aside), so the figure tracks the process's memory and needs no
 * size header in front of each block.
 *
 * Session objects (the memory profile's SslContextPool): the block of each
 * WOLFSSL, the first wolfSSL_new() allocates and the last wolfSSL_free()
 * frees, comes from a pool of the calling thread (a worker's) and goes back
 * to it, wiped, up to TLS_SESSION_POOL_MAX blocks; the rest are freed. The
 * callers mark those two calls (tls__session_alloc_next(),
 * tls__session_free_next()); every other block is malloc's. A pooled block
 * is not held by any connection, so it is not counted in the ssl figure
 * while it waits; the pool's own counters say what it holds.
 *
 * Thread safety: the counters are relaxed atomics; any thread may allocate.
 * Each thread's pool is its own; a thread's exit frees its pool.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls-int.h"

static _Atomic uint64_t mem_held, mem_peak, mem_allocs, mem_releases;
static __thread int64_t mem_thread;

/* A block waiting in a thread's session pool. */
struct mem_block {
	struct mem_block *next;
};

static struct {
	pthread_key_t key; /* its destructor frees an exiting thread's pool */
	pthread_once_t once;
	_Atomic uint64_t reused, pooled, freed, idle; /* blocks, all threads */
} sess = {.once = PTHREAD_ONCE_INIT};

static __thread struct mem_block *sess_head; /* this thread's pool */
static __thread unsigned sess_n;
static __thread bool sess_take;          /* the next tls__malloc() is a WOLFSSL */
static __thread const void *sess_victim; /* the WOLFSSL being freed */

void tls_session_pool_drain(void)
{
	struct mem_block *b;

	while ((b = sess_head)) {
		sess_head = b->next;
		sess_n--;
		atomic_fetch_sub_explicit(&sess.idle, 1, memory_order_relaxed);
		free(b);
	}
}

static void sess_thread_exit(void *arg)
{
	(void)arg;
	tls_session_pool_drain();
}

static void sess_key_init(void)
{
	pthread_key_create(&sess.key, sess_thread_exit);
}

void tls__session_alloc_next(bool on)
{
	sess_take = on;
}

void tls__session_free_next(const void *ssl)
{
	sess_victim = ssl;
}

/* The pool's block for a WOLFSSL of <n> bytes, or NULL. */
static void *sess_get(size_t n)
{
	struct mem_block *b = sess_head;

	if (!b || malloc_usable_size(b) < n)
		return NULL;
	sess_head = b->next;
	sess_n--;
	atomic_fetch_sub_explicit(&sess.idle, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sess.reused, 1, memory_order_relaxed);
	return b;
}

/* Keeps <p>, a WOLFSSL's block, in this thread's pool, wiped (it held key
 * material). Returns false when the pool is full. */
static bool sess_put(void *p)
{
	struct mem_block *b = p;

	if (sess_n >= TLS_SESSION_POOL_MAX)
		return false;
	pthread_once(&sess.once, sess_key_init);
	if (!sess_head)
		pthread_setspecific(sess.key, &sess); /* non-NULL: the destructor runs */
	explicit_bzero(p, malloc_usable_size(p));
	b->next = sess_head;
	sess_head = b;
	sess_n++;
	atomic_fetch_add_explicit(&sess.idle, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sess.pooled, 1, memory_order_relaxed);
	return true;
}

void tls_session_pool_stats(struct tls_pool_stats *st)
{
	st->reused = atomic_load_explicit(&sess.reused, memory_order_relaxed);
	st->pooled = atomic_load_explicit(&sess.pooled, memory_order_relaxed);
	st->idle = atomic_load_explicit(&sess.idle, memory_order_relaxed);
}

int64_t tls_mem_thread(void)
{
	return mem_thread;
}

void tls__mem_thread_add(int64_t n)
{
	mem_thread += n;
}

static void mem_charge(void *p)
{
	uint64_t held;
	size_t n;

	if (!p)
		return;
	n = malloc_usable_size(p);
	mem_thread += (int64_t)n;
	held = atomic_fetch_add_explicit(&mem_held, n, memory_order_relaxed) + n;
	atomic_fetch_add_explicit(&mem_allocs, 1, memory_order_relaxed);
	/* The peak is advisory: a lost race only makes it a little low. */
	if (held > atomic_load_explicit(&mem_peak, memory_order_relaxed))
		atomic_store_explicit(&mem_peak, held, memory_order_relaxed);
}

static void mem_uncharge(void *p)
{
	if (!p)
		return;
	mem_thread -= (int64_t)malloc_usable_size(p);
	atomic_fetch_sub_explicit(&mem_held, malloc_usable_size(p), memory_order_relaxed);
	atomic_fetch_add_explicit(&mem_releases, 1, memory_order_relaxed);
}

void *tls__malloc(size_t n)
{
	void *p = NULL;

	if (sess_take) {
		sess_take = false;
		p = sess_get(n);
	}
	if (!p)
		p = malloc(n);

	mem_charge(p);
	return p;
}

void *tls__calloc(size_t n)
{
	void *p = calloc(1, n);

	mem_charge(p);
	return p;
}

void tls__free(void *p)
{
	mem_uncharge(p);
	if (p && p == sess_victim) {
		sess_victim = NULL;
		if (sess_put(p))
			return;
	}
	free(p);
}

void *tls__realloc(void *p, size_t n)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q = realloc(p, n);

	if (!q) /* p is untouched (or n was 0 and p is freed: wolfSSL never asks) */
		return NULL;
	atomic_fetch_sub_explicit(&mem_held, old, memory_order_relaxed);
	mem_thread -= (int64_t)old;
	if (p)
		atomic_fetch_add_explicit(&mem_releases, 1, memory_order_relaxed);
	mem_charge(q);
	return q;
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_ret;

static void lib_init(void)
{
	unsigned char probe[16];

	if (tls__rand_block(probe, sizeof(probe)) != 0) {
		lib_ret = -EIO;
		return;
	}
	explicit_bzero(probe, sizeof(probe));
	if (wolfSSL_SetAllocators(tls__malloc, tls__free, tls__realloc) != 0 ||
	    wolfSSL_Init() != WOLFSSL_SUCCESS)
		lib_ret = -ENOMEM;
	else
		lib_ret = tls__x25519_init();
}

int tls__lib_init(void)
{
	pthread_once(&lib_once, lib_init);
	return lib_ret;
}

void tls_mem_stats(struct tls_mem_stats *st)
{
	st->held = atomic_load_explicit(&mem_held, memory_order_relaxed);
	st->peak = atomic_load_explicit(&mem_peak, memory_order_relaxed);
	st->allocs = atomic_load_explicit(&mem_allocs, memory_order_relaxed);
	st->releases = atomic_load_explicit(&mem_releases, memory_order_relaxed);
}

uint64_t tls_mem_held(void)
{
	return atomic_load_explicit(&mem_held, memory_order_relaxed);
}
