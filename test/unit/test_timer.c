/* Unit tests for the timer wheel (core/timer.h), written against its
 * contract only: a timer fires in the first timer_wheel_advance() whose
 * clock has reached its expiry, never earlier; cancel and re-arm take
 * effect at once; timer_wheel_next() never over-estimates.
 *
 * The clock starts far from 0 so that no test relies on it starting there.
 */
#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/timer.h"
#include "test/unit/ck.h"

#define T0     1234567890123ULL /* the wheel's first clock, ms */
#define SECOND 1000ULL
#define MINUTE (60 * SECOND)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

/* A test timer: records when and how often it fired. */
struct tt {
	struct timer t;
	uint64_t expires;  /* as last armed */
	uint64_t fired_at; /* clock of the advance that fired it */
	unsigned fired;
	unsigned order;   /* 1 + position among all fires of the test */
	struct tt *other; /* cancelled by fn_cancel_other */
	uint64_t period;  /* fn_periodic re-arms while repeat */
	unsigned repeat;
	unsigned count_in_fn; /* timer_wheel_count() seen from the callback */
	bool armed_in_fn;     /* timer_armed() seen from the callback */
};

static struct timer_wheel *w;
static uint64_t now;    /* the clock given to the last advance */
static unsigned nfired; /* fires in this test, for tt.order */

static void setup(void)
{
	now = T0;
	nfired = 0;
	w = timer_wheel_new(now);
	ck_assert_ptr_nonnull(w);
}

/* No test leaves a timer armed. */
static void teardown(void)
{
	ck_assert_uint_eq(timer_wheel_count(w), 0);
	ck_assert_int_eq(timer_wheel_next(w, now), -1);
	timer_wheel_free(w);
	w = NULL;
}

static struct tt *tt_of(struct timer *t)
{
	return (struct tt *)((char *)t - offsetof(struct tt, t));
}

static void record(struct tt *x)
{
	x->fired++;
	x->fired_at = now;
	x->order = ++nfired;
	x->count_in_fn = timer_wheel_count(w);
	x->armed_in_fn = timer_armed(&x->t);
}

static void fn_record(struct timer *t, void *arg)
{
	ck_assert_ptr_eq(arg, &now);
	record(tt_of(t));
}

static void fn_periodic(struct timer *t, void *arg)
{
	struct tt *x = tt_of(t);

	record(x);
	if (x->repeat) {
		x->repeat--;
		x->expires = now + x->period;
		timer_arm(w, t, x->expires);
	}
}

static void fn_cancel_other(struct timer *t, void *arg)
{
	struct tt *x = tt_of(t);

	record(x);
	timer_cancel(w, &x->other->t);
}

static void tt_init(struct tt *x, timer_fn fn)
{
	memset(x, 0, sizeof(*x));
	timer_init(&x->t, fn);
	ck_assert(!timer_armed(&x->t));
}

static void arm(struct tt *x, uint64_t expires)
{
	x->expires = expires;
	timer_arm(w, &x->t, expires);
	ck_assert(timer_armed(&x->t));
}

static unsigned advance(uint64_t to)
{
	ck_assert_uint_ge(to, now);
	now = to;
	return timer_wheel_advance(w, to, &now);
}

/* ---- firing time ---------------------------------------------------------- */

/* Delays around every power of two that a wheel level or turn could end
 * on, ascending, from 1 ms to a day and then to a month. Each is reached in
 * jumps: halfway, to 1 ms before, then to it. */
static const uint64_t delays[] = {
    1,      2,      3,    7,        63,       64,      65,   255,     256,     257,
    1023,   1024,   4095, 4096,     4097,     8191,    8192, MINUTE,  65535,   65536,
    262143, 262144, HOUR, 16777215, 16777216, DAY - 1, DAY,  DAY + 1, 7 * DAY, 30 * DAY,
};

/* The delays up to a day and a millisecond. */
#define NDELAYS_DAY (ARRAY_SIZE(delays) - 2)

