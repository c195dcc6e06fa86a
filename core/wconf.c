/* A worker's config generations: the listeners and balancing cursors of
 * each snapshot it still uses, and the switch to a newly published one.
 *
 * On a switch, every listener of the new snapshot gets a new struct
 * wlistener. One whose name, bind address and mode are unchanged takes the
 * old socket over (no connection in the kernel backlog is lost); the old
 * wlistener stops accepting but lives on, with its snapshot, until its last
 * connection closes. Listeners that are gone stop accepting and drain for
 * their `drain` time. So a connection finishes on the snapshot it started
 * on, and every connection accepted after the switch uses the new one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lb.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/worker-int.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define WCONF_MAX_SLOTS               UINT16_MAX

static struct wgen *wgen_new(struct worker *w, struct config *cfg)
{
	struct wgen *g = calloc(1, sizeof(*g));
	unsigned i, nbe;

	if (!g)
		return NULL;
	g->cur = calloc(cfg->npools ? cfg->npools : 1, sizeof(*g->cur));
	g->nidle_at = calloc(cfg->npools ? cfg->npools : 1, sizeof(*g->nidle_at));
	for (i = 0, nbe = 0; g->nidle_at && i < cfg->npools; i++) {
		g->nidle_at[i] = nbe;
		nbe += cfg->pools[i].nbackends;
	}
	g->nidle = g->nidle_at ? calloc(nbe ? nbe : 1, sizeof(*g->nidle)) : NULL;
	g->idle_head = g->nidle ? malloc((nbe ? nbe : 1) * sizeof(*g->idle_head)) : NULL;
	for (i = 0; g->idle_head && i < nbe; i++)
		g->idle_head[i] = CONN_NONE;
	if (!g->cur || !g->idle_head) {
		free(g->nidle);
		free(g->nidle_at);
		free(g->cur);
		free(g);
		return NULL;
	}
	for (i = 0; i < cfg->npools; i++) {
		const struct lb *lb = snapshot_lb(cfg, i);

		if (lb_cursor_init(&g->cur[i], lb, w->rng + cfg->generation + i) < 0)
			break;
		g->ncur++;
	}
	g->cfg = cfg;
	g->refs = 1;
	snapshot_get(cfg);
	if (g->ncur < cfg->npools) {
		wconf_gen_put(w, g);
		return NULL;
	}
	return g;
}

void wconf_gen_put(struct worker *w, struct wgen *g)
{
	unsigned i;

	if (--g->refs)
		return;
	for (i = 0; i < g->ncur; i++)
		lb_cursor_deinit(&g->cur[i]);
	free(g->cur);
	free(g->nidle);
	free(g->idle_head);
	free(g->nidle_at);
	snapshot_put(g->cfg);
	free(g);
}

static struct wlistener *ls_new(struct worker *w, struct wgen *g, const struct cfg_listener *l,
                                unsigned nworkers)
{
	struct wlistener *ls;
	unsigned i;

	for (i = 0; i < w->nls && w->ls[i]; i++)
		;
	if (i == w->nls) {
		unsigned n = w->nls ? w->nls * 2 : 8;
		struct wlistener **grown;

		if (n > WCONF_MAX_SLOTS)
			return NULL;
		grown = realloc(w->ls, n * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + w->nls, 0, (n - w->nls) * sizeof(*grown));
		w->ls = grown;
		w->nls = n;
	}
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return NULL;
	ls->fd = -1;
	ls->idx = i;
	ls->successor = UINT16_MAX;
	ls->cfg = l;
	ls->gen = g;
	ls->max_active = (l->max_connections + nworkers - 1) / nworkers;
	g->refs++;
	w->ls[i] = ls;
	return ls;
}

static void ls_free(struct worker *w, struct wlistener *ls)
{
	unsigned i;

	/* An older listener whose accept has not ended yet hands what it
	 * takes to <ls>'s successor, not to a free or reused slot. */
	for (i = 0; i < w->nls; i++)
		if (w->ls[i] && w->ls[i]->successor == ls->idx)
			w->ls[i]->successor = ls->successor;
	timer_cancel(w->tw, &ls->defer_tm);
	if (ls->fd >= 0)
		close(ls->fd);
	static_unprepare(ls);
	w->ls[ls->idx] = NULL;
	wconf_gen_put(w, ls->gen);
	free(ls);
}

void wconf_ls_done(struct worker *w, struct wlistener *ls)
{
	if (ls->retired && !ls->conns && !ls->armed && ls->fd < 0)
		ls_free(w, ls);
}

