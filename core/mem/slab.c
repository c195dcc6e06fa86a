/* Slabs (slab.h): objects of one size carved from aligned 64 KiB spans.
 *
 * A span starts with its header (and, in debug builds, a call site and
 * time per object); its objects follow. Being aligned to its size, the
 * span of an object is its address rounded down, so a put finds it with
 * no lookup. Returned objects are linked through their first word (after
 * the zeroing; the word is cleared again when the object is handed out),
 * objects never handed out are taken from <fresh> on. Spans with room are
 * on the slab's <partial> list, full ones on no list; every span is also
 * on <all> (under the slab's lock) for the control thread's leak check.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/mem/slab.h"
#include "numa/nodemem.h"

struct slab_track {
	_Atomic uint64_t since;   /* ms, when handed out */
	const char *_Atomic site; /* NULL while free */
};

struct slab_span {
	struct slab *slab;
	struct slab_span *prev, *next;         /* on <partial> */
	struct slab_span *all_prev, *all_next; /* on <all> */
	void *free;                            /* returned objects */
	uint32_t nfree;                        /* objects to hand out: free list + fresh */
	uint32_t fresh;                        /* from here on never handed out */
	bool partial;
#ifdef RINGLB_DEBUG
	struct slab_track track[];
#endif
};

struct slab {
	const char *name;
	uint32_t size, per_span, first; /* object size, count, offset of the first */
	int node;
	enum acct_comp comp;
	struct acct *acct;
	struct slab_span *partial; /* spans with an object to hand out */
	struct slab_span *all;
	uint32_t nempty;      /* spans with every object back (kept: at most one) */
	pthread_mutex_t lock; /* <all>: the owner when it maps or unmaps, the leak check */
	struct slab *reg_next;
	/* written by the owner, read by anyone */
	_Atomic uint64_t spans, in_use, peak, gets, puts, fails, maps, unmaps, zeroed;
};

static pthread_mutex_t slab_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab *slab_reg;
static _Atomic uint64_t slab_nleaked;

uint64_t slab_leaked(void)
{
	return atomic_load(&slab_nleaked);
}

static void slab_add(_Atomic uint64_t *v, int64_t d)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + (uint64_t)d,
	                      memory_order_relaxed);
}

struct slab *slab_new(const char *name, uint32_t size, enum acct_comp comp, int node,
                      struct acct *acct)
{
	struct slab *s;
	size_t hdr = sizeof(struct slab_span);

	size = (size + 15) & ~15u;
	if (size < sizeof(void *) || size > SLAB_SPAN / 4) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->name = name;
	s->size = size;
	s->node = node;
	s->comp = comp;
	s->acct = acct;
	/* header (and debug tracks), then objects from a 64-byte boundary */
	s->per_span = (uint32_t)((SLAB_SPAN - hdr) / size);
#ifdef RINGLB_DEBUG
	while (((hdr + s->per_span * sizeof(struct slab_track) + 63) & ~(size_t)63) +
	           (size_t)s->per_span * size >
	       SLAB_SPAN)
		s->per_span--;
	hdr += s->per_span * sizeof(struct slab_track);
#else
	while (((hdr + 63) & ~(size_t)63) + (size_t)s->per_span * size > SLAB_SPAN)
		s->per_span--;
#endif
	s->first = (uint32_t)((hdr + 63) & ~(size_t)63);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_lock(&slab_reg_lock);
	s->reg_next = slab_reg;
	slab_reg = s;
	pthread_mutex_unlock(&slab_reg_lock);
	return s;
}

static void partial_push(struct slab *s, struct slab_span *sp)
{
	sp->prev = NULL;
	sp->next = s->partial;
	if (s->partial)
		s->partial->prev = sp;
	s->partial = sp;
	sp->partial = true;
}

static void partial_drop(struct slab *s, struct slab_span *sp)
{
	if (sp->prev)
		sp->prev->next = sp->next;
	else
		s->partial = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	sp->prev = sp->next = NULL;
	sp->partial = false;
}

/* Maps, charges and lists one more span; NULL when refused. */
static struct slab_span *span_map(struct slab *s)
{
	struct slab_span *sp;