START_TEST(a_timer_fires_at_its_expiry_and_never_before)
{
	unsigned k;

	for (k = 0; k < ARRAY_SIZE(delays); k++) {
		struct tt x;
		uint64_t start = now;

		tt_init(&x, fn_record);
		arm(&x, start + delays[k]);
		ck_assert_uint_eq(timer_wheel_count(w), 1);
		if (delays[k] > 1)
			ck_assert_uint_eq(advance(start + delays[k] / 2), 0);
		ck_assert_uint_eq(advance(start + delays[k] - 1), 0);
		ck_assert_msg(x.fired == 0, "delay %lu fired early", (unsigned long)delays[k]);
		ck_assert(timer_armed(&x.t));
		ck_assert_uint_eq(advance(start + delays[k]), 1);
		ck_assert_msg(x.fired == 1, "delay %lu did not fire", (unsigned long)delays[k]);
		ck_assert_uint_eq(x.fired_at, start + delays[k]);
		ck_assert(!timer_armed(&x.t));
		ck_assert_uint_eq(timer_wheel_count(w), 0);
	}
}
END_TEST

/* A clock that jumps far past a timer fires it in that same advance. */
START_TEST(a_timer_fires_in_the_first_advance_that_passes_it)
{
	unsigned k;

	for (k = 0; k < ARRAY_SIZE(delays); k++) {
		struct tt x;
		uint64_t start = now;

		tt_init(&x, fn_record);
		arm(&x, start + delays[k]);
		ck_assert_uint_eq(advance(start + delays[k] + 3 * delays[k] / 2 + 5), 1);
		ck_assert_uint_eq(x.fired, 1);
	}
}
END_TEST

/* One timer per millisecond for 10 s (two turns of a 4096 slot wheel and
 * more), the clock stepping 1 ms: each fires exactly on its millisecond. */
START_TEST(timers_fire_on_their_millisecond_when_the_clock_steps_by_one)
{
	enum { N = 10000 };
	struct tt *x = calloc(N, sizeof(*x));
	unsigned i, k;

	for (i = 0; i < N; i++) {
		tt_init(&x[i], fn_record);
		arm(&x[i], T0 + 1 + (i * 7919u) % N); /* armed out of order */
	}
	for (k = 1; k <= N; k++) {
		ck_assert_uint_eq(advance(T0 + k), 1);
		ck_assert_uint_eq(timer_wheel_count(w), N - k);
	}
	for (i = 0; i < N; i++) {
		ck_assert_uint_eq(x[i].fired, 1);
		ck_assert_uint_eq(x[i].fired_at, x[i].expires);
	}
	free(x);
}
END_TEST

/* Timers from 1 ms to a day, armed in a scrambled order, fire in expiry
 * order at their exact time when the clock is driven the way the event loop
 * drives it: sleep timer_wheel_next(), then advance. The loop never spins:
 * a wake-up for "0 ms" fires something. (One that said "1 ms" for a day
 * away would take 86 million wake-ups and run into the time limit.) */
START_TEST(timers_from_1ms_to_a_day_fire_in_order_following_next)
{
	enum { N = NDELAYS_DAY };
	struct tt x[N];
	unsigned i;
	int64_t next;

	for (i = 0; i < N; i++)
		tt_init(&x[i], fn_record);
	for (i = 0; i < N; i++) {
		unsigned j = (i * 11) % N; /* 11 is prime to N (28): a permutation */

		arm(&x[j], T0 + delays[j]);
	}
	ck_assert_uint_eq(timer_wheel_count(w), N);
	while ((next = timer_wheel_next(w, now)) >= 0) {
		unsigned fired = advance(now + (uint64_t)next);

		ck_assert_msg(next > 0 || fired > 0, "woken for nothing at %lu",
		              (unsigned long)(now - T0));
	}
	for (i = 0; i < N; i++) {
		ck_assert_uint_eq(x[i].fired, 1);
		ck_assert_uint_eq(x[i].fired_at, T0 + delays[i]);
		ck_assert_uint_eq(x[i].order, i + 1);
	}
}
END_TEST

/* An expiry at or before the clock fires on the next advance, even one that
 * does not move the clock, and timer_wheel_next() says 0 meanwhile. */