/* A removed listener's drain time is over: close what is left of it. */
static void drain_fire(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct wlistener *ls = container_of(t, struct wlistener, defer_tm);
	uint32_t i;

	for (i = 0; i < w->ct.fresh; i++) {
		struct conn *c = &w->ct.c[i];

		if (c->kind != CONN_K_FREE && c->listener == ls->idx)
			worker__abort(w, c);
	}
}

static void retire(struct worker *w, struct wlistener *ls)
{
	ls->retired = true;
	listen_stop(w, ls);
	http_retire(w, ls);
	if (ls->conns) {
		ls->defer_tm.fn = drain_fire;
		timer_arm(w->tw, &ls->defer_tm, w->now + ls->cfg->timeouts.drain);
	}
}

static struct wlistener *find_same(struct worker *w, const struct cfg_listener *l)
{
	unsigned i;

	for (i = 0; i < w->nls; i++) {
		struct wlistener *ls = w->ls[i];

		if (ls && ls->gen == w->gen && !ls->retired && ls->fd >= 0 &&
		    ls->cfg->mode == l->mode && !strcmp(ls->cfg->name, l->name) &&
		    ls->cfg->bind.len == l->bind.len &&
		    !memcmp(&ls->cfg->bind.ss, &l->bind.ss, l->bind.len))
			return ls;
	}
	return NULL;
}

/* Makes the listeners of generation <g>, taking sockets over from the
 * current generation where possible. Returns 0, or -errno at start-up
 * (a reload logs and goes on without the listener that failed). */
static int open_listeners(struct worker *w, struct wgen *g, unsigned nworkers, bool starting)
{
	unsigned i;
	int ret;

	for (i = 0; i < g->cfg->nlisteners; i++) {
		const struct cfg_listener *l = &g->cfg->listeners[i];
		struct wlistener *old = starting ? NULL : find_same(w, l);
		struct wlistener *ls = ls_new(w, g, l, nworkers);

		if (!ls)
			return -ENOMEM;
		if (old) {
			ls->fd = old->fd;
			old->fd = -1;
			old->retired = true;
			old->successor = ls->idx;
			listen_cancel(w, old);
			http_retire(w, old);
			ret = listen_adopt(w, ls);
		} else {
			ret = listen_open(w, ls);
		}
		if (ret < 0) {
			if (starting)
				return ret;
			log_err("reload: %s", w->start_msg);
			ls->retired = true;
			ls_free(w, ls);
			continue;
		}
		if (old)
			wconf_ls_done(w, old);
	}
	return 0;
}

static void arm_generation(struct worker *w, struct wgen *g)
{
	unsigned i;

	for (i = 0; i < w->nls; i++)
		if (w->ls[i] && w->ls[i]->gen == g)
			listen_arm(w, w->ls[i]);
}

int wconf_start(struct worker *w, struct config *cfg, unsigned nworkers)
{
	int ret;

	w->gen = wgen_new(w, cfg);
	if (!w->gen)
		return -ENOMEM;
	w->cfg = cfg;
	ret = open_listeners(w, w->gen, nworkers, true);
	if (ret < 0)
		return ret;
	arm_generation(w, w->gen);
	atomic_store(&w->seen_gen, cfg->generation);
	return 0;
}

void wconf_switch(struct worker *w, struct config *cfg)
{
	struct wgen *old = w->gen, *g;
	unsigned i;

	if (w->stopping)
		return;
	g = wgen_new(w, cfg);
	if (!g) {
		log_err("worker %u: reload generation=%llu: %s", w->id,
		        (unsigned long long)cfg->generation, strerror(ENOMEM));
		return;
	}
	open_listeners(w, g, w->group->n, false);
	for (i = 0; i < w->nls; i++) {
		struct wlistener *ls = w->ls[i];

		if (ls && ls->gen == old && !ls->retired) {
			retire(w, ls);
			wconf_ls_done(w, ls);
		}
	}
	w->gen = g;
	w->cfg = cfg;
	arm_generation(w, g);
	wconf_gen_put(w, old);
	atomic_store(&w->seen_gen, cfg->generation);
}

void wconf_stop(struct worker *w)
{
	unsigned i;

	for (i = 0; i < w->nls; i++)
		if (w->ls[i])
			ls_free(w, w->ls[i]);
	free(w->ls);
	w->ls = NULL;
	w->nls = 0;
	if (w->gen)
		wconf_gen_put(w, w->gen);
	w->gen = NULL;
}
