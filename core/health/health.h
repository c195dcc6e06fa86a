/* Health checks: the control thread's view of every backend whose pool has
 * pools[].health (active checks) or pools[].health.passive.
 *
 * Active checks run on the control thread's own ring (never on a worker's):
 * a tcp check is a connect, an http check a request whose answer is parsed
 * with core/parse/h1.c; each operation carries a linked timeout for what is
 * left of the check's `timeout`. A backend is checked every `interval` give
 * or take `jitter`/2 of it, the first time anywhere in the first interval so
 * that many backends are not checked together. `fall` failures in a row
 * take it down, `rise` successes in a row bring it back, through
 * backend_set_health(): workers only ever load the backend's state.
 *
 * Passive holds (set by workers, core/lb/backend.c) end here when their
 * `down_time` is over; with active checks, a passive hold also resets the
 * check's verdict to down, so the backend comes back only once the hold is
 * over and `rise` checks in a row passed.
 *
 * Checks follow the published config: health_sync() after each reload keeps
 * the counters and verdict of a backend that stays (same pool name and
 * address: the same registry entry), starts checking new ones and stops
 * checking removed ones (a check in flight is finished first).
 *
 * Everything here runs on the control thread; no locking.
 */
#ifndef RINGLB_CORE_HEALTH_H
#define RINGLB_CORE_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/health/health-t.h"

struct config;
struct health;
struct io_uring;
struct io_uring_cqe;

/* A checker that submits on <ring> (the control thread's), drawing its
 * jitter from <seed>. NULL on ENOMEM. */
struct health *health_new(struct io_uring *ring, uint64_t seed);

/* Follows <cfg> (a built snapshot; call after publishing it) at <now>
 * (clock_ms()). Returns 0 or -ENOMEM (the checks of the previous config
 * then go on). */
int health_sync(struct health *h, const struct config *cfg, uint64_t now);

/* Starts the checks that are due at <now>, ends passive holds that are
 * over, and returns the time (clock_ms()) it wants to run again. */
uint64_t health_run(struct health *h, uint64_t now);

/* A completion of the control ring whose user_data has HEALTH_UD_TAG. */
void health_cqe(struct health *h, const struct io_uring_cqe *cqe);

/* Ends the checks in flight (waiting for their completions on the ring)
 * and frees <h> (NULL: nothing). */
void health_free(struct health *h);

/* Checks in flight (tests). */
unsigned health_inflight(const struct health *h);

#endif
