/* Per-worker timer wheel: O(1) arm, re-arm and cancel, cheap at 100k timers.
 *
 * A struct timer is embedded in its owner (a connection, a listener) and is
 * never allocated by the wheel. Times are in milliseconds on a monotonic
 * clock that the caller supplies, so tests can drive it. Single-threaded:
 * a wheel belongs to one worker.
 */
#ifndef RINGLB_CORE_TIMER_H
#define RINGLB_CORE_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include "core/base/timer-t.h"

struct timer_wheel;

/* Creates a wheel whose clock starts at <now>. Returns NULL on ENOMEM. */
struct timer_wheel *timer_wheel_new(uint64_t now);
void timer_wheel_free(struct timer_wheel *w);

/* Initialises <t> unarmed, to call <fn> when it fires. */
void timer_init(struct timer *t, timer_fn fn);

/* Arms (or re-arms) <t> to fire at <expires> ms. A time in the past fires
 * on the next timer_wheel_advance(). */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires);

/* Disarms <t>; a no-op when it is not armed. */
void timer_cancel(struct timer_wheel *w, struct timer *t);

static inline bool timer_armed(const struct timer *t)
{
	return t->pprev != 0;
}

/* Moves the clock to <now> and calls fn(t, arg) for every timer that
 * expired, each disarmed before its call (it may re-arm itself or cancel
 * others). Returns the number fired. */
unsigned timer_wheel_advance(struct timer_wheel *w, uint64_t now, void *arg);

/* Milliseconds from <now> until the earliest armed timer may fire (it may
 * be an under-estimate, never an over-estimate), or -1 when none is armed.
 * The event loop sleeps at most this long. */
int64_t timer_wheel_next(struct timer_wheel *w, uint64_t now);

/* Number of armed timers. */
unsigned timer_wheel_count(const struct timer_wheel *w);

#endif
