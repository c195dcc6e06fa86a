/* Upstream connections (upstream.h): pick, open, connect, idle pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"
#include "core/base/log.h"
#include "core/base/macros.h"
#include "core/loop/lstat.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"
#include "core/loop/upstream.h"

#define UPSTREAM_IDLE_MAX 4096 /* idle upstream connections per worker, all backends */

/* This worker's idle upstreams of one generation: per pool and backend, at
 * [at[pool] + backend], how many (pools[].keepalive.max_idle) and the list
 * of them (conn slots linked by idle_next). */
struct upstream_idle {
	uint32_t *n, *head, *at;
	struct bstat_w **st; /* this worker's counters of each backend (lstat.h) */
};

static struct cfg_pool *pool_of(struct wlistener *ls, int pi)
{
	return &ls->gen->cfg->pools[pi];
}

/* The balancer of pool <pi> in <ls>'s snapshot. */
static struct lb *lb_of(struct wlistener *ls, int pi)
{
	return snapshot_lb(ls->gen->cfg, (unsigned)pi);
}

int upstream_pick(struct worker *w, struct wlistener *ls, int pi, struct conn *c, uint64_t key)
{
	struct cfg_pool *pool = pool_of(ls, pi);
	unsigned max = pool->nbackends < LB_MAX_TRIES ? pool->nbackends : LB_MAX_TRIES;
	int tried[LB_MAX_TRIES], b;

	if (c->ntried >= max)
		return -1;
	for (unsigned i = 0; i < c->ntried; i++)
		tried[i] = c->tried[i];
	b = lb_pick(lb_of(ls, pi), &ls->gen->cur[pi], key, tried, c->ntried);
	if (b >= 0)
		c->tried[c->ntried++] = (int8_t)b;
	return b;
}

bool upstream_hashed(const struct wlistener *ls, int pi)
{
	return ls->gen->cfg->pools[pi].algorithm == CFG_ALGO_MAGLEV;
}

static void start_connect(struct worker *w, struct wlistener *ls, struct conn *u,
                          const struct cfg_backend *be)
{
	struct io_uring_sqe *sqe;

	ring_reserve(w, 2); /* connect and its linked timeout together */
	sqe = ring_sqe(w);
	io_uring_prep_connect(sqe, u->fd, (const struct sockaddr *)&be->address.ss,
	                      be->address.len);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ring_ud(w, u, OP_CONNECT));
	sqe = ring_sqe(w);
	io_uring_prep_link_timeout(sqe, &ls->connect_ts, 0);
	io_uring_sqe_set_data64(sqe, ring_ud(w, u, OP_LINK_TIMEOUT));
	u->inflight += 2;
}

/* An upstream's own timer runs only while it is idle: its keep-alive time
 * in the pool (the client's timer covers it otherwise). */
static void upstream_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *u = container_of(t, struct conn, tm);

	if (!(u->flags & CONN_F_IDLE))
		return;
	if (upstream_idle_expired(w, u)) {
		WSTAT_INC(w, idle_timeouts);
		ring_close(w, u);
		return;
	}
	timer_arm(w->tw, t, u->last_ms + upstream_keepalive(w, u));
}

