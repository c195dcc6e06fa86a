/* Power of two random choices: draw two distinct eligible backends with the
 * worker's generator and take the one with the lower active/weight (the
 * first drawn on a tie, which is itself random). With one eligible backend,
 * that one.
 *
 * The fast path draws two distinct indexes and uses them when both are
 * eligible; otherwise the slow path counts the eligible backends and draws
 * among them. Both give every eligible pair the same chance.
 */
#include "core/lb/lb-int.h"

/* The <k>th eligible backend (from 0). */
static int lb_p2c_nth(const struct lb *lb, unsigned k, const int *tried, unsigned ntried)
{
	unsigned i;

	for (i = 0; i < lb->n; i++)
		if (lb__eligible(lb, i, tried, ntried) && k-- == 0)
			return (int)i;
	return -1;
}

static int lb_p2c_slow(const struct lb *lb, struct lb_cursor *cur, const int *tried,
                       unsigned ntried)
{
	unsigned i, m = 0, a, b;

	for (i = 0; i < lb->n; i++)
		m += lb__eligible(lb, i, tried, ntried);
	if (m <= 1)
		return m ? lb_p2c_nth(lb, 0, tried, ntried) : -1;
	a = lb__rand_below(cur, m);
	b = lb__rand_below(cur, m - 1);
	b += b >= a;
	a = (unsigned)lb_p2c_nth(lb, a, tried, ntried);
	b = (unsigned)lb_p2c_nth(lb, b, tried, ntried);
	return (int)(lb__lighter(lb, b, a) ? b : a);
}

static int lb_p2c_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key, const int *tried,
                       unsigned ntried)
{
	unsigned n = lb->n, a, b;

	if (n < 2)
		return lb__eligible(lb, 0, tried, ntried) ? 0 : -1;
	a = lb__rand_below(cur, n);
	b = lb__rand_below(cur, n - 1);
	b += b >= a;
	if (!lb__eligible(lb, a, tried, ntried) || !lb__eligible(lb, b, tried, ntried))
		return lb_p2c_slow(lb, cur, tried, ntried);
	return (int)(lb__lighter(lb, b, a) ? b : a);
}

const struct lb_algo_ops lb_p2c_ops = {
    .name = "p2c",
    .pick = lb_p2c_pick,
};
