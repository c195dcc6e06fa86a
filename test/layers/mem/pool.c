#include "base/log.h"
#include "mem/acct.h"
#include "mem/pool.h"

int pool_get(struct pool *p)
{
	log_msg("get");
	acct_charge(1);
	return ++p->used;
}
