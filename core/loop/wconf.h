/* A worker's switch between config generations (see wconf.c). */
#ifndef RINGLB_CORE_WCONF_H
#define RINGLB_CORE_WCONF_H

#include "core/loop/worker-t.h"

/* Opens the listeners of <cfg>, the worker's first generation. 0 or
 * -errno (reason in w->start_msg). */
int wconf_start(struct worker *w, struct config *cfg, unsigned nworkers);
/* Arms the accepts of the current generation's listeners (at start, or at
 * WMSG_ARM when the group holds them off); sets w->accepting. */
void wconf_arm(struct worker *w);
/* Moves the worker to the newly published <cfg>. */
void wconf_switch(struct worker *w, struct config *cfg);
/* Frees every listener and generation (worker teardown). */
void wconf_stop(struct worker *w);

#endif
