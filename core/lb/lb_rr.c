/* Round robin: each worker walks the backends from its own position and
 * takes the first eligible one. Weights only decide eligibility (0 = never).
 */
#include "core/lb/lb-int.h"

int lb_rr_pick(const struct lb *lb, struct lb_cursor *cur, const int *tried, unsigned ntried)
{
	unsigned n = lb->n, i = cur->rr % n, k;

	for (k = 0; k < n; k++, i = i + 1 < n ? i + 1 : 0) {
		if (lb__eligible(lb, i, tried, ntried)) {
			cur->rr = i + 1;
			return (int)i;
		}
	}
	return -1;
}
