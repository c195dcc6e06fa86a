/* Least connections, as nginx's least_conn: the lowest active/weight wins.
 * Equal loads are broken round robin: the scan starts at the cursor's
 * position and keeps the first minimum, and the position then moves past
 * the winner, so idle backends take turns instead of the first one taking
 * every connection. The active counts are shared by all workers.
 */
#include "core/lb/lb-int.h"

static int lb_lc_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
                      unsigned ntried)
{
	unsigned n = lb->n, i = cur->rr % n, k;
	int best = -1;

	for (k = 0; k < n; k++, i = i + 1 < n ? i + 1 : 0) {
		if (!lb__eligible(lb, i, tried, ntried))
			continue;
		if (best < 0 || lb__lighter(lb, i, (unsigned)best))
			best = (int)i;
	}
	if (best >= 0)
		cur->rr = (uint32_t)best + 1;
	return best;
}

const struct lb_algo_ops lb_lc_ops = {
    .name = "least_conn",
    .pick = lb_lc_pick,
};
