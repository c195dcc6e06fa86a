/* What /metrics (Prometheus text format 0.0.4) and /stats (JSON) say.
 *
 * Everything is read from atomics while the workers run: the per-worker
 * counters (worker.st, lstat.h blocks) summed here, the backend registry
 * (under its lock, briefly), the accountant and the pools. A scrape sees
 * each counter at some instant of its own; nothing is stopped to line them
 * up.
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
#include "core/mem/slab.h"
#include "tls/tls.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

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

static const char *const comp_name[ACCT_NCOMP] = {"connection", "buffer", "ssl", "cache"};
static const char *const class_name[BUF_NCLASS] = {"4KB", "16KB", "64KB", "256KB"};
static const char *const rej_name[LSTAT_NREJ] = {"pressure", "table_full", "no_backend"};
static const char *const code_name[LSTAT_NCODE] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

struct hsum {
	uint64_t n[LSTAT_NB + 1];
	uint64_t sum_us;
};

static uint64_t hcount(const struct hsum *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= LSTAT_NB; i++)
		n += h->n[i];
	return n;
}

struct lsum {
	const char *name;
	uint64_t accepted, active, deferred, rejected[LSTAT_NREJ], http[LSTAT_NCODE];
	struct hsum dur;
};

struct bsum {
	const char *pool, *addr;
	uint64_t http[LSTAT_NCODE];
	struct hsum connect;
};

struct besum {
	char *pool, *addr;
	enum backend_state state;
	bool health_up;
	uint64_t active, picks, ok, fail, transitions;
};

struct sums {
	struct lsum *l;
	unsigned nl, capl;
	struct bsum *b;
	unsigned nb, capb;
	struct besum *be;
	unsigned nbe, capbe;
	bool oom;
};

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
		s->n[i] += LOAD(h->n[i]);
	s->sum_us += LOAD(h->sum_us);
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
		l->accepted += LOAD(w[i].accepted);
		l->active += LOAD(w[i].active);
		l->deferred += LOAD(w[i].deferred);
		for (unsigned k = 0; k < LSTAT_NREJ; k++)
			l->rejected[k] += LOAD(w[i].rejected[k]);
		for (unsigned k = 0; k < LSTAT_NCODE; k++)
			l->http[k] += LOAD(w[i].http[k]);
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
			b->http[k] += LOAD(w[i].http[k]);
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
	e->health_up = LOAD(be->health) == BACKEND_UP;
	e->active = LOAD(be->active);
	e->picks = LOAD(be->picks);
	e->ok = LOAD(be->connect_ok);
	e->fail = LOAD(be->connect_fail);
	e->transitions = LOAD(be->transitions);
}

static int cmp_besum(const void *a, const void *b)
{
	const struct besum *x = a, *y = b;
	int r = strcmp(x->pool, y->pool);

	return r ? r : strcmp(x->addr, y->addr);
}

static void collect(struct sums *s)
{
	memset(s, 0, sizeof(*s));
	lstat_foreach_listener(collect_listener, s);
	lstat_foreach_backend(collect_bstat, s);
	backend_foreach(collect_backend, s);
	if (s->nbe)
		qsort(s->be, s->nbe, sizeof(*s->be), cmp_besum);
}

static void sums_free(struct sums *s)
{
	for (unsigned i = 0; i < s->nbe; i++) {
		free(s->be[i].pool);
		free(s->be[i].addr);
	}
	free(s->l);
	free(s->b);
	free(s->be);
}

/* The mode of listener <name> in <cfg>; -1 when it is not in it. */
static int mode_of(const struct config *cfg, const char *name)
{
	if (!strcmp(name, cfg->admin.name ? cfg->admin.name : ""))
		return LMODE_ADMIN;
	for (unsigned i = 0; i < cfg->nlisteners; i++)
		if (!strcmp(cfg->listeners[i].name, name))
			return (int)cfg->listeners[i].mode;
	return -1;
}

/* ---- Prometheus ---- */

