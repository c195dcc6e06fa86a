/* Memory of tls/: every block wolfSSL allocates (wolfSSL_SetAllocators)
 * and every block this module allocates goes through tls__malloc() and
 * friends, which count the bytes held. A block counts as its
 * malloc_usable_size(), what glibc really sets aside for it (the chunk
 * header aside), so the figure tracks the process's memory and needs no
 * size header in front of each block.
 *
 * Thread safety: the counters are relaxed atomics; any thread may allocate.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls-int.h"

static _Atomic uint64_t mem_held, mem_peak, mem_allocs, mem_releases;
static __thread int64_t mem_thread;

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
	void *p = malloc(n);

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
