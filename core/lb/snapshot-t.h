/* Config snapshots as the core uses them: types only. */
#ifndef RINGLB_CORE_SNAPSHOT_T_H
#define RINGLB_CORE_SNAPSHOT_T_H

#include "core/lb/lb-t.h"

/* What snapshot_build() hangs off config.runtime: one balancer per pool, in
 * the order of config.pools. Owned by the snapshot, freed by its release
 * hook; read by every worker (the balancers' shared state is atomics). */
struct snapshot_rt {
	unsigned npools;
	struct lb *lb[]; /* NULL only while snapshot_build() fills it */
};

#endif
