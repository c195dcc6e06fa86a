#include "mem/pool.h"
#include "proto/pump.h"

int pump_run(struct pool *p)
{
	return pool_get(p);
}
