#include "mem/pool-t.h"
#include "proto/pump.h"
#include "proto/web.h"

int web_serve(int n)
{
	struct pool p = {n};

	return pump_run(&p);
}
