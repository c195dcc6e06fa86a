/* /metrics: the Prometheus text format 0.0.4 of one scrape's figures
 * (sums.c), the accountant, the pools and the workers. */
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
	    s->l[i].name, admin__rej_name[k], (unsigned long long)s->l[i].rejected[k]);
	family(b, "ringlb_http_requests_total", "counter",
	       "HTTP answers sent to clients, by listener and status class.");
	EACH_L
	{
		int m = admin__mode_of(cfg, s->l[i].name);

		for (k = 1; k < LSTAT_NCODE; k++)
			if (m == LMODE_HTTP || s->l[i].http[k])
				admin__sb_printf(
				    b,
				    "ringlb_http_requests_total{listener=\"%s\",code=\"%s\"} %llu\n",
				    s->l[i].name, admin__code_name[k],
				    (unsigned long long)s->l[i].http[k]);
	}
	family(b, "ringlb_request_duration_seconds", "histogram",
	       "HTTP requests from the first byte of the head to the end of the answer, by "
	       "listener.");
	EACH_L
	{
		if (admin__mode_of(cfg, s->l[i].name) != LMODE_HTTP && !admin__hcount(&s->l[i].dur))
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
				    s->b[i].pool, s->b[i].addr, admin__code_name[k],
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
		                 i < ACCT_NCOMP ? admin__comp_name[i] : "total",                   \
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
			    ps[i].node, admin__class_name[k],
			    (unsigned long long)(c->count - c->in_use));
			admin__sb_printf(
			    b,
			    "ringlb_pool_buffers{node=\"%d\",class=\"%s\",state=\"in_use\"} "
			    "%llu\n",
			    ps[i].node, admin__class_name[k], (unsigned long long)c->in_use);
		}
#define PCLS(metric, type, help, expr)                                                             \
	family(b, metric, type, help);                                                             \
	for (i = 0; i < n; i++)                                                                    \
		for (k = 0; k < BUF_NCLASS; k++) {                                                 \
			const struct pool_class_stats *c = &ps[i].cls[k];                          \
			admin__sb_printf(b, "%s{node=\"%d\",class=\"%s\"} %llu\n", metric,         \
			                 ps[i].node, admin__class_name[k],                         \
			                 (unsigned long long)(expr));                              \
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
			    ps[i].node, admin__class_name[k],
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
			                 (unsigned long long)ADMIN_LOAD(g->w[i].st.f));            \
	} else {                                                                                   \
		family(b, "ringlb_worker_active_connections", "gauge",                             \
		       "Client connections open on the worker.");                                  \
		for (i = 0; i < g->n; i++)                                                         \
			admin__sb_printf(b,                                                        \
			                 "ringlb_worker_active_connections{worker=\"%u\"} %llu\n", \
			                 i, (unsigned long long)ADMIN_LOAD(g->w[i].st.f));         \
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
			n += ADMIN_LOAD(g->w[i].xprt_fail[r]);
		admin__sb_printf(b, "ringlb_tls_failures_total{reason=\"%s\"} %llu\n",
		                 tls_reason_name(r), (unsigned long long)n);
	}
}

void admin__metrics(struct sb *b, const struct worker *w)
{
	const struct admin_src *src = admin__src();
	struct sums s;

	admin__collect(&s);
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
	                 (unsigned long long)ADMIN_LOAD(admin__count.leak_reports));
	family(b, "ringlb_reloads_total", "counter", "Reloads (SIGHUP, POST /reload), by result.");
	admin__sb_printf(b, "ringlb_reloads_total{result=\"ok\"} %llu\n",
	                 (unsigned long long)ADMIN_LOAD(admin__count.reloads_ok));
	admin__sb_printf(b, "ringlb_reloads_total{result=\"failed\"} %llu\n",
	                 (unsigned long long)ADMIN_LOAD(admin__count.reloads_failed));
	family(b, "ringlb_config_generation", "gauge", "Generation of the running config.");
	admin__sb_printf(b, "ringlb_config_generation %llu\n",
	                 (unsigned long long)w->cfg->generation);
	family(b, "ringlb_admin_requests_total", "counter",
	       "Admin endpoint answers, by status class.");
	for (unsigned k = 1; k < 6; k++)
		admin__sb_printf(b, "ringlb_admin_requests_total{code=\"%s\"} %llu\n",
		                 admin__code_name[k],
		                 (unsigned long long)ADMIN_LOAD(admin__count.requests[k]));
	family(b, "ringlb_admin_unauthorized_total", "counter",
	       "Admin requests refused for a missing or wrong token.");
	admin__sb_printf(b, "ringlb_admin_unauthorized_total %llu\n",
	                 (unsigned long long)ADMIN_LOAD(admin__count.unauthorized));
	admin__sums_free(&s);
}
