/* Config snapshots as the core uses them: the runtime balancing state
 * built for each pool, and the reference that frees both at the end.
 *
 * Who holds a reference: the control thread for the published snapshot,
 * and each worker once per generation it still uses (struct wgen). The
 * snapshot is freed, from whichever thread drops the last reference, after
 * the control thread has waited for an RCU grace period on replacing it.
 */
#ifndef RINGLB_CORE_SNAPSHOT_H
#define RINGLB_CORE_SNAPSHOT_H

#include "config/config-t.h"

/* Builds pool->lb for every pool of <cfg>. Returns 0 or -ENOMEM. */
int snapshot_build(struct config *cfg);

/* Takes a reference to <cfg>. */
void snapshot_get(struct config *cfg);

/* Drops a reference; the last one frees the balancing state and <cfg>. */
void snapshot_put(struct config *cfg);

#endif