START_TEST(a_timer_armed_in_the_past_fires_on_the_next_advance)
{
	struct tt past, at_now;

	advance(T0 + 5000);
	tt_init(&past, fn_record);
	tt_init(&at_now, fn_record);
	arm(&past, T0 + 100);
	arm(&at_now, now);
	ck_assert_int_eq(timer_wheel_next(w, now), 0);
	ck_assert_uint_eq(advance(now), 2);
	ck_assert_uint_eq(past.fired, 1);
	ck_assert_uint_eq(at_now.fired, 1);
	ck_assert_uint_eq(past.fired_at, T0 + 5000);
	ck_assert_uint_eq(advance(now + DAY), 0);
}
END_TEST

/* ---- re-arm and cancel ---------------------------------------------------- */

START_TEST(rearming_moves_the_timer_later_or_earlier)
{
	struct tt x;

	tt_init(&x, fn_record);
	arm(&x, T0 + 100);
	arm(&x, T0 + 5000); /* later, into another turn or level */
	ck_assert_uint_eq(timer_wheel_count(w), 1);
	ck_assert_uint_eq(advance(T0 + 4999), 0);
	ck_assert_uint_eq(advance(T0 + 5000), 1);
	ck_assert_uint_eq(x.fired_at, T0 + 5000);

	arm(&x, now + DAY);
	arm(&x, now + 10); /* earlier */
	ck_assert_uint_eq(timer_wheel_count(w), 1);
	ck_assert_uint_eq(advance(now + 9), 0);
	ck_assert_uint_eq(advance(now + 1), 1);
	ck_assert_uint_eq(x.fired, 2);
	ck_assert_uint_eq(advance(now + 2 * DAY), 0);

	arm(&x, now + 50);
	arm(&x, now + 50); /* the same time again */
	ck_assert_uint_eq(timer_wheel_count(w), 1);
	ck_assert_uint_eq(advance(now + 50), 1);
	ck_assert_uint_eq(x.fired, 3);
}
END_TEST

START_TEST(a_cancelled_timer_never_fires)
{
	struct tt near, far, kept;

	tt_init(&near, fn_record);
	tt_init(&far, fn_record);
	tt_init(&kept, fn_record);
	arm(&near, T0 + 10);
	arm(&far, T0 + DAY);
	arm(&kept, T0 + 10);
	timer_cancel(w, &near.t);
	timer_cancel(w, &far.t);
	ck_assert(!timer_armed(&near.t));
	ck_assert(!timer_armed(&far.t));
	ck_assert_uint_eq(timer_wheel_count(w), 1);
	ck_assert_uint_eq(advance(T0 + 2 * DAY), 1);
	ck_assert_uint_eq(near.fired + far.fired, 0);
	ck_assert_uint_eq(kept.fired, 1);
}
END_TEST

START_TEST(cancelling_a_timer_that_is_not_armed_does_nothing)
{
	struct tt never, twice, done, other;

	tt_init(&never, fn_record);
	tt_init(&twice, fn_record);
	tt_init(&done, fn_record);
	tt_init(&other, fn_record);
	arm(&other, T0 + 30);
	arm(&done, T0 + 1);
	ck_assert_uint_eq(advance(T0 + 1), 1);

	timer_cancel(w, &never.t);
	arm(&twice, T0 + 20);
	timer_cancel(w, &twice.t);
	timer_cancel(w, &twice.t);
	timer_cancel(w, &done.t); /* already fired */
	ck_assert(!timer_armed(&never.t));
	ck_assert_uint_eq(timer_wheel_count(w), 1);
	ck_assert_uint_eq(advance(T0 + 100), 1);
	ck_assert_uint_eq(other.fired, 1);
	ck_assert_uint_eq(twice.fired + never.fired, 0);
	ck_assert_uint_eq(done.fired, 1);
}
END_TEST

/* A timer can be armed again after it was cancelled. */
START_TEST(a_cancelled_timer_can_be_armed_again)
{
	struct tt x;

	tt_init(&x, fn_record);
	arm(&x, T0 + 10);
	timer_cancel(w, &x.t);
	arm(&x, T0 + 20);
	ck_assert_uint_eq(advance(T0 + 19), 0);
	ck_assert_uint_eq(advance(T0 + 20), 1);
	ck_assert_uint_eq(x.fired, 1);
}
END_TEST

