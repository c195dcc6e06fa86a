#ifndef FIXTURE_MEM_POOL_H
#define FIXTURE_MEM_POOL_H

#include "mem/pool-t.h"

int pool_get(struct pool *p);

#endif