	if (acct_charge(s->acct, s->comp, s->node, SLAB_SPAN) < 0)
		return NULL;
	sp = nodemem_alloc_aligned(SLAB_SPAN, SLAB_SPAN, s->node);
	if (!sp) {
		acct_release(s->acct, s->comp, s->node, SLAB_SPAN);
		return NULL;
	}
	sp->slab = s;
	sp->nfree = s->per_span;
	pthread_mutex_lock(&s->lock);
	sp->all_next = s->all;
	if (s->all)
		s->all->all_prev = sp;
	s->all = sp;
	pthread_mutex_unlock(&s->lock);
	partial_push(s, sp);
	s->nempty++;
	slab_add(&s->spans, 1);
	slab_add(&s->maps, 1);
	return sp;
}

static void span_unmap(struct slab *s, struct slab_span *sp)
{
	if (sp->partial)
		partial_drop(s, sp);
	pthread_mutex_lock(&s->lock);
	if (sp->all_prev)
		sp->all_prev->all_next = sp->all_next;
	else
		s->all = sp->all_next;
	if (sp->all_next)
		sp->all_next->all_prev = sp->all_prev;
	pthread_mutex_unlock(&s->lock);
	nodemem_free_aligned(sp, SLAB_SPAN);
	acct_release(s->acct, s->comp, s->node, SLAB_SPAN);
	slab_add(&s->spans, -1);
	slab_add(&s->unmaps, 1);
}

