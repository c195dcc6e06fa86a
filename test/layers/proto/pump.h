#ifndef FIXTURE_PROTO_PUMP_H
#define FIXTURE_PROTO_PUMP_H

#include "mem/pool-t.h"

int pump_run(struct pool *p);

#endif
