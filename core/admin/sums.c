/* The figures of one admin scrape (admin-int.h), read from atomics while
 * the workers run: the per-worker counters (worker.st, lstat.h blocks)
 * summed, the backend registry copied under its lock (briefly). A scrape
 * sees each counter at some instant of its own; nothing is stopped to
 * line them up. Also the text buffers every answer is written into.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin/admin-int.h"
#include "core/lb/backend.h"
#include "core/loop/lstat.h"
#include "core/loop/worker.h"
#include "core/mem/acct.h"
#include "core/mem/pool.h"
#include "tls/tls.h"

struct admin_counters admin__count;

static struct admin_src the_src;
static _Atomic bool src_set;

void admin__set_src(const struct admin_src *s)
{
	the_src = *s;
	atomic_store_explicit(&src_set, true, memory_order_release);
}

const struct admin_src *admin__src(void)
{
	return atomic_load_explicit(&src_set, memory_order_acquire) ? &the_src : NULL;
}

/* ---- text buffers ---- */

void admin__sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void admin__sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		admin__sb_put(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);

	if (!big) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	admin__sb_put(b, big, (size_t)n);
	free(big);
}

void admin__sb_json_str(struct sb *b, const char *s)
{
	admin__sb_put(b, "\"", 1);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			admin__sb_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			admin__sb_printf(b, "\\u%04x", ch);
		else
			admin__sb_put(b, s, 1);
	}
	admin__sb_put(b, "\"", 1);
}

const char *const admin__comp_name[ACCT_NCOMP] = {"connection", "buffer", "ssl", "cache"};
const char *const admin__class_name[BUF_NCLASS] = {"4KB", "16KB", "64KB", "256KB"};
const char *const admin__rej_name[LSTAT_NREJ] = {"pressure", "table_full", "no_backend"};
const char *const admin__code_name[LSTAT_NCODE] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

uint64_t admin__hcount(const struct hsum *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= LSTAT_NB; i++)
		n += h->n[i];
	return n;
}

static void *grow(void *arr, unsigned *cap, unsigned n, size_t size, bool *oom)
{
	unsigned c = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, (size_t)c * size);
	if (!p) {
		*oom = true;
		return NULL;
	}
	*cap = c;
	return p;
}

static void hist_sum(struct hsum *s, const struct lstat_hist *h)
{
	for (unsigned i = 0; i <= LSTAT_NB; i++)
		s->n[i] += ADMIN_LOAD(h->n[i]);
	s->sum_us += ADMIN_LOAD(h->sum_us);
}

static void collect_listener(const char *name, const struct lstat_w *w, unsigned n, void *arg)
{
	struct sums *s = arg;
	struct lsum *l;
	void *p = grow(s->l, &s->capl, s->nl, sizeof(*s->l), &s->oom);

	if (!p)
		return;
	s->l = p;
	l = &s->l[s->nl++];
	memset(l, 0, sizeof(*l));
	l->name = name;
	for (unsigned i = 0; i < n; i++) {
		l->accepted += ADMIN_LOAD(w[i].accepted);
		l->active += ADMIN_LOAD(w[i].active);
		l->deferred += ADMIN_LOAD(w[i].deferred);
		for (unsigned k = 0; k < LSTAT_NREJ; k++)
			l->rejected[k] += ADMIN_LOAD(w[i].rejected[k]);
		for (unsigned k = 0; k < LSTAT_NCODE; k++)
			l->http[k] += ADMIN_LOAD(w[i].http[k]);
		hist_sum(&l->dur, &w[i].dur);
	}
}

static void collect_bstat(const char *pool, const char *addr, const struct bstat_w *w, unsigned n,
                          void *arg)
{
	struct sums *s = arg;
	struct bsum *b;
	void *p = grow(s->b, &s->capb, s->nb, sizeof(*s->b), &s->oom);

	if (!p)
		return;
	s->b = p;
	b = &s->b[s->nb++];
	memset(b, 0, sizeof(*b));
	b->pool = pool;
	b->addr = addr;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < LSTAT_NCODE; k++)
			b->http[k] += ADMIN_LOAD(w[i].http[k]);
		hist_sum(&b->connect, &w[i].connect);
	}
}

/* Under the registry's lock: copies what we print (the entry may be freed
 * once the lock is dropped). */
static void collect_backend(struct backend *be, void *arg)
{
	struct sums *s = arg;
	struct besum *e;
	void *p = grow(s->be, &s->capbe, s->nbe, sizeof(*s->be), &s->oom);

	if (!p)
		return;
	s->be = p;
	e = &s->be[s->nbe];
	e->pool = strdup(be->pool);
	e->addr = strdup(be->addr);
	if (!e->pool || !e->addr) {
		free(e->pool);
		free(e->addr);
		s->oom = true;
		return;
	}
	s->nbe++;
	e->state = backend_state(be);
	e->health_up = ADMIN_LOAD(be->health) == BACKEND_UP;
	e->active = ADMIN_LOAD(be->active);
	e->picks = ADMIN_LOAD(be->picks);
	e->ok = ADMIN_LOAD(be->connect_ok);
	e->fail = ADMIN_LOAD(be->connect_fail);
	e->transitions = ADMIN_LOAD(be->transitions);
}

static int cmp_besum(const void *a, const void *b)
{
	const struct besum *x = a, *y = b;
	int r = strcmp(x->pool, y->pool);

	return r ? r : strcmp(x->addr, y->addr);
}

void admin__collect(struct sums *s)
{
	memset(s, 0, sizeof(*s));
	lstat_foreach_listener(collect_listener, s);
	lstat_foreach_backend(collect_bstat, s);
	backend_foreach(collect_backend, s);
	if (s->nbe)
		qsort(s->be, s->nbe, sizeof(*s->be), cmp_besum);
}

void admin__sums_free(struct sums *s)
{
	for (unsigned i = 0; i < s->nbe; i++) {
		free(s->be[i].pool);
		free(s->be[i].addr);
	}
	free(s->l);
	free(s->b);
	free(s->be);
}

int admin__mode_of(const struct config *cfg, const char *name)
{
	if (!strcmp(name, cfg->admin.name ? cfg->admin.name : ""))
		return LMODE_ADMIN;
	for (unsigned i = 0; i < cfg->nlisteners; i++)
		if (!strcmp(cfg->listeners[i].name, name))
			return (int)cfg->listeners[i].mode;
	return -1;
}