struct conn *upstream_open(struct worker *w, struct wlistener *ls, int pi, struct conn *c, int b,
                           uint8_t proto, int *err)
{
	struct cfg_pool *pool = pool_of(ls, pi);
	const struct cfg_backend *be = &pool->backends[b];
	int fd = socket(be->address.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct conn *u;

	if (fd < 0) {
		WSTAT_INC(w, connect_fail);
		*err = -EAGAIN;
		return NULL;
	}
	u = conn_get(&w->ct);
	if (!u) {
		close(fd);
		WSTAT_INC(w, table_full);
		*err = -ENOSPC;
		return NULL;
	}
	ring_sockopts(w, fd);
	u->proto = proto;
	u->xprt = pool->tls.enabled ? ops_tls_xprt() : ops_default_xprt();
	u->fd = fd;
	u->backend = (int16_t)b;
	u->pool = (int16_t)pi;
	u->listener = c->listener;
	u->last_ms = w->now;
	u->flags |= CONN_F_LBACTIVE;
	timer_init(&u->tm, upstream_timer);
	ls->conns++;
	u->peer = ring_slot(w, c);
	c->peer = ring_slot(w, u);
	u->pword = (uint32_t)clock_us(); /* until connected: its start (connect histogram) */
	lb_conn_start(lb_of(ls, pi), b);
	/* The PROXY header is the first thing queued, so it is the first
	 * thing sent (before a TLS ClientHello); sent once connected. Without
	 * memory for it the pair is closed (u's release closes c). */
	if (pool->proxy_protocol != CFG_PP_SEND_NONE &&
	    proxyp_upstream(w, c, u, pool->proxy_protocol == CFG_PP_SEND_V1 ? 1 : 2) < 0) {
		ring_close(w, u);
		return u;
	}
	start_connect(w, ls, u, be);
	return u;
}

void upstream_passive_fail(struct worker *w, struct conn *u)
{
	struct wlistener *ls = ring_listener(w, u);
	const struct cfg_passive *p = &pool_of(ls, u->pool)->health.passive;

	if (p->enabled)
		backend_passive_fail(lb_backend(lb_of(ls, u->pool), u->backend), w->now,
		                     p->failures, p->window, p->down_time);
}

void upstream_passive_ok(struct worker *w, struct conn *u)
{
	struct wlistener *ls = ring_listener(w, u);

	if (pool_of(ls, u->pool)->health.passive.enabled)
		backend_passive_ok(lb_backend(lb_of(ls, u->pool), u->backend));
}

bool upstream_connected(struct worker *w, struct conn *u, int res)
{
	struct wlistener *ls = ring_listener(w, u);
	struct cfg_pool *pool = pool_of(ls, u->pool);
	struct lb *lb = lb_of(ls, u->pool);
	static __thread struct log_ratelimit rl;

	if (res == 0) {
		struct upstream_idle *id = ring_listener(w, u)->gen->idle;

		lstat_hist_add(&id->st[id->at[u->pool] + (uint32_t)u->backend]->connect,
		               (uint32_t)clock_us() - u->pword);
		u->pword = 0;
		WSTAT_INC(w, connect_ok);
		lb_connect_ok(lb, u->backend);
		u->flags |= CONN_F_CONNECTED;
		if (ls->cfg->mode == LMODE_TCP) /* http: the answer's status decides */
			upstream_passive_ok(w, u);
		if (u->flags & CONN_F_PROXIED)
			ring_send(w, u); /* the PROXY header, even if the client says nothing */
		return true;
	}
	WSTAT_INC(w, connect_fail);
	if (res == -ECANCELED)
		WSTAT_INC(w, connect_timeout);
	lb_connect_fail(lb, u->backend);
	upstream_passive_fail(w, u);
	if (log_ratelimit(&rl, 5))
		log_warn("pool %s: connect %s: %s", pool->name,
		         pool->backends[u->backend].address.text,
		         res == -ECANCELED ? "timed out" : strerror(-res));
	return false;
}

void upstream_count_status(struct worker *w, struct conn *u, int status)
{
	struct upstream_idle *id = ring_listener(w, u)->gen->idle;

	lstat_code(id->st[id->at[u->pool] + (uint32_t)u->backend]->http, status);
}

void upstream_lb_end(struct worker *w, struct conn *u)
{
	if (u->flags & CONN_F_LBACTIVE) {
		u->flags &= ~CONN_F_LBACTIVE;
		lb_conn_end(lb_of(ring_listener(w, u), u->pool), u->backend);
	}
}

/* ---- the idle pool ---- */

int upstream_gen_init(struct wgen *g, unsigned worker)
{
	struct config *cfg = g->cfg;
	struct upstream_idle *id = calloc(1, sizeof(*id));
	unsigned i, nbe;

	if (!id)
		return -ENOMEM;
	g->idle = id;
	id->at = calloc(cfg->npools ? cfg->npools : 1, sizeof(*id->at));
	if (!id->at)
		return -ENOMEM;
	for (i = 0, nbe = 0; i < cfg->npools; i++) {
		id->at[i] = nbe;
		nbe += cfg->pools[i].nbackends;
	}
	id->n = calloc(nbe ? nbe : 1, sizeof(*id->n));
	id->head = malloc((nbe ? nbe : 1) * sizeof(*id->head));
	id->st = malloc((nbe ? nbe : 1) * sizeof(*id->st));
	if (!id->n || !id->head || !id->st)
		return -ENOMEM;
	for (i = 0; i < cfg->npools; i++)
		for (unsigned b = 0; b < cfg->pools[i].nbackends; b++)
			id->st[id->at[i] + b] = lstat_backend(
			    cfg->pools[i].name, cfg->pools[i].backends[b].address.text, worker);
	for (i = 0; i < nbe; i++)
		id->head[i] = CONN_NONE;
	return 0;
}

void upstream_gen_deinit(struct wgen *g)
{
	if (!g->idle)
		return;
	free(g->idle->n);
	free(g->idle->head);
	free(g->idle->st);
	free(g->idle->at);
	free(g->idle);
	g->idle = NULL;
}

/* The count and list of idle upstreams of <ls>'s generation for backend
 * <b> of pool <pi>: one per backend, so a request finds its backend's idle
 * connections without walking the others'. */
static uint32_t *idle_count(struct wlistener *ls, int pi, int b)
{
	struct upstream_idle *id = ls->gen->idle;

	return &id->n[id->at[pi] + (uint32_t)b];
}

static uint32_t *idle_list(struct wlistener *ls, int pi, int b)
{
	struct upstream_idle *id = ls->gen->idle;

	return &id->head[id->at[pi] + (uint32_t)b];
}

/* Takes <u>, the entry at *pp, out of the pool. */
static void idle_unlink_at(struct worker *w, uint32_t *pp, struct conn *u)
{
	*pp = u->idle_next;
	u->idle_next = CONN_NONE;
	u->flags &= ~CONN_F_IDLE;
	w->up_nidle--;
	(*idle_count(ring_listener(w, u), u->pool, u->backend))--;
}

bool upstream_idle_put(struct worker *w, struct conn *u, bool retired_ok)
{
	struct wlistener *ls = ring_listener(w, u);
	const struct cfg_pool *pool = pool_of(ls, u->pool);
	uint32_t *n = idle_count(ls, u->pool, u->backend);
	uint32_t *head = idle_list(ls, u->pool, u->backend);

	if (w->up_nidle >= UPSTREAM_IDLE_MAX || *n >= pool->keepalive.max_idle ||
	    (u->flags & CONN_F_CLOSING) || w->stopping || (ls->retired && !retired_ok))
		return false;
	u->flags |= CONN_F_IDLE;
	u->idle_next = *head;
	*head = ring_slot(w, u);
	w->up_nidle++;
	(*n)++;
	u->last_ms = w->now;
	/* Never timer_init() here: the timer may be armed (a reused
	 * connection), and re-initialising a linked timer corrupts the wheel. */
	timer_arm(w->tw, &u->tm, w->now + pool->keepalive.timeout);
	return true;
}

struct conn *upstream_idle_take(struct worker *w, struct conn *c, int pi, int b)
{
	struct wlistener *ls = ring_listener(w, c);
	uint32_t *pp = idle_list(ls, pi, b);
	bool pp_send = pool_of(ls, pi)->proxy_protocol != CFG_PP_SEND_NONE;
	struct proxy_addr a;

	/* An upstream that was sent a PROXY header speaks for that client's
	 * address: it carries requests of the same client address only. */
	if (pp_send && (*pp == CONN_NONE || proxyp_addrs(w, c, &a) < 0))
		return NULL;
	while (*pp != CONN_NONE) {
		struct conn *u = &w->ct.c[*pp];

		if (u->listener == c->listener && u->backend == b && u->pool == pi &&
		    !(u->flags & CONN_F_CLOSING) && /* a closing one is unlinked at release */
		    (!pp_send || proxyp_reusable(w, &a, u))) {
			idle_unlink_at(w, pp, u);
			timer_cancel(w->tw, &u->tm); /* the client's timer covers it now */
			u->peer = ring_slot(w, c);
			c->peer = ring_slot(w, u);
			u->flags |= CONN_F_LBACTIVE;
			lb_conn_start(lb_of(ls, pi), b);
			return u;
		}
		pp = &u->idle_next;
	}
	return NULL;
}

void upstream_idle_retire(struct worker *w, struct wlistener *ls)
{
	const struct config *cfg = ls->gen->cfg;

	for (unsigned pi = 0; pi < cfg->npools; pi++) {
		for (unsigned b = 0; b < cfg->pools[pi].nbackends; b++) {
			uint32_t *pp = idle_list(ls, (int)pi, (int)b);

			while (*pp != CONN_NONE) {
				struct conn *u = &w->ct.c[*pp];

				if (u->listener != ls->idx) {
					pp = &u->idle_next;
					continue;
				}
				idle_unlink_at(w, pp, u);
				ring_close(w, u);
			}
		}
	}
}

bool upstream_idle_expired(struct worker *w, const struct conn *u)
{
	return w->now >= u->last_ms + upstream_keepalive(w, u);
}

uint64_t upstream_keepalive(struct worker *w, const struct conn *u)
{
	return pool_of(ring_listener(w, u), u->pool)->keepalive.timeout;
}

void upstream_release(struct worker *w, struct conn *u)
{
	if (u->flags & CONN_F_IDLE) {
		uint32_t *pp = idle_list(ring_listener(w, u), u->pool, u->backend);
		uint32_t slot = ring_slot(w, u);

		while (*pp != CONN_NONE && *pp != slot)
			pp = &w->ct.c[*pp].idle_next;
		if (*pp == slot)
			idle_unlink_at(w, pp, u);
		u->flags &= ~CONN_F_IDLE;
	}
	upstream_lb_end(w, u);
}