START_TEST(count_follows_arm_rearm_cancel_and_fire)
{
	struct tt a, b, c;

	tt_init(&a, fn_record);
	tt_init(&b, fn_record);
	tt_init(&c, fn_record);
	ck_assert_uint_eq(timer_wheel_count(w), 0);
	arm(&a, T0 + 10);
	arm(&b, T0 + HOUR);
	arm(&c, T0 + 20);
	ck_assert_uint_eq(timer_wheel_count(w), 3);
	arm(&b, T0 + 30);
	ck_assert_uint_eq(timer_wheel_count(w), 3);
	timer_cancel(w, &c.t);
	ck_assert_uint_eq(timer_wheel_count(w), 2);
	timer_cancel(w, &c.t);
	ck_assert_uint_eq(timer_wheel_count(w), 2);
	ck_assert_uint_eq(advance(T0 + 10), 1);
	ck_assert_uint_eq(timer_wheel_count(w), 1);
	ck_assert_uint_eq(a.count_in_fn, 1); /* disarmed before its call */
	ck_assert(!a.armed_in_fn);
	ck_assert_uint_eq(advance(T0 + 30), 1);
	ck_assert_uint_eq(timer_wheel_count(w), 0);
}
END_TEST

/* ---- callbacks ------------------------------------------------------------ */

START_TEST(a_callback_can_rearm_its_own_timer)
{
	struct tt x;
	unsigned k;

	tt_init(&x, fn_periodic);
	x.period = 7;
	x.repeat = 9;
	arm(&x, T0 + 7);
	for (k = 1; k <= 100; k++)
		advance(T0 + k);
	ck_assert_uint_eq(x.fired, 10);
	ck_assert_uint_eq(x.fired_at, T0 + 70);
	ck_assert(!timer_armed(&x.t));

	/* a long period, one jump per period */
	x.period = DAY;
	x.repeat = 2;
	arm(&x, now + DAY);
	for (k = 0; k < 4; k++) {
		ck_assert_uint_eq(advance(now + DAY - 1), 0);
		ck_assert_uint_eq(advance(now + 1), k < 3);
	}
	ck_assert_uint_eq(x.fired, 13);
}
END_TEST

/* Re-armed for the clock it fired at, a timer is due again, and fires on the
 * next advance: each advance fires it once and returns. */
START_TEST(a_callback_rearming_for_now_fires_once_per_advance)
{
	struct tt x;
	unsigned k;

	tt_init(&x, fn_periodic);
	x.period = 0;
	x.repeat = 1000000;
	arm(&x, T0 + 10);
	ck_assert_uint_eq(advance(T0 + 10), 1);
	for (k = 2; k <= 5; k++) {
		ck_assert(timer_armed(&x.t));
		ck_assert_int_eq(timer_wheel_next(w, now), 0);
		ck_assert_uint_eq(advance(now), 1);
		ck_assert_uint_eq(x.fired, k);
	}
	timer_cancel(w, &x.t);
}
END_TEST

/* Two timers due together that each cancel the other: whichever fires first,
 * the other does not fire. Both also cancel a far timer. */
START_TEST(a_callback_can_cancel_another_timer)
{
	struct tt a, b, far;

	tt_init(&a, fn_cancel_other);
	tt_init(&b, fn_cancel_other);
	tt_init(&far, fn_record);
	a.other = &b;
	b.other = &a;
	arm(&a, T0 + 10);
	arm(&b, T0 + 10);
	arm(&far, T0 + DAY);
	ck_assert_uint_eq(advance(T0 + 10), 1);
	ck_assert_uint_eq(a.fired + b.fired, 1);
	ck_assert_uint_eq(timer_wheel_count(w), 1);

	/* the survivor cancels the far timer from a later callback */
	(a.fired ? &a : &b)->other = &far;
	arm(a.fired ? &a : &b, T0 + 20);
	ck_assert_uint_eq(advance(T0 + 20), 1);
	ck_assert(!timer_armed(&far.t));
	ck_assert_uint_eq(advance(T0 + 2 * DAY), 0);
	ck_assert_uint_eq(far.fired, 0);
}
END_TEST