void slab_free(struct slab *s)
{
	struct slab **pp;
	uint64_t out;

	if (!s)
		return;
	pthread_mutex_lock(&slab_reg_lock);
	for (pp = &slab_reg; *pp && *pp != s; pp = &(*pp)->reg_next)
		;
	if (*pp)
		*pp = s->reg_next;
	pthread_mutex_unlock(&slab_reg_lock);
	out = atomic_load(&s->in_use);
	atomic_fetch_add(&slab_nleaked, out);
	if (out)
		log_warn("slab %s: %llu of its %u-byte objects not returned", s->name,
		         (unsigned long long)out, s->size);
	while (s->all)
		span_unmap(s, s->all);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

uint32_t slab_size(const struct slab *s)
{
	return s->size;
}

void *slab_get_at(struct slab *s, const char *site)
{
	struct slab_span *sp = s->partial;
	char *obj;
	uint64_t n;

	if (!sp && !(sp = span_map(s))) {
		slab_add(&s->fails, 1);
		return NULL;
	}
	if (sp->nfree == s->per_span)
		s->nempty--;
	if (sp->free) {
		obj = sp->free;
		sp->free = *(void **)obj;
		*(void **)obj = NULL;
	} else {
		obj = (char *)sp + s->first + (size_t)sp->fresh++ * s->size;
	}
	if (!--sp->nfree)
		partial_drop(s, sp);
#ifdef RINGLB_DEBUG
	{
		struct slab_track *t = &sp->track[(obj - (char *)sp - s->first) / s->size];

		atomic_store_explicit(&t->since, clock_ms(), memory_order_relaxed);
		atomic_store_explicit(&t->site, site, memory_order_release);
	}
#else
	(void)site;
#endif
	slab_add(&s->gets, 1);
	n = atomic_load_explicit(&s->in_use, memory_order_relaxed) + 1;
	atomic_store_explicit(&s->in_use, n, memory_order_relaxed);
	if (n > atomic_load_explicit(&s->peak, memory_order_relaxed))
		atomic_store_explicit(&s->peak, n, memory_order_relaxed);
	return obj;
}

void slab_put(struct slab *s, void *obj, size_t used)
{
	struct slab_span *sp;

	if (!obj)
		return;
	sp = (struct slab_span *)((uintptr_t)obj & ~(uintptr_t)(SLAB_SPAN - 1));
	if (sp->slab != s) {
		log_err("slab_put: %p is no object of slab %s", obj, s->name);
		abort();
	}
	if (used > s->size)
		used = s->size;
	memset(obj, 0, used);
#ifdef RINGLB_DEBUG
	atomic_store_explicit(&sp->track[((char *)obj - (char *)sp - s->first) / s->size].site,
	                      NULL, memory_order_relaxed);
#endif
	*(void **)obj = sp->free;
	sp->free = obj;
	if (!sp->nfree++)
		partial_push(s, sp);
	slab_add(&s->puts, 1);
	slab_add(&s->in_use, -1);
	slab_add(&s->zeroed, (int64_t)used);
	if (sp->nfree == s->per_span) {
		/* Every object back: one empty span stays, the others go. */
		if (s->nempty)
			span_unmap(s, sp);
		else
			s->nempty++;
	}
}

void slab_trim(struct slab *s)
{
	struct slab_span *sp, *next;

	for (sp = s->partial; sp && s->nempty; sp = next) {
		next = sp->next;
		if (sp->nfree == s->per_span) {
			span_unmap(s, sp);
			s->nempty--;
		}
	}
}

void slab_stats(struct slab *s, struct slab_stats *st)
{
	st->name = s->name;
	st->node = s->node;
	st->size = s->size;
	st->per_span = s->per_span;
	st->spans = atomic_load(&s->spans);
	st->in_use = atomic_load(&s->in_use);
	st->peak = atomic_load(&s->peak);
	st->gets = atomic_load(&s->gets);
	st->puts = atomic_load(&s->puts);
	st->fails = atomic_load(&s->fails);
	st->maps = atomic_load(&s->maps);
	st->unmaps = atomic_load(&s->unmaps);
	st->zeroed_bytes = atomic_load(&s->zeroed);
}

void slab_stats_all(void (*fn)(const struct slab_stats *st, void *arg), void *arg)
{
	struct slab_stats st;

	pthread_mutex_lock(&slab_reg_lock);
	for (struct slab *s = slab_reg; s; s = s->reg_next) {
		slab_stats(s, &st);
		fn(&st, arg);
	}
	pthread_mutex_unlock(&slab_reg_lock);
}

struct slab_sum {
	struct slab_stats *out;
	unsigned n, max;
};

static void slab_sum_one(const struct slab_stats *st, void *arg)
{
	struct slab_sum *sum = arg;
	struct slab_stats *o = NULL;
	unsigned i;

	for (i = 0; i < sum->n && !o; i++)
		if (sum->out[i].node == st->node && !strcmp(sum->out[i].name, st->name))
			o = &sum->out[i];
	if (!o) {
		if (sum->n == sum->max)
			return;
		/* sorted by name, then node */
		for (i = sum->n; i > 0; i--) {
			int d = strcmp(sum->out[i - 1].name, st->name);

			if (d < 0 || (!d && sum->out[i - 1].node < st->node))
				break;
			sum->out[i] = sum->out[i - 1];
		}
		o = &sum->out[i];
		*o = *st;
		sum->n++;
		return;
	}
	o->spans += st->spans;
	o->in_use += st->in_use;
	o->peak += st->peak;
	o->gets += st->gets;
	o->puts += st->puts;
	o->fails += st->fails;
	o->maps += st->maps;
	o->unmaps += st->unmaps;
	o->zeroed_bytes += st->zeroed_bytes;
}

unsigned slab_stats_sum(struct slab_stats *out, unsigned max)
{
	struct slab_sum sum = {out, 0, max};

	slab_stats_all(slab_sum_one, &sum);
	return sum.n;
}

unsigned slab_leak_check_all(uint64_t now_ms, uint64_t threshold_ms)
{
	unsigned n = 0;
#ifdef RINGLB_DEBUG
	pthread_mutex_lock(&slab_reg_lock);
	for (struct slab *s = slab_reg; s; s = s->reg_next) {
		pthread_mutex_lock(&s->lock);
		for (struct slab_span *sp = s->all; sp; sp = sp->all_next)
			for (uint32_t k = 0; k < s->per_span; k++) {
				struct slab_track *t = &sp->track[k];
				const char *site =
				    atomic_load_explicit(&t->site, memory_order_acquire);
				uint64_t since =
				    atomic_load_explicit(&t->since, memory_order_relaxed);

				if (!site || now_ms < since || now_ms - since <= threshold_ms)
					continue;
				n++;
				log_warn("leak check: slab %s %u-byte object held %llu ms, from %s",
				         s->name, s->size, (unsigned long long)(now_ms - since),
				         site);
			}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&slab_reg_lock);
#else
	(void)now_ms;
	(void)threshold_ms;
#endif
	return n;
}
