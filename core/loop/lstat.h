/* Per-worker counters of listeners and backends, for /metrics.
 *
 * An entry per listener name and per (pool name, address): created the
 * first time a worker uses it, kept until exit, so the counters survive
 * reloads (a Prometheus counter never goes back). Each entry holds one
 * block per worker; a worker writes only its own block, with relaxed
 * atomics and no read-modify-write, so the data path takes no lock and
 * shares no cache line. A scrape reads every block and sums them, without
 * stopping any worker.
 *
 * Thread safety: creating an entry takes the registry's mutex (workers,
 * at start and on a reload); the lists are only ever prepended to, with a
 * release store, so the foreach calls walk them without it.
 */
#ifndef RINGLB_CORE_LSTAT_H
#define RINGLB_CORE_LSTAT_H

#include <stdbool.h>

#include "core/loop/lstat-t.h"

/* Upper bounds of the histogram buckets, in microseconds. */
extern const uint64_t lstat_bounds_us[LSTAT_NB];

/* Sets the number of per-worker blocks in entries made from now on (once,
 * before any worker starts; 1 by default). */
void lstat_init(unsigned nworkers);

/* Worker <worker>'s block of listener <name>, created if need be. Never
 * NULL: without memory (or past the workers lstat_init() said) it is a
 * block of the calling thread's that nobody reads. */
struct lstat_w *lstat_listener(const char *name, unsigned worker);

/* The same for backend <addr> of pool <pool>. */
struct bstat_w *lstat_backend(const char *pool, const char *addr, unsigned worker);

/* Calls <fn> with every listener entry: its name, and its <n> blocks. */
void lstat_foreach_listener(void (*fn)(const char *name, const struct lstat_w *w, unsigned n,
                                       void *arg),
                            void *arg);

/* Calls <fn> with every backend entry. */
void lstat_foreach_backend(void (*fn)(const char *pool, const char *addr, const struct bstat_w *w,
                                      unsigned n, void *arg),
                           void *arg);

/* Frees every entry (at exit, once no worker runs). */
void lstat_free_all(void);

#define LSTAT_ADD(p, n)                                                                            \
	atomic_store_explicit((p), atomic_load_explicit((p), memory_order_relaxed) + (n),          \
	                      memory_order_relaxed)
#define LSTAT_INC(p) LSTAT_ADD(p, 1)
#define LSTAT_DEC(p) LSTAT_ADD(p, (uint64_t)-1)

/* Adds <us> to <h> (the owning worker only). */
static inline void lstat_hist_add(struct lstat_hist *h, uint64_t us)
{
	unsigned i = 0;

	while (i < LSTAT_NB && us > lstat_bounds_us[i])
		i++;
	LSTAT_INC(&h->n[i]);
	LSTAT_ADD(&h->sum_us, us);
}

/* Counts an HTTP answer <status> in <http> (LSTAT_NCODE entries). */
static inline void lstat_code(_Atomic uint64_t *http, int status)
{
	unsigned k = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;

	LSTAT_INC(&http[k]);
}

#endif
