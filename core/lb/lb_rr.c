/* Round robin: each worker walks the backends from its own position and
 * takes the first eligible one. Weights only decide eligibility (0 = never).
 */
#include "core/lb/lb-int.h"

static int lb_rr_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
                      unsigned ntried)
{
	return lb__rr_next(lb, cur, tried, ntried);
}

const struct lb_algo_ops lb_rr_ops = {
    .name = "round_robin",
    .pick = lb_rr_pick,
};
