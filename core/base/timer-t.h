/* Timer wheel: types only (core/timer.h). */
#ifndef RINGLB_CORE_TIMER_T_H
#define RINGLB_CORE_TIMER_T_H

#include <stdint.h>

struct timer;
typedef void (*timer_fn)(struct timer *t, void *arg);

struct timer {
	struct timer *next;
	struct timer **pprev; /* NULL when not armed */
	uint64_t expires;     /* ms */
	timer_fn fn;
};

#endif