/* A callback that cancels a timer due in the same advance, at the same
 * millisecond, stops it even though the wheel already reached it. */
static struct tt chain[64];

static void fn_cancel_next(struct timer *t, void *arg)
{
	struct tt *x = tt_of(t);

	record(x);
	if (x + 1 < chain + ARRAY_SIZE(chain))
		timer_cancel(w, &x[1].t);
	if (x > chain)
		timer_cancel(w, &x[-1].t);
}

START_TEST(a_callback_cancelling_timers_due_with_it_stops_them)
{
	unsigned i, fired = 0;

	for (i = 0; i < ARRAY_SIZE(chain); i++) {
		tt_init(&chain[i], fn_cancel_next);
		arm(&chain[i], T0 + 5);
	}
	advance(T0 + 5);
	for (i = 0; i < ARRAY_SIZE(chain); i++) {
		fired += chain[i].fired;
		/* no two neighbours both fired */
		if (i)
			ck_assert(!(chain[i].fired && chain[i - 1].fired));
		/* one that did not fire was cancelled by a neighbour that did */
		if (!chain[i].fired)
			ck_assert((i && chain[i - 1].fired) ||
			          (i + 1 < ARRAY_SIZE(chain) && chain[i + 1].fired));
	}
	ck_assert_uint_ge(fired, ARRAY_SIZE(chain) / 3);
	ck_assert_uint_eq(timer_wheel_count(w), 0);
}
END_TEST

/* A callback may arm a new timer; it fires at its own time. */
static struct tt spawned;

static void fn_spawn(struct timer *t, void *arg)
{
	record(tt_of(t));
	arm(&spawned, now + 5);
}

START_TEST(a_callback_can_arm_another_timer)
{
	struct tt x;

	tt_init(&x, fn_spawn);
	tt_init(&spawned, fn_record);
	arm(&x, T0 + 10);
	ck_assert_uint_eq(advance(T0 + 10), 1);
	ck_assert(timer_armed(&spawned.t));
	ck_assert_uint_eq(advance(T0 + 14), 0);
	ck_assert_uint_eq(advance(T0 + 15), 1);
	ck_assert_uint_eq(spawned.fired_at, T0 + 15);
}
END_TEST

/* ---- timer_wheel_next ----------------------------------------------------- */

/* Random timers, random clock moves: next is -1 exactly when nothing is
 * armed and otherwise at most the time to the earliest expiry. */
START_TEST(next_never_over_estimates)
{
	enum { N = 500 };
	struct tt *x = calloc(N, sizeof(*x));
	unsigned i, round;

	ck_assert_int_eq(timer_wheel_next(w, now), -1);
	srandom(4242);
	for (i = 0; i < N; i++)
		tt_init(&x[i], fn_record);
	for (round = 0; round < 3000; round++) {
		uint64_t min = UINT64_MAX;
		unsigned armed = 0;
		int64_t next;

		for (i = 0; i < 5; i++) {
			struct tt *y = &x[random() % N];
			long r = random() % 100;

			if (r < 70) {
				uint64_t d = r < 40   ? (uint64_t)random() % 100
				             : r < 60 ? (uint64_t)random() % 100000
				                      : (uint64_t)random() % (2 * DAY);

				arm(y, now + d);
			} else {
				timer_cancel(w, &y->t);
			}
		}
		for (i = 0; i < N; i++) {
			if (!timer_armed(&x[i].t))
				continue;
			armed++;
			if (x[i].expires < min)
				min = x[i].expires;
		}
		ck_assert_uint_eq(timer_wheel_count(w), armed);
		next = timer_wheel_next(w, now);
		if (!armed) {
			ck_assert_int_eq(next, -1);
		} else {
			ck_assert_int_ge(next, 0);
			ck_assert_uint_le(now + (uint64_t)next, min > now ? min : now);
		}
		advance(now + (uint64_t)(random() % (round % 10 ? 50 : 20000)));
	}
	for (i = 0; i < N; i++)
		timer_cancel(w, &x[i].t);
	free(x);
}
END_TEST

