/* Slabs: right-sized objects for what a 4 KiB pool buffer would waste on
 * (an HTTP request context, a partial request head of a few hundred bytes).
 *
 * A slab hands out objects of one size, carved from 64 KiB spans of
 * node-local memory. It belongs to one thread (a worker): slab_get() and
 * slab_put() take no lock and touch no shared cache line. Spans are
 * charged to the accountant, under the component given at creation, when
 * they are mapped, and released when they are unmapped: a span whose
 * objects are all back is unmapped at once, except one kept as a spare so
 * that a slab at its edge does not map and unmap at every get. Only the
 * accountant refuses a get (memory_limits); there is no count limit.
 *
 * Objects come zeroed; a returned object has its written prefix zeroed
 * before it can be handed out again. Every object handed out records its
 * call site and time in debug builds (RINGLB_DEBUG), and the control
 * thread's leak check reports those held past the threshold.
 * slab_stats_all() and slab_leak_check_all() walk every slab of every
 * thread (a registry under a mutex; each slab's span list has its own,
 * taken by the owner only when it maps or unmaps a span).
 */
#ifndef RINGLB_CORE_SLAB_H
#define RINGLB_CORE_SLAB_H

#include <stddef.h>
#include <stdint.h>
#include "core/mem/acct.h"

#define SLAB_SPAN (64u << 10)

struct slab;

struct slab_stats {
	const char *name;
	int node;
	uint32_t size;     /* bytes per object */
	uint32_t per_span; /* objects per span */
	uint64_t spans;    /* mapped (and charged) now */
	uint64_t in_use, peak;
	uint64_t gets, puts, fails; /* fails: the accountant refused a span */
	uint64_t maps, unmaps;      /* spans mapped and given back over time */
	uint64_t zeroed_bytes;
};

/* A slab of objects of <size> bytes (rounded up to 16, at most a quarter
 * of a span), named <name> (a literal: stats keep the pointer) on real
 * node <node> (-1: none), charging <comp> of <acct>. NULL on failure. */
struct slab *slab_new(const char *name, uint32_t size, enum acct_comp comp, int node,
                      struct acct *acct);
/* Unmaps every span and releases its charge; objects still out are
 * reported (a leak), counted in slab_leaked() and lost. */
void slab_free(struct slab *s);
/* Objects every slab_free() so far found still out. */
uint64_t slab_leaked(void);

/* A zeroed object, or NULL when the accountant refuses a new span. The
 * caller owns it until slab_put(). slab_get() fills in the call site. */
void *slab_get_at(struct slab *s, const char *site);
#define SLAB_STR_(x) #x
#define SLAB_STR(x)  SLAB_STR_(x)
#define slab_get(s)  slab_get_at((s), __FILE__ ":" SLAB_STR(__LINE__))

/* Gives <obj> back to <s>, the slab it came from; <used> is how far it was
 * written: that prefix is zeroed now. */
void slab_put(struct slab *s, void *obj, size_t used);

/* Unmaps the empty span a slab keeps for reuse, so an idle slab holds
 * only spans with objects out (every memory_cleanup_interval). Owner only. */
void slab_trim(struct slab *s);

/* The object size of <s>. */
uint32_t slab_size(const struct slab *s);

void slab_stats(struct slab *s, struct slab_stats *st);
/* Calls <fn> with the stats of every slab (any thread's). */
void slab_stats_all(void (*fn)(const struct slab_stats *st, void *arg), void *arg);
/* The stats of every slab summed by name and node (the workers' slabs of
 * one kind on one node: peak is the sum of their peaks) into <out>, at
 * most <max> of them, sorted by name; returns how many. */
unsigned slab_stats_sum(struct slab_stats *out, unsigned max);
/* Debug builds: logs every object of every slab held longer than
 * <threshold_ms>; returns how many. Release builds return 0. */
unsigned slab_leak_check_all(uint64_t now_ms, uint64_t threshold_ms);

#endif
