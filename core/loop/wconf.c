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

#include "core/loop/gen.h"
#include "core/loop/listen.h"
#include "core/base/log.h"
#include "core/base/macros.h"
#include "core/loop/ops.h"
#include "core/base/timer.h"
#include "core/loop/upstream.h"
#include "core/loop/wconf.h"

/* A removed listener's drain time is over: close what is left of it. */
static void drain_fire(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct wlistener *ls = container_of(t, struct wlistener, defer_tm);
	uint32_t i;

	for (i = 0; i < w->ct.fresh; i++) {
		struct conn *c = &w->ct.c[i];

		if (c->proto != CONN_P_FREE && c->listener == ls->idx)
			proto_abort(w, c);
	}
}

/* <ls> no longer takes new connections (a reload replaced or removed it):
 * its idle upstreams could only serve connections it already has, which
 * the successor does not share, so they close now rather than fill the
 * worker's idle pool until their timeout. */
static void stop_taking(struct worker *w, struct wlistener *ls)
{
	const struct proto_ops *p = proto_of_ls(ls);

	upstream_idle_retire(w, ls);
	if (p->retire)
		p->retire(w, ls);
}

static void retire(struct worker *w, struct wlistener *ls)
{
	ls->retired = true;
	listen_stop(w, ls);
	stop_taking(w, ls);
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

static int open_one(struct worker *w, struct wgen *g, const struct cfg_listener *l,
                    unsigned nworkers, bool starting)
{
	struct wlistener *old = starting ? NULL : find_same(w, l);
	struct wlistener *ls = listen_new(w, g, l, nworkers);
	int ret;

	if (!ls)
		return -ENOMEM;
	if (old) {
		ls->fd = old->fd;
		old->fd = -1;
		old->retired = true;
		old->successor = ls->idx;
		listen_cancel(w, old);
		stop_taking(w, old);
		ret = listen_adopt(w, ls);
	} else {
		ret = listen_open(w, ls);
	}
	if (ret < 0) {
		if (starting)
			return ret;
		log_err("reload: %s", w->start_msg);
		ls->retired = true;
		listen_free(w, ls);
		return 0;
	}
	if (old)
		listen_done(w, old);
	return 0;
}

/* Makes the listeners of generation <g>, taking sockets over from the
 * current generation where possible, and on worker 0 the admin endpoint's
 * (one socket: it is rare traffic, and one worker answering it keeps its
 * reload waits and counters in one place). Returns 0, or -errno at
 * start-up (a reload logs and goes on without the listener that failed). */
static int open_listeners(struct worker *w, struct wgen *g, unsigned nworkers, bool starting)
{
	unsigned i;
	int ret;

	for (i = 0; i < g->cfg->nlisteners; i++) {
		ret = open_one(w, g, &g->cfg->listeners[i], nworkers, starting);
		if (ret < 0)
			return ret;
	}
	if (w->id == 0 && g->cfg->admin_enabled && ops_mode_proto(LMODE_ADMIN))
		return open_one(w, g, &g->cfg->admin, 1, starting);
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

	w->gen = gen_new(w, cfg);
	if (!w->gen)
		return -ENOMEM;
	w->cfg = cfg;
	ret = open_listeners(w, w->gen, nworkers, true);
	if (ret < 0)
		return ret;
	if (!w->group || !w->group->hold)
		wconf_arm(w);
	atomic_store(&w->seen_gen, cfg->generation);
	return 0;
}

void wconf_arm(struct worker *w)
{
	if (w->stopping || atomic_load(&w->accepting))
		return;
	arm_generation(w, w->gen);
	atomic_store(&w->accepting, true);
}

void wconf_switch(struct worker *w, struct config *cfg)
{
	struct wgen *old = w->gen, *g;
	unsigned i;

	if (w->stopping)
		return;
	g = gen_new(w, cfg);
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
			listen_done(w, ls);
		}
	}
	w->gen = g;
	w->cfg = cfg;
	arm_generation(w, g);
	gen_put(w, old);
	atomic_store(&w->seen_gen, cfg->generation);
}

void wconf_stop(struct worker *w)
{
	unsigned i;

	for (i = 0; i < w->nls; i++)
		if (w->ls[i])
			listen_free(w, w->ls[i]);
	free(w->ls);
	w->ls = NULL;
	w->nls = 0;
	if (w->gen)
		gen_put(w, w->gen);
	w->gen = NULL;
}
