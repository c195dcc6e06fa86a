/* Stats snapshot and exit summary. */
#include <stdio.h>
#include <string.h>

#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/base/fault.h"
#include "core/base/log.h"
#include "core/lb/snapshot.h"
#include "core/mem/slab.h"
#include "core/stats.h"
#include "tls/tls.h"

static const char *const comp_name[ACCT_NCOMP] = {"connection", "buffer", "ssl", "cache"};
static const char *const class_name[BUF_NCLASS] = {"4KB", "16KB", "64KB", "256KB"};

size_t stats_format_worker(const struct worker_stats *st, char *buf, size_t len)
{
	size_t n = 0;

#define STATS_FMT(f)                                                                               \
	if (n < len)                                                                               \
		n += snprintf(                                                                     \
		    buf + n, len - n, "%s%s=%llu", n ? " " : "", #f,                               \
		    (unsigned long long)atomic_load_explicit(&st->f, memory_order_relaxed));
	WORKER_STATS(STATS_FMT)
#undef STATS_FMT
	return n < len ? n : len - 1;
}

static void log_memory(const struct stats_src *s)
{
	struct acct_stats a;
	unsigned i;

	acct_snapshot(s->acct, &a);
	log_info(
	    "stats memory level=%s usage=%.3f current=%llu peak=%llu limit=%llu level_peak=%s entered_warning=%llu entered_critical=%llu",
	    acct_level_name(a.level), a.usage, (unsigned long long)a.total.current,
	    (unsigned long long)a.total.peak, (unsigned long long)a.total.limit,
	    acct_level_name(a.level_peak), (unsigned long long)a.entered[ACCT_WARNING],
	    (unsigned long long)a.entered[ACCT_CRITICAL]);
	for (i = 0; i < ACCT_NCOMP; i++) {
		const struct acct_comp_stats *c = &a.comp[i];

		log_info(
		    "stats memory component=%s current=%llu peak=%llu limit=%llu allocs=%llu releases=%llu refused=%llu",
		    comp_name[i], (unsigned long long)c->current, (unsigned long long)c->peak,
		    (unsigned long long)c->limit, (unsigned long long)c->allocs,
		    (unsigned long long)c->releases, (unsigned long long)c->refused);
	}
	for (i = 0; i < a.nnodes && i < ACCT_MAX_NODES; i++)
		log_info("stats memory node=%u current=%llu", i,
		         (unsigned long long)a.node_current[i]);
}

static void log_pools(const struct stats_src *s)
{
	unsigned i, k;

	for (i = 0; i < s->npools; i++) {
		struct pool_stats ps;

		pool_stats(s->pools[i], &ps);
		for (k = 0; k < BUF_NCLASS; k++) {
			const struct pool_class_stats *c = &ps.cls[k];

			log_info(
			    "stats pool node=%d class=%s count=%llu in_use=%llu standing=%llu util=%.3f min=%llu max=%llu gets=%llu puts=%llu fails=%llu grows=%llu shrinks=%llu zeroed=%llu overflow=%llu overflow_peak=%llu overflow_gets=%llu overflow_puts=%llu overflow_fails=%llu",
			    ps.node, class_name[k], (unsigned long long)c->count,
			    (unsigned long long)c->in_use, (unsigned long long)c->standing,
			    c->count ? (double)(c->in_use - c->standing) / c->count : 0.0,
			    (unsigned long long)c->min_count, (unsigned long long)c->max_count,
			    (unsigned long long)c->gets, (unsigned long long)c->puts,
			    (unsigned long long)c->fails, (unsigned long long)c->grows,
			    (unsigned long long)c->shrinks, (unsigned long long)c->zeroed_bytes,
			    (unsigned long long)c->over_in_use, (unsigned long long)c->over_peak,
			    (unsigned long long)c->over_gets, (unsigned long long)c->over_puts,
			    (unsigned long long)c->over_fails);
		}
	}
}

/* The slabs, each kind summed over the workers of a node. */
static void log_slabs(void)
{
	struct slab_stats st[32];
	unsigned n = slab_stats_sum(st, 32);

	for (unsigned i = 0; i < n; i++)
		log_info(
		    "stats slab name=%s node=%d size=%u in_use=%llu peak=%llu spans=%llu bytes=%llu gets=%llu puts=%llu fails=%llu maps=%llu unmaps=%llu zeroed=%llu",
		    st[i].name, st[i].node, st[i].size, (unsigned long long)st[i].in_use,
		    (unsigned long long)st[i].peak, (unsigned long long)st[i].spans,
		    (unsigned long long)st[i].spans * SLAB_SPAN, (unsigned long long)st[i].gets,
		    (unsigned long long)st[i].puts, (unsigned long long)st[i].fails,
		    (unsigned long long)st[i].maps, (unsigned long long)st[i].unmaps,
		    (unsigned long long)st[i].zeroed_bytes);
}

