/* A worker's config generations (struct wgen): one per snapshot it still
 * uses, pinning the snapshot (one reference per worker, not per connection)
 * while a listener of that generation lives, with the worker's balancing
 * cursors and idle upstream pool for its pools. Reference counted by the
 * listeners of the generation (and the worker for its current one).
 */
#ifndef RINGLB_CORE_GEN_H
#define RINGLB_CORE_GEN_H

#include "core/loop/worker-t.h"

/* A generation of <cfg> for <w>, one reference. NULL on ENOMEM. */
struct wgen *gen_new(struct worker *w, struct config *cfg);
/* Drops a reference; the last one frees <g> and unpins its snapshot. */
void gen_put(struct worker *w, struct wgen *g);

#endif