static void family(struct sb *b, const char *name, const char *type, const char *help)
{
	admin__sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist(struct sb *b, const char *name, const char *labels, const struct hsum *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < LSTAT_NB; i++) {
		cum += h->n[i];
		admin__sb_printf(b, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
		                 (double)lstat_bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	cum += h->n[LSTAT_NB];
	admin__sb_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
	                 (unsigned long long)cum);
	admin__sb_printf(b, "%s_sum{%s} %.6f\n", name, labels, (double)h->sum_us / 1e6);
	admin__sb_printf(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
}

static void prom_listeners(struct sb *b, const struct sums *s, const struct config *cfg)
{
	char lab[200];
	unsigned i, k;

#define EACH_L for (i = 0; i < s->nl; i++)
	family(b, "ringlb_connections_accepted_total", "counter",
	       "Client connections accepted, by listener.");
	EACH_L admin__sb_printf(b, "ringlb_connections_accepted_total{listener=\"%s\"} %llu\n",
	                        s->l[i].name, (unsigned long long)s->l[i].accepted);
	family(b, "ringlb_connections_active", "gauge",
	       "Client connections open now, by listener.");
	EACH_L admin__sb_printf(b, "ringlb_connections_active{listener=\"%s\"} %llu\n",
	                        s->l[i].name, (unsigned long long)s->l[i].active);
	family(b, "ringlb_connections_deferred_total", "counter",
	       "Times a listener paused accepting for defer_delay under memory pressure.");
	EACH_L admin__sb_printf(b, "ringlb_connections_deferred_total{listener=\"%s\"} %llu\n",
	                        s->l[i].name, (unsigned long long)s->l[i].deferred);
	family(b, "ringlb_connections_rejected_total", "counter",
	       "Client connections refused, by listener and reason (pressure, table_full, "
	       "no_backend).");
	EACH_L for (k = 0; k < LSTAT_NREJ; k++) admin__sb_printf(
	    b, "ringlb_connections_rejected_total{listener=\"%s\",reason=\"%s\"} %llu\n",
	    s->l[i].name, rej_name[k], (unsigned long long)s->l[i].rejected[k]);
	family(b, "ringlb_http_requests_total", "counter",
	       "HTTP answers sent to clients, by listener and status class.");
	EACH_L
	{
		int m = mode_of(cfg, s->l[i].name);

		for (k = 1; k < LSTAT_NCODE; k++)
			if (m == LMODE_HTTP || s->l[i].http[k])
				admin__sb_printf(
				    b,
				    "ringlb_http_requests_total{listener=\"%s\",code=\"%s\"} %llu\n",
				    s->l[i].name, code_name[k],
				    (unsigned long long)s->l[i].http[k]);
	}
	family(b, "ringlb_request_duration_seconds", "histogram",
	       "HTTP requests from the first byte of the head to the end of the answer, by "
	       "listener.");
	EACH_L
	{
		if (mode_of(cfg, s->l[i].name) != LMODE_HTTP && !hcount(&s->l[i].dur))
			continue;
		snprintf(lab, sizeof(lab), "listener=\"%s\"", s->l[i].name);
		hist(b, "ringlb_request_duration_seconds", lab, &s->l[i].dur);
	}
#undef EACH_L
}

static void prom_backends(struct sb *b, const struct sums *s)
{
	char lab[300];
	unsigned i, k;

#define EACH_B for (i = 0; i < s->nbe; i++)
#define BL     s->be[i].pool, s->be[i].addr
	family(b, "ringlb_backend_up", "gauge", "1 when the backend takes new connections (up).");
	EACH_B admin__sb_printf(b, "ringlb_backend_up{pool=\"%s\",backend=\"%s\"} %d\n", BL,
	                        s->be[i].state == BACKEND_UP);
	family(b, "ringlb_backend_state", "gauge",
	       "1 for the backend's state (up, down, draining, disabled), 0 for the others.");
	EACH_B for (k = 0; k < BACKEND_NSTATES; k++) admin__sb_printf(
	    b, "ringlb_backend_state{pool=\"%s\",backend=\"%s\",state=\"%s\"} %d\n", BL,
	    backend_state_name(k), s->be[i].state == k);
	family(b, "ringlb_backend_health_up", "gauge",
	       "The health verdict (checks, passive detection): 1 up, 0 down.");
	EACH_B admin__sb_printf(b, "ringlb_backend_health_up{pool=\"%s\",backend=\"%s\"} %d\n", BL,
	                        s->be[i].health_up);
	family(b, "ringlb_backend_requests_total", "counter",
	       "Requests (http) and connections (tcp) sent to the backend, retries included.");
	EACH_B admin__sb_printf(b,
	                        "ringlb_backend_requests_total{pool=\"%s\",backend=\"%s\"} %llu\n",
	                        BL, (unsigned long long)s->be[i].picks);
	family(b, "ringlb_backend_active_connections", "gauge",
	       "Connections to the backend in progress.");
	EACH_B admin__sb_printf(
	    b, "ringlb_backend_active_connections{pool=\"%s\",backend=\"%s\"} %llu\n", BL,
	    (unsigned long long)s->be[i].active);
	family(b, "ringlb_backend_connects_total", "counter",
	       "Connects to the backend, by result.");
	EACH_B
	{
		admin__sb_printf(
		    b,
		    "ringlb_backend_connects_total{pool=\"%s\",backend=\"%s\",result=\"ok\"} %llu\n",
		    BL, (unsigned long long)s->be[i].ok);
		admin__sb_printf(
		    b,
		    "ringlb_backend_connects_total{pool=\"%s\",backend=\"%s\",result=\"failed\"} %llu\n",
		    BL, (unsigned long long)s->be[i].fail);
	}
	family(b, "ringlb_backend_transitions_total", "counter", "Changes of the backend's state.");
	EACH_B admin__sb_printf(
	    b, "ringlb_backend_transitions_total{pool=\"%s\",backend=\"%s\"} %llu\n", BL,
	    (unsigned long long)s->be[i].transitions);
#undef EACH_B
#undef BL
	family(b, "ringlb_backend_responses_total", "counter",
	       "HTTP answers the backend gave, by status class.");
	for (i = 0; i < s->nb; i++)
		for (k = 1; k < LSTAT_NCODE; k++)
			if (s->b[i].http[k])
				admin__sb_printf(
				    b,
				    "ringlb_backend_responses_total{pool=\"%s\",backend="
				    "\"%s\",code=\"%s\"} %llu\n",
				    s->b[i].pool, s->b[i].addr, code_name[k],
				    (unsigned long long)s->b[i].http[k]);
	family(b, "ringlb_backend_connect_seconds", "histogram",
	       "Time to connect to the backend (TLS pools: and the handshake).");
	for (i = 0; i < s->nb; i++) {
		snprintf(lab, sizeof(lab), "pool=\"%s\",backend=\"%s\"", s->b[i].pool,
		         s->b[i].addr);
		hist(b, "ringlb_backend_connect_seconds", lab, &s->b[i].connect);
	}
}

static void prom_memory(struct sb *b, const struct admin_src *src)
{
	struct acct_stats a;
	unsigned i;

	acct_snapshot(src->acct, &a);
#define COMP(metric, field, type, help)                                                            \
	family(b, metric, type, help);                                                             \
	for (i = 0; i <= ACCT_NCOMP; i++) {                                                        \
		const struct acct_comp_stats *c = i < ACCT_NCOMP ? &a.comp[i] : &a.total;          \
		admin__sb_printf(b, "%s{component=\"%s\"} %llu\n", metric,                         \
		                 i < ACCT_NCOMP ? comp_name[i] : "total",                          \
		                 (unsigned long long)c->field);                                    \
	}
	COMP("ringlb_memory_bytes", current, "gauge", "Memory held, by component.")
	COMP("ringlb_memory_peak_bytes", peak, "gauge", "Highest memory held since start.")
	COMP("ringlb_memory_limit_bytes", limit, "gauge", "Memory limit (memory_limits).")
	COMP("ringlb_memory_allocs_total", allocs, "counter", "Charges to the accountant.")
	COMP("ringlb_memory_releases_total", releases, "counter", "Releases to the accountant.")
	COMP("ringlb_memory_refused_total", refused, "counter",
	     "Charges the limits refused (nothing was allocated).")
#undef COMP
	family(b, "ringlb_memory_node_bytes", "gauge", "Memory held, by NUMA node.");
	for (i = 0; i < a.nnodes && i < ACCT_MAX_NODES; i++)
		admin__sb_printf(b, "ringlb_memory_node_bytes{node=\"%u\"} %llu\n", i,
		                 (unsigned long long)a.node_current[i]);
	family(b, "ringlb_pressure_level", "gauge",
	       "Memory pressure: 0 Normal, 1 Warning, 2 Critical.");
	admin__sb_printf(b, "ringlb_pressure_level %d\n", (int)a.level);
	family(b, "ringlb_pressure_level_peak", "gauge", "Highest pressure level since start.");
	admin__sb_printf(b, "ringlb_pressure_level_peak %d\n", (int)a.level_peak);
	family(b, "ringlb_pressure_usage_ratio", "gauge",
	       "The largest current/limit of the total and the components.");
	admin__sb_printf(b, "ringlb_pressure_usage_ratio %.6f\n", a.usage);
	family(b, "ringlb_pressure_entered_total", "counter",
	       "Times the pressure entered a level.");
	admin__sb_printf(b, "ringlb_pressure_entered_total{level=\"warning\"} %llu\n",
	                 (unsigned long long)a.entered[ACCT_WARNING]);
	admin__sb_printf(b, "ringlb_pressure_entered_total{level=\"critical\"} %llu\n",
	                 (unsigned long long)a.entered[ACCT_CRITICAL]);
}

static void prom_pools(struct sb *b, const struct admin_src *src)
{
	struct pool_stats ps[ACCT_MAX_NODES];
	unsigned n = src->npools < ACCT_MAX_NODES ? src->npools : ACCT_MAX_NODES, i, k;

	for (i = 0; i < n; i++)
		pool_stats(src->pools[i], &ps[i]);
	family(b, "ringlb_pool_buffers", "gauge",
	       "Buffers resident in a node's pool, by size class and state (free, in_use).");
	for (i = 0; i < n; i++)
		for (k = 0; k < BUF_NCLASS; k++) {
			const struct pool_class_stats *c = &ps[i].cls[k];

			admin__sb_printf(
			    b,
			    "ringlb_pool_buffers{node=\"%d\",class=\"%s\",state=\"free\"} "
			    "%llu\n",
			    ps[i].node, class_name[k], (unsigned long long)(c->count - c->in_use));
			admin__sb_printf(
			    b,
			    "ringlb_pool_buffers{node=\"%d\",class=\"%s\",state=\"in_use\"} "
			    "%llu\n",
			    ps[i].node, class_name[k], (unsigned long long)c->in_use);
		}
#define PCLS(metric, type, help, expr)                                                             \
	family(b, metric, type, help);                                                             \
	for (i = 0; i < n; i++)                                                                    \
		for (k = 0; k < BUF_NCLASS; k++) {                                                 \
			const struct pool_class_stats *c = &ps[i].cls[k];                          \
			admin__sb_printf(b, "%s{node=\"%d\",class=\"%s\"} %llu\n", metric,         \
			                 ps[i].node, class_name[k], (unsigned long long)(expr));   \
		}
	PCLS("ringlb_pool_buffers_max", "gauge", "A class's max_count.", c->max_count)
	PCLS("ringlb_pool_buffers_min", "gauge", "A class's floor (initial_count).", c->min_count)
	PCLS("ringlb_pool_standing_buffers", "gauge",
	     "Buffers handed out that wait on standby in receive rings.", c->standing)
	PCLS("ringlb_pool_gets_total", "counter", "Buffers taken from the pool.", c->gets)
	PCLS("ringlb_pool_puts_total", "counter", "Buffers given back.", c->puts)
	PCLS("ringlb_pool_fails_total", "counter", "Takes the pool or the limits refused.",
	     c->fails)
	PCLS("ringlb_pool_grows_total", "counter", "Times the class grew.", c->grows)
	PCLS("ringlb_pool_shrinks_total", "counter", "Times the class shrank.", c->shrinks)
	PCLS("ringlb_pool_zeroed_bytes_total", "counter", "Bytes cleared before reuse.",
	     c->zeroed_bytes)
	PCLS("ringlb_pool_overflow_buffers", "gauge",
	     "Buffers out now that a class at its max_count allocated outside its pool.",
	     c->over_in_use)
	PCLS("ringlb_pool_overflow_buffers_peak", "gauge",
	     "The most such buffers out at once since start.", c->over_peak)
	PCLS("ringlb_pool_overflow_gets_total", "counter",
	     "Buffers taken past max_count (allocated outside the pool).", c->over_gets)
	PCLS("ringlb_pool_overflow_puts_total", "counter",
	     "Buffers from past max_count given back (freed).", c->over_puts)
	PCLS("ringlb_pool_overflow_fails_total", "counter",
	     "Takes past max_count the memory limits refused.", c->over_fails)
#undef PCLS
	family(b, "ringlb_pool_utilisation_ratio", "gauge",
	       "Share of a class in use, standby buffers excluded.");
	for (i = 0; i < n; i++)
		for (k = 0; k < BUF_NCLASS; k++) {
			const struct pool_class_stats *c = &ps[i].cls[k];

			admin__sb_printf(
			    b, "ringlb_pool_utilisation_ratio{node=\"%d\",class=\"%s\"} %.6f\n",
			    ps[i].node, class_name[k],
			    c->count ? (double)(c->in_use - c->standing) / c->count : 0.0);
		}
}

/* The slabs (core/mem/slab.h), summed over the workers of each node. */
static void prom_slabs(struct sb *b)
{
	struct slab_stats st[32];
	unsigned n = slab_stats_sum(st, 32), i;

#define SLB(metric, type, help, expr)                                                              \
	family(b, metric, type, help);                                                             \
	for (i = 0; i < n; i++)                                                                    \
		admin__sb_printf(b, "%s{slab=\"%s\",node=\"%d\"} %llu\n", metric, st[i].name,      \
		                 st[i].node, (unsigned long long)(expr));
	SLB("ringlb_slab_object_bytes", "gauge", "Bytes per object of a slab.", st[i].size)
	SLB("ringlb_slab_objects", "gauge", "Objects of a slab handed out now.", st[i].in_use)
	SLB("ringlb_slab_objects_peak", "gauge",
	    "The most objects handed out at once (summed over the workers' slabs).", st[i].peak)
	SLB("ringlb_slab_spans", "gauge", "64 KiB spans mapped (and charged) now.", st[i].spans)
	SLB("ringlb_slab_gets_total", "counter", "Objects handed out.", st[i].gets)
	SLB("ringlb_slab_puts_total", "counter", "Objects given back.", st[i].puts)
	SLB("ringlb_slab_fails_total", "counter", "Gets the memory limits refused.", st[i].fails)
	SLB("ringlb_slab_span_maps_total", "counter", "Spans mapped.", st[i].maps)
	SLB("ringlb_slab_span_unmaps_total", "counter", "Spans given back to the OS.", st[i].unmaps)
	SLB("ringlb_slab_zeroed_bytes_total", "counter", "Bytes cleared on return.",
	    st[i].zeroed_bytes)
#undef SLB
}

static void prom_workers(struct sb *b, const struct admin_src *src)
{
	const struct worker_group *g = src->g;
	unsigned i;

#define WFAM(f)                                                                                    \
	if (strcmp(#f, "active")) {                                                                \
		family(b, "ringlb_worker_" #f "_total", "counter", "Worker counter " #f ".");      \
		for (i = 0; i < g->n; i++)                                                         \
			admin__sb_printf(b, "ringlb_worker_" #f "_total{worker=\"%u\"} %llu\n", i, \
			                 (unsigned long long)LOAD(g->w[i].st.f));                  \
	} else {                                                                                   \
		family(b, "ringlb_worker_active_connections", "gauge",                             \
		       "Client connections open on the worker.");                                  \
		for (i = 0; i < g->n; i++)                                                         \
			admin__sb_printf(b,                                                        \
			                 "ringlb_worker_active_connections{worker=\"%u\"} %llu\n", \
			                 i, (unsigned long long)LOAD(g->w[i].st.f));               \
	}
	WORKER_STATS(WFAM)
#undef WFAM
	family(b, "ringlb_worker_info", "gauge", "A worker's CPU and NUMA node (always 1).");
	for (i = 0; i < g->n; i++)
		admin__sb_printf(b, "ringlb_worker_info{worker=\"%u\",cpu=\"%d\",node=\"%d\"} 1\n",
		                 i, g->w[i].cpu, g->w[i].node);
	family(b, "ringlb_tls_failures_total", "counter", "TLS failures, all workers, by reason.");
	for (unsigned r = 1; r < TLS_R_COUNT && r < WORKER_XPRT_REASONS; r++) {
		uint64_t n = 0;

		for (i = 0; i < g->n; i++)
			n += LOAD(g->w[i].xprt_fail[r]);
		admin__sb_printf(b, "ringlb_tls_failures_total{reason=\"%s\"} %llu\n",
		                 tls_reason_name(r), (unsigned long long)n);
	}
}

void admin__metrics(struct sb *b, const struct worker *w)
{
	const struct admin_src *src = admin__src();
	struct sums s;

	collect(&s);
	if (s.oom)
		b->oom = true;
	prom_listeners(b, &s, w->cfg);
	prom_backends(b, &s);
	prom_memory(b, src);
	prom_pools(b, src);
	prom_slabs(b);
	prom_workers(b, src);
	family(b, "ringlb_leak_reports_total", "counter",
	       "Pooled allocations the leak check reported held past leak_threshold.");
	admin__sb_printf(b, "ringlb_leak_reports_total %llu\n",
	                 (unsigned long long)LOAD(admin__count.leak_reports));
	family(b, "ringlb_reloads_total", "counter", "Reloads (SIGHUP, POST /reload), by result.");
	admin__sb_printf(b, "ringlb_reloads_total{result=\"ok\"} %llu\n",
	                 (unsigned long long)LOAD(admin__count.reloads_ok));
	admin__sb_printf(b, "ringlb_reloads_total{result=\"failed\"} %llu\n",
	                 (unsigned long long)LOAD(admin__count.reloads_failed));
	family(b, "ringlb_config_generation", "gauge", "Generation of the running config.");
	admin__sb_printf(b, "ringlb_config_generation %llu\n",
	                 (unsigned long long)w->cfg->generation);
	family(b, "ringlb_admin_requests_total", "counter",
	       "Admin endpoint answers, by status class.");
	for (unsigned k = 1; k < 6; k++)
		admin__sb_printf(b, "ringlb_admin_requests_total{code=\"%s\"} %llu\n", code_name[k],
		                 (unsigned long long)LOAD(admin__count.requests[k]));
	family(b, "ringlb_admin_unauthorized_total", "counter",
	       "Admin requests refused for a missing or wrong token.");
	admin__sb_printf(b, "ringlb_admin_unauthorized_total %llu\n",
	                 (unsigned long long)LOAD(admin__count.unauthorized));
	sums_free(&s);
}

/* ---- JSON ---- */

static void json_hist(struct sb *b, const struct hsum *h)
{
	uint64_t cum = 0;

	admin__sb_printf(b, "{\"buckets\":[");
	for (unsigned i = 0; i < LSTAT_NB; i++) {
		cum += h->n[i];
		admin__sb_printf(b, "%s[%g,%llu]", i ? "," : "", (double)lstat_bounds_us[i] / 1e6,
		                 (unsigned long long)cum);
	}
	cum += h->n[LSTAT_NB];
	admin__sb_printf(b, "],\"count\":%llu,\"sum\":%.6f}", (unsigned long long)cum,
	                 (double)h->sum_us / 1e6);
}

static void json_listeners(struct sb *b, const struct sums *s, const struct config *cfg)
{
	static const char *const modes[] = {"tcp", "http", "static", "admin"};

	admin__sb_printf(b, "\"listeners\":[");
	for (unsigned i = 0; i < s->nl; i++) {
		const struct lsum *l = &s->l[i];
		int m = mode_of(cfg, l->name);

		admin__sb_printf(b, "%s{\"name\":", i ? "," : "");
		admin__sb_json_str(b, l->name);
		admin__sb_printf(
		    b,
		    ",\"mode\":\"%s\",\"accepted\":%llu,\"active\":%llu,\"deferred\":%llu,"
		    "\"rejected\":{",
		    m >= 0 && m < 4 ? modes[m] : "removed", (unsigned long long)l->accepted,
		    (unsigned long long)l->active, (unsigned long long)l->deferred);
		for (unsigned k = 0; k < LSTAT_NREJ; k++)
			admin__sb_printf(b, "%s\"%s\":%llu", k ? "," : "", rej_name[k],
			                 (unsigned long long)l->rejected[k]);
		admin__sb_printf(b, "},\"http\":{");
		for (unsigned k = 1; k < LSTAT_NCODE; k++)
			admin__sb_printf(b, "%s\"%s\":%llu", k > 1 ? "," : "", code_name[k],
			                 (unsigned long long)l->http[k]);
		admin__sb_printf(b, "},\"request_duration\":");
		json_hist(b, &l->dur);
		admin__sb_printf(b, "}");
	}
	admin__sb_printf(b, "]");
}

static const struct bsum *bsum_of(const struct sums *s, const char *pool, const char *addr)
{
	for (unsigned i = 0; i < s->nb; i++)
		if (!strcmp(s->b[i].pool, pool) && !strcmp(s->b[i].addr, addr))
			return &s->b[i];
	return NULL;
}

static void json_backends(struct sb *b, const struct sums *s)
{
	admin__sb_printf(b, "\"backends\":[");
	for (unsigned i = 0; i < s->nbe; i++) {
		const struct besum *e = &s->be[i];
		const struct bsum *bs = bsum_of(s, e->pool, e->addr);

		admin__sb_printf(b, "%s{\"pool\":", i ? "," : "");
		admin__sb_json_str(b, e->pool);
		admin__sb_printf(b, ",\"backend\":");
		admin__sb_json_str(b, e->addr);
		admin__sb_printf(
		    b,
		    ",\"state\":\"%s\",\"health\":\"%s\",\"active\":%llu,\"requests\":%llu,"
		    "\"connect_ok\":%llu,\"connect_failed\":%llu,\"transitions\":%llu",
		    backend_state_name(e->state), e->health_up ? "up" : "down",
		    (unsigned long long)e->active, (unsigned long long)e->picks,
		    (unsigned long long)e->ok, (unsigned long long)e->fail,
		    (unsigned long long)e->transitions);
		if (bs) {
			admin__sb_printf(b, ",\"responses\":{");
			for (unsigned k = 1; k < LSTAT_NCODE; k++)
				admin__sb_printf(b, "%s\"%s\":%llu", k > 1 ? "," : "", code_name[k],
				                 (unsigned long long)bs->http[k]);
			admin__sb_printf(b, "},\"connect_seconds\":");
			json_hist(b, &bs->connect);
		}
		admin__sb_printf(b, "}");
	}
	admin__sb_printf(b, "]");
}

static void json_memory(struct sb *b, const struct admin_src *src)
{
	struct acct_stats a;
	struct pool_stats ps;

	acct_snapshot(src->acct, &a);
	admin__sb_printf(b,
	                 "\"pressure\":{\"level\":%d,\"name\":\"%s\",\"peak\":%d,\"usage\":%.6f,"
	                 "\"entered_warning\":%llu,\"entered_critical\":%llu},\"memory\":{",
	                 (int)a.level, acct_level_name(a.level), (int)a.level_peak, a.usage,
	                 (unsigned long long)a.entered[ACCT_WARNING],
	                 (unsigned long long)a.entered[ACCT_CRITICAL]);
	for (unsigned i = 0; i <= ACCT_NCOMP; i++) {
		const struct acct_comp_stats *c = i < ACCT_NCOMP ? &a.comp[i] : &a.total;

		admin__sb_printf(b,
		                 "%s\"%s\":{\"current\":%llu,\"peak\":%llu,\"limit\":%llu,"
		                 "\"allocs\":%llu,\"releases\":%llu,\"refused\":%llu}",
		                 i ? "," : "", i < ACCT_NCOMP ? comp_name[i] : "total",
		                 (unsigned long long)c->current, (unsigned long long)c->peak,
		                 (unsigned long long)c->limit, (unsigned long long)c->allocs,
		                 (unsigned long long)c->releases, (unsigned long long)c->refused);
	}
	admin__sb_printf(b, "},\"pools\":[");
	for (unsigned i = 0; i < src->npools; i++) {
		pool_stats(src->pools[i], &ps);
		for (unsigned k = 0; k < BUF_NCLASS; k++) {
			const struct pool_class_stats *c = &ps.cls[k];

			admin__sb_printf(
			    b,
			    "%s{\"node\":%d,\"class\":\"%s\",\"count\":%llu,\"in_use\":%llu,"
			    "\"free\":%llu,\"standing\":%llu,\"min\":%llu,\"max\":%llu,\"gets\":%llu,"
			    "\"puts\":%llu,\"fails\":%llu,\"grows\":%llu,\"shrinks\":%llu,"
			    "\"overflow\":%llu,\"overflow_peak\":%llu,\"overflow_gets\":%llu,"
			    "\"overflow_puts\":%llu,\"overflow_fails\":%llu}",
			    i || k ? "," : "", ps.node, class_name[k], (unsigned long long)c->count,
			    (unsigned long long)c->in_use,
			    (unsigned long long)(c->count - c->in_use),
			    (unsigned long long)c->standing, (unsigned long long)c->min_count,
			    (unsigned long long)c->max_count, (unsigned long long)c->gets,
			    (unsigned long long)c->puts, (unsigned long long)c->fails,
			    (unsigned long long)c->grows, (unsigned long long)c->shrinks,
			    (unsigned long long)c->over_in_use, (unsigned long long)c->over_peak,
			    (unsigned long long)c->over_gets, (unsigned long long)c->over_puts,
			    (unsigned long long)c->over_fails);
		}
	}
	admin__sb_printf(b, "],\"slabs\":[");
	{
		struct slab_stats st[32];
		unsigned n = slab_stats_sum(st, 32);

		for (unsigned i = 0; i < n; i++)
			admin__sb_printf(
			    b,
			    "%s{\"name\":\"%s\",\"node\":%d,\"size\":%u,\"in_use\":%llu,"
			    "\"peak\":%llu,\"spans\":%llu,\"gets\":%llu,\"puts\":%llu,"
			    "\"fails\":%llu,\"maps\":%llu,\"unmaps\":%llu}",
			    i ? "," : "", st[i].name, st[i].node, st[i].size,
			    (unsigned long long)st[i].in_use, (unsigned long long)st[i].peak,
			    (unsigned long long)st[i].spans, (unsigned long long)st[i].gets,
			    (unsigned long long)st[i].puts, (unsigned long long)st[i].fails,
			    (unsigned long long)st[i].maps, (unsigned long long)st[i].unmaps);
	}
	admin__sb_printf(b, "]");
}

static void json_workers(struct sb *b, const struct admin_src *src)
{
	const struct worker_group *g = src->g;

	admin__sb_printf(b, "\"workers\":[");
	for (unsigned i = 0; i < g->n; i++) {
		const struct worker *w = &g->w[i];
		const char *sep = "";

		admin__sb_printf(b, "%s{\"id\":%u,\"cpu\":%d,\"node\":%d,", i ? "," : "", i, w->cpu,
		                 w->node);
#define WJSON(f)                                                                                   \
	admin__sb_printf(b, "%s\"" #f "\":%llu", sep, (unsigned long long)LOAD(w->st.f));          \
	sep = ",";
		WORKER_STATS(WJSON)
#undef WJSON
		admin__sb_printf(b, "}");
	}
	admin__sb_printf(b, "]");
}

void admin__stats_json(struct sb *b, const struct worker *w)
{
	const struct admin_src *src = admin__src();
	struct sums s;

	collect(&s);
	if (s.oom)
		b->oom = true;
	admin__sb_printf(b, "{\"generation\":%llu,\"draining\":%s,",
	                 (unsigned long long)w->cfg->generation, w->stopping ? "true" : "false");
	admin__sb_printf(b, "\"reloads\":{\"ok\":%llu,\"failed\":%llu},\"leak_reports\":%llu,",
	                 (unsigned long long)LOAD(admin__count.reloads_ok),
	                 (unsigned long long)LOAD(admin__count.reloads_failed),
	                 (unsigned long long)LOAD(admin__count.leak_reports));
	admin__sb_printf(b, "\"admin\":{\"unauthorized\":%llu},",
	                 (unsigned long long)LOAD(admin__count.unauthorized));
	json_memory(b, src);
	admin__sb_printf(b, ",");
	json_listeners(b, &s, w->cfg);
	admin__sb_printf(b, ",");
	json_backends(b, &s);
	admin__sb_printf(b, ",");
	json_workers(b, src);
	admin__sb_printf(b, "}\n");
	sums_free(&s);
}
