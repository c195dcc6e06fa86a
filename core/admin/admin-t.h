/* The admin endpoint: types only (admin.h). */
#ifndef RINGLB_CORE_ADMIN_T_H
#define RINGLB_CORE_ADMIN_T_H

#include "core/loop/worker-t.h"

struct acct;
struct pool;

/* What a scrape reads besides the workers' own counters. Set once every
 * worker runs; the pointed-to objects live until exit. */
struct admin_src {
	const struct worker_group *g;
	const struct acct *acct;
	struct pool *const *pools; /* one per node in use */
	unsigned npools;
};

#endif
