/* zero-cost: what zeroing returned buffers costs, per put and per byte.
 *
 *   make build/tools/zero-cost && build/tools/zero-cost
 *
 * One worker cache over one node-less pool; a get/put cycle of a 16 KiB
 * buffer whose written prefix is 0, 512 B, 4 KiB and 16 KiB, timed over
 * many rounds. The difference to the 0-byte case is the zeroing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/mem/acct.h"
#include "core/mem/pool.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
	struct cfg_buffer_class cls[BUF_NCLASS] = {
	    {64, 64, 1.5}, {64, 64, 1.3}, {4, 4, 1.2}, {1, 1, 1.1}};
	struct cfg_memory_limits lim = {1ull << 30, 1ull << 29, 1ull << 28, 1ull << 26, 1ull << 26};
	struct cfg_memory_tuning tun = {
	    .warning_threshold = 0.8, .critical_threshold = 0.95, .backpressure_start = 0.85};
	const size_t used[] = {0, 512, 4096, 16384};
	const unsigned rounds = 2000000;
	struct acct *a = acct_new(&lim, &tun);
	struct pool *p = pool_new(-1, cls, a);
	struct pool_cache *c = pool_cache_new(p);
	double base = 0;

	/* Warm up: fault every buffer in and fill the cache. */
	for (unsigned i = 0; i < rounds / 10; i++) {
		char *b = pool_get(c, BUF_MEDIUM);

		memset(b, 'x', 16384);
		pool_put(c, b, 16384);
	}
	printf("used_bytes ns_per_cycle zeroing_ns GB_per_s_zeroed\n");
	for (unsigned k = 0; k < sizeof(used) / sizeof(used[0]); k++) {
		double t0 = now_ns(), ns;

		for (unsigned i = 0; i < rounds; i++) {
			char *b = pool_get(c, BUF_MEDIUM);

			memset(b, 'x', used[k]); /* what a recv would write */
			pool_put(c, b, used[k]);
		}
		ns = (now_ns() - t0) / rounds;
		if (!k)
			base = ns;
		printf("%zu %.1f %.1f %.2f\n", used[k], ns, (ns - base) / 2,
		       used[k] && ns > base ? used[k] / ((ns - base) / 2) : 0.0);
	}
	pool_cache_free(c);
	pool_free(p);
	acct_free(a);
	return 0;
}
