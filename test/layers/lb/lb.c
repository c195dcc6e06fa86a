#include "lb/lb-int.h"
#include "lb/lb.h"

int lb_pick(int n)
{
	return lb_rr_pick(n);
}
