/* /stats: one scrape's figures (sums.c), the accountant, the pools and
 * the workers as one JSON object. */
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
		int m = admin__mode_of(cfg, l->name);

		admin__sb_printf(b, "%s{\"name\":", i ? "," : "");
		admin__sb_json_str(b, l->name);
		admin__sb_printf(
		    b,
		    ",\"mode\":\"%s\",\"accepted\":%llu,\"active\":%llu,\"deferred\":%llu,"
		    "\"rejected\":{",
		    m >= 0 && m < 4 ? modes[m] : "removed", (unsigned long long)l->accepted,
		    (unsigned long long)l->active, (unsigned long long)l->deferred);
		for (unsigned k = 0; k < LSTAT_NREJ; k++)
			admin__sb_printf(b, "%s\"%s\":%llu", k ? "," : "", admin__rej_name[k],
			                 (unsigned long long)l->rejected[k]);
		admin__sb_printf(b, "},\"http\":{");
		for (unsigned k = 1; k < LSTAT_NCODE; k++)
			admin__sb_printf(b, "%s\"%s\":%llu", k > 1 ? "," : "", admin__code_name[k],
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
				admin__sb_printf(b, "%s\"%s\":%llu", k > 1 ? "," : "",
				                 admin__code_name[k],
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
		                 i ? "," : "", i < ACCT_NCOMP ? admin__comp_name[i] : "total",
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
			    i || k ? "," : "", ps.node, admin__class_name[k],
			    (unsigned long long)c->count, (unsigned long long)c->in_use,
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
	admin__sb_printf(b, "%s\"" #f "\":%llu", sep, (unsigned long long)ADMIN_LOAD(w->st.f));    \
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

	admin__collect(&s);
	if (s.oom)
		b->oom = true;
	admin__sb_printf(b, "{\"generation\":%llu,\"draining\":%s,",
	                 (unsigned long long)w->cfg->generation, w->stopping ? "true" : "false");
	admin__sb_printf(b, "\"reloads\":{\"ok\":%llu,\"failed\":%llu},\"leak_reports\":%llu,",
	                 (unsigned long long)ADMIN_LOAD(admin__count.reloads_ok),
	                 (unsigned long long)ADMIN_LOAD(admin__count.reloads_failed),
	                 (unsigned long long)ADMIN_LOAD(admin__count.leak_reports));
	admin__sb_printf(b, "\"admin\":{\"unauthorized\":%llu},",
	                 (unsigned long long)ADMIN_LOAD(admin__count.unauthorized));
	json_memory(b, src);
	admin__sb_printf(b, ",");
	json_listeners(b, &s, w->cfg);
	admin__sb_printf(b, ",");
	json_backends(b, &s);
	admin__sb_printf(b, ",");
	json_workers(b, src);
	admin__sb_printf(b, "}\n");
	admin__sums_free(&s);
}