static void log_backends(const struct stats_src *s)
{
	unsigned i, b;

	for (i = 0; i < s->cfg->npools; i++) {
		const struct cfg_pool *p = &s->cfg->pools[i];
		const struct lb *lb = snapshot_lb(s->cfg, i);

		for (b = 0; b < p->nbackends && lb; b++) {
			struct backend *be = lb_backend(lb, b);

			log_info(
			    "stats backend pool=%s addr=%s picks=%llu active=%u connect_ok=%llu connect_fail=%llu state=%s transitions=%llu checks_ok=%llu checks_fail=%llu passive_downs=%llu",
			    p->name, p->backends[b].address.text,
			    (unsigned long long)atomic_load(&be->picks), atomic_load(&be->active),
			    (unsigned long long)atomic_load(&be->connect_ok),
			    (unsigned long long)atomic_load(&be->connect_fail),
			    backend_state_name(backend_state(be)),
			    (unsigned long long)atomic_load(&be->transitions),
			    (unsigned long long)atomic_load(&be->checks_ok),
			    (unsigned long long)atomic_load(&be->checks_fail),
			    (unsigned long long)atomic_load(&be->passive_downs));
		}
	}
}

/* TLS failures by reason, all workers, those that happened; each SNI
 * certificate store of the running snapshot; the session ticket key ring
 * (one for the process), once it has a key. */
static void log_tls(const struct stats_src *s)
{
	struct tls_ticket_stats tk;
	struct tls_pool_stats ps;

	tls_session_pool_stats(&ps);
	if (ps.pooled)
		log_info("stats tls sessions pooled=%llu reused=%llu idle=%llu",
		         (unsigned long long)ps.pooled, (unsigned long long)ps.reused,
		         (unsigned long long)ps.idle);
	tls_ticket_stats(&tk);
	if (tk.generation)
		log_info(
		    "stats tls tickets key_generation=%llu issued=%llu accepted=%llu renewed=%llu refused=%llu key_failures=%llu",
		    (unsigned long long)tk.generation, (unsigned long long)tk.issued,
		    (unsigned long long)tk.accepted, (unsigned long long)tk.renewed,
		    (unsigned long long)tk.refused, (unsigned long long)tk.failures);
	for (unsigned i = 0; i < s->cfg->nlisteners; i++) {
		struct tls_sni *sni = snapshot_tls_sni(s->cfg, i);
		struct tls_sni_stats st;

		if (!sni)
			continue;
		tls_sni_stats(sni, &st);
		log_info(
		    "stats tls listener=%s sni_entries=%u sni_names=%u sni_loaded=%u sni_bytes=%llu sni_hits=%llu sni_misses=%llu sni_evictions=%llu sni_unknown=%llu",
		    s->cfg->listeners[i].name, st.entries, st.names, st.loaded,
		    (unsigned long long)st.bytes, (unsigned long long)st.hits,
		    (unsigned long long)st.misses, (unsigned long long)st.evictions,
		    (unsigned long long)st.unknown);
	}
	for (unsigned r = 0; r < TLS_R_COUNT && r < WORKER_XPRT_REASONS; r++) {
		uint64_t n = 0;

		for (unsigned i = 0; i < s->g->n; i++)
			n += atomic_load_explicit(&s->g->w[i].xprt_fail[r], memory_order_relaxed);
		if (n)
			log_info("stats tls reason=%s failures=%llu", tls_reason_name(r),
			         (unsigned long long)n);
	}
}

void stats_log_snapshot(const struct stats_src *s)
{
	struct worker_stats sum;
	char line[2048];
	unsigned i;

	log_memory(s);
	log_pools(s);
	log_slabs();
	for (i = 0; i < s->g->n; i++) {
		const struct worker *w = &s->g->w[i];

		stats_format_worker(&w->st, line, sizeof(line));
		log_info("stats worker=%u cpu=%d node=%d %s", w->id, w->cpu, w->node, line);
	}
	log_backends(s);
	log_tls(s);
	worker_group_stats(s->g, &sum);
	stats_format_worker(&sum, line, sizeof(line));
	log_info("stats total %s", line);
	fault_log("stats fault"); /* fault builds with RINGLB_FAULT set only */
	log_info("stats end");
}

void stats_log_summary(const struct stats_src *s)
{
	struct tls_ticket_stats tk;
	struct worker_stats sum;
	struct acct_stats a;
	char line[2048];

	worker_group_stats(s->g, &sum);
	stats_format_worker(&sum, line, sizeof(line));
	acct_snapshot(s->acct, &a);
	tls_ticket_stats(&tk);
	log_info(
	    "summary %s tls_tickets_issued=%llu tls_tickets_accepted=%llu tls_tickets_renewed=%llu tls_tickets_refused=%llu memory_peak=%llu memory_level_peak=%s reloads_ok=%llu reloads_failed=%llu",
	    line, (unsigned long long)tk.issued, (unsigned long long)tk.accepted,
	    (unsigned long long)tk.renewed, (unsigned long long)tk.refused,
	    (unsigned long long)a.total.peak, acct_level_name(a.level_peak),
	    (unsigned long long)s->reloads_ok, (unsigned long long)s->reloads_failed);
}