/* The time asked is the caller's: next is measured from <now> even when the
 * wheel was last advanced earlier. */
START_TEST(next_is_measured_from_the_time_given)
{
	struct tt x;
	int64_t next;

	tt_init(&x, fn_record);
	arm(&x, T0 + 1000);
	next = timer_wheel_next(w, T0 + 400);
	ck_assert_int_ge(next, 0);
	ck_assert_int_le(next, 600);
	ck_assert_int_eq(timer_wheel_next(w, T0 + 1000), 0);
	ck_assert_int_eq(timer_wheel_next(w, T0 + 2000), 0);
	timer_cancel(w, &x.t);
}
END_TEST

/* ---- 100,000 timers ------------------------------------------------------- */

enum { ST_N = 100000 };
enum { ST_ARMED = 1, ST_FIRED, ST_CANCELLED };

struct st {
	struct timer t;
	uint64_t expires;
	unsigned arm_seq; /* advances done when it was last armed */
	unsigned char state;
	unsigned char fired;
};

static struct st *st;
static unsigned st_seq;   /* advances done */
static uint64_t st_prev;  /* clock of the advance before the current one */
static unsigned st_armed; /* model's armed count */
static uint64_t st_max;   /* latest expiry ever armed */

/* Fires in advance number st_seq: due (now >= expires), and not late: no
 * earlier advance since it was armed had reached its expiry. */
static void fn_stress(struct timer *t, void *arg)
{
	struct st *x = (struct st *)((char *)t - offsetof(struct st, t));

	FAIL_IF(x->state != ST_ARMED, "timer %ld fired in state %u", (long)(x - st), x->state);
	FAIL_IF(now < x->expires, "timer %ld fired %lu ms early", (long)(x - st),
	        (unsigned long)(x->expires - now));
	FAIL_IF(st_seq - 1 != x->arm_seq && st_prev >= x->expires,
	        "timer %ld fired late: due at %lu, clock was %lu", (long)(x - st),
	        (unsigned long)x->expires, (unsigned long)st_prev);
	x->state = ST_FIRED;
	x->fired++;
	st_armed--;
}

static uint64_t st_delay(void)
{
	long r = random() % 100;

	if (r < 3)
		return 0; /* due at once */
	if (r < 50)
		return 1 + (uint64_t)random() % 100;
	if (r < 80)
		return 1 + (uint64_t)random() % 10000;
	if (r < 95)
		return 1 + (uint64_t)random() % HOUR;
	return 1 + (uint64_t)random() % DAY;
}

static void st_arm(struct st *x, uint64_t expires)
{
	if (x->state != ST_ARMED)
		st_armed++;
	x->state = ST_ARMED;
	x->expires = expires;
	x->arm_seq = st_seq;
	if (expires > st_max)
		st_max = expires;
	timer_arm(w, &x->t, expires);
}

static void st_advance(uint64_t to)
{
	st_prev = now;
	st_seq++;
	advance(to);
}

/* A random operation on a random timer: re-arm (sometimes into the past) or
 * cancel one that is armed. */
static void st_op(void)
{
	struct st *x = &st[random() % ST_N];
	long r = random() % 100;

	if (x->state != ST_ARMED)
		return;
	if (r < 75) {
		st_arm(x, now + st_delay());
	} else if (r < 80) {
		st_arm(x, now - (uint64_t)random() % 1000);
	} else {
		timer_cancel(w, &x->t);
		x->state = ST_CANCELLED;
		st_armed--;
	}
}

static void st_check_next(void)
{
	uint64_t min = UINT64_MAX;
	int64_t next = timer_wheel_next(w, now);
	unsigned i;

	for (i = 0; i < ST_N; i++)
		if (st[i].state == ST_ARMED && st[i].expires < min)
			min = st[i].expires;
	if (min == UINT64_MAX) {
		ck_assert_int_eq(next, -1);
		return;
	}
	ck_assert_int_ge(next, 0);
	ck_assert_uint_le(now + (uint64_t)next, min > now ? min : now);
}

