#include "lb/lb-int.h"

int lb_rr_pick(int n)
{
	static int next;

	return next++ % n;
}
