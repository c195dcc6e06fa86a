/* The timer wheel: a hashed wheel of 4096 one-millisecond slots with a
 * bitmap of the slots that hold timers.
 *
 * A timer sits in slot (expires mod 4096) whatever its distance, so arm,
 * re-arm and cancel are O(1) list operations. Advancing the clock visits
 * each slot passed; a timer whose expiry lies a whole turn (4.096 s) or more
 * ahead stays where it is. With 100,000 idle timers of 300 s that is about
 * 25 timers looked at per millisecond of clock, and an idle worker that
 * sleeps a second visits 1,000 slots, mostly empty ones skipped by the
 * bitmap. Timers armed in the past wait on a separate list that the next
 * advance fires first.
 */
#include <stdlib.h>
#include <string.h>

#include "core/base/timer.h"

#define TW_BITS  12
#define TW_SLOTS (1u << TW_BITS)
#define TW_MASK  (TW_SLOTS - 1)
#define TW_WORDS (TW_SLOTS / 64)

struct timer_wheel {
	uint64_t now;      /* every slot up to here has been visited */
	unsigned count;    /* armed timers */
	struct timer *due; /* armed at or before now: fire on the next advance */
	uint64_t map[TW_WORDS];
	struct timer *slot[TW_SLOTS];
};

struct timer_wheel *timer_wheel_new(uint64_t now)
{
	struct timer_wheel *w = calloc(1, sizeof(*w));

	if (w)
		w->now = now;
	return w;
}

void timer_wheel_free(struct timer_wheel *w)
{
	free(w);
}

void timer_init(struct timer *t, timer_fn fn)
{
	t->next = NULL;
	t->pprev = NULL;
	t->expires = 0;
	t->fn = fn;
}

static void tw_link(struct timer **head, struct timer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
}

static void tw_unlink(struct timer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

static bool tw_in_slot(struct timer_wheel *w, struct timer **head)
{
	return head >= &w->slot[0] && head < &w->slot[TW_SLOTS];
}

/* Clears the slot's bit once its list is empty. */
static void tw_slot_check(struct timer_wheel *w, unsigned i)
{
	if (!w->slot[i])
		w->map[i / 64] &= ~(1ull << (i % 64));
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
	struct timer **head = t->pprev;

	if (!head)
		return;
	tw_unlink(t);
	w->count--;
	/* A slot's first timer points at the slot itself. */
	if (tw_in_slot(w, head))
		tw_slot_check(w, (unsigned)(head - w->slot));
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires)
{
	unsigned i;

	timer_cancel(w, t);
	t->expires = expires;
	w->count++;
	if (expires <= w->now) {
		tw_link(&w->due, t);
		return;
	}
	i = expires & TW_MASK;
	tw_link(&w->slot[i], t);
	w->map[i / 64] |= 1ull << (i % 64);
}

/* Moves the expired timers of slot <i> onto <fire>. */
static void tw_collect(struct timer_wheel *w, unsigned i, uint64_t now, struct timer **fire)
{
	struct timer *t = w->slot[i], *next;

	for (; t; t = next) {
		next = t->next;
		if (t->expires <= now) {
			tw_unlink(t);
			tw_link(fire, t);
		}
	}
	tw_slot_check(w, i);
}

unsigned timer_wheel_advance(struct timer_wheel *w, uint64_t now, void *arg)
{
	struct timer *fire = NULL, *t;
	unsigned fired = 0;
	uint64_t from, n, k;

	while (w->due) {
		t = w->due;
		tw_unlink(t);
		tw_link(&fire, t);
	}
	if (now > w->now) {
		from = w->now + 1;
		n = now - w->now;
		if (n > TW_SLOTS)
			n = TW_SLOTS;
		for (k = 0; k < n; k++) {
			unsigned i = (from + k) & TW_MASK;

			if (w->map[i / 64] & (1ull << (i % 64)))
				tw_collect(w, i, now, &fire);
		}
		w->now = now;
	}
	/* Each is still linked on <fire> until its turn, so a callback may
	 * cancel or re-arm any timer, including one about to fire. */
	while ((t = fire)) {
		tw_unlink(t);
		w->count--;
		fired++;
		t->fn(t, arg);
	}
	return fired;
}

int64_t timer_wheel_next(struct timer_wheel *w, uint64_t now)
{
	unsigned start, word, i;
	uint64_t bits, at;

	if (!w->count)
		return -1;
	if (w->due)
		return 0;
	start = (w->now + 1) & TW_MASK;
	for (i = 0; i <= TW_WORDS; i++) {
		word = (start / 64 + i) % TW_WORDS;
		bits = w->map[word];
		if (i == 0)
			bits &= ~0ull << (start % 64);
		else if (i == TW_WORDS)
			bits &= (start % 64) ? ~(~0ull << (start % 64)) : 0;
		if (!bits)
			continue;
		/* The first slot holding timers: none can expire before it. */
		at = w->now + 1 + ((word * 64 + __builtin_ctzll(bits) - start) & TW_MASK);
		return at > now ? (int64_t)(at - now) : 0;
	}
	return 0; /* only stragglers: fire them now */
}

unsigned timer_wheel_count(const struct timer_wheel *w)
{
	return w->count;
}