START_TEST(a_hundred_thousand_timers_fire_once_on_time_or_not_at_all)
{
	unsigned i, k, cancelled = 0, fired = 0;

	st = calloc(ST_N, sizeof(*st));
	st_seq = 0;
	st_armed = 0;
	st_max = 0;
	srandom(20240607);
	for (i = 0; i < ST_N; i++) {
		timer_init(&st[i].t, fn_stress);
		st_arm(&st[i], now + st_delay());
	}
	ck_assert_uint_eq(timer_wheel_count(w), ST_N);
	/* busy phase: small steps, many re-arms and cancels */
	for (k = 0; k < 20000; k++) {
		long r = random() % 1000;
		uint64_t step = r < 950   ? (uint64_t)random() % 21
		                : r < 999 ? 1 + (uint64_t)random() % 2000
		                          : 1 + (uint64_t)random() % HOUR;

		for (i = random() % 20; i; i--)
			st_op();
		st_advance(now + step);
		FAIL_IF(timer_wheel_count(w) != st_armed, "count %u, armed %u",
		        timer_wheel_count(w), st_armed);
		if (k % 2000 == 0)
			st_check_next();
	}
	/* quiet phase: big steps until every expiry has passed */
	while (now <= st_max) {
		if (random() % 4 == 0)
			st_op();
		st_advance(now + 1 + (uint64_t)random() % (10 * MINUTE));
		ck_assert_uint_eq(timer_wheel_count(w), st_armed);
	}
	st_check_next();
	ck_assert_uint_eq(st_armed, 0);
	for (i = 0; i < ST_N; i++) {
		ck_assert(!timer_armed(&st[i].t));
		if (st[i].state == ST_CANCELLED) {
			ck_assert_uint_eq(st[i].fired, 0);
			cancelled++;
		} else {
			ck_assert_uint_eq(st[i].state, ST_FIRED);
			ck_assert_uint_eq(st[i].fired, 1);
			fired++;
		}
	}
	/* the mix really exercised both */
	ck_assert_uint_gt(cancelled, 1000);
	ck_assert_uint_gt(fired, 50000);
	free(st);
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	return ck_tcase(name, timeout, setup, teardown);
}

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tf = tcase("fire", 20), *tr = tcase("rearm_cancel", 10);
	TCase *tc = tcase("callback", 10), *tn = tcase("next", 20), *ts = tcase("stress", 60);

	tcase_add_test(tf, a_timer_fires_at_its_expiry_and_never_before);
	tcase_add_test(tf, a_timer_fires_in_the_first_advance_that_passes_it);
	tcase_add_test(tf, timers_fire_on_their_millisecond_when_the_clock_steps_by_one);
	tcase_add_test(tf, timers_from_1ms_to_a_day_fire_in_order_following_next);
	tcase_add_test(tf, a_timer_armed_in_the_past_fires_on_the_next_advance);
	suite_add_tcase(s, tf);

	tcase_add_test(tr, rearming_moves_the_timer_later_or_earlier);
	tcase_add_test(tr, a_cancelled_timer_never_fires);
	tcase_add_test(tr, cancelling_a_timer_that_is_not_armed_does_nothing);
	tcase_add_test(tr, a_cancelled_timer_can_be_armed_again);
	tcase_add_test(tr, count_follows_arm_rearm_cancel_and_fire);
	suite_add_tcase(s, tr);

	tcase_add_test(tc, a_callback_can_rearm_its_own_timer);
	tcase_add_test(tc, a_callback_rearming_for_now_fires_once_per_advance);
	tcase_add_test(tc, a_callback_can_cancel_another_timer);
	tcase_add_test(tc, a_callback_cancelling_timers_due_with_it_stops_them);
	tcase_add_test(tc, a_callback_can_arm_another_timer);
	suite_add_tcase(s, tc);

	tcase_add_test(tn, next_never_over_estimates);
	tcase_add_test(tn, next_is_measured_from_the_time_given);
	suite_add_tcase(s, tn);

	tcase_add_test(ts, a_hundred_thousand_timers_fire_once_on_time_or_not_at_all);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	return ck_run(timer_suite());
}
