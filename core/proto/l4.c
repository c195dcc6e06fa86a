/* The L4 TCP proxy: a client record and an upstream record, and the byte
 * pump (pump.c) in each direction.
 *
 * `splice: never` keeps both directions on buffers, `always` splices from
 * the connect on, `auto` switches a direction after its first
 * L4_SPLICE_AFTER bytes, once the bytes already queued are sent, so order
 * is kept. Splice needs both sockets' transports to allow it. A failed
 * connect is retried on another backend with the client bytes already
 * read; no backend left closes the client.
 */
#include <errno.h>
#include <sys/socket.h>

#include "core/loop/bufq.h"
#include "core/proto/l4.h"
#include "core/lb/lb.h"
#include "core/loop/listen.h"
#include "core/base/macros.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/mem/pool.h"
#include "core/proto/pump.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"
#include "core/loop/upstream.h"

#define L4_SPLICE_AFTER (64u << 10) /* splice: auto switches after this many bytes */

static int l4_client_id, l4_up_id;

static const struct cfg_listener *cfg_of(struct worker *w, const struct conn *c)
{
	return ring_listener(w, c)->cfg;
}

static bool spliceable(const struct conn *x, const struct conn *p)
{
	return xprt_can_splice(x) && xprt_can_splice(p);
}

/* ---- connect ---- */

static uint64_t client_key(struct worker *w, struct conn *c)
{
	struct sockaddr_storage ss;

	if (proxyp_client(w, c, &ss) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return lb_hash(&((struct sockaddr_in *)&ss)->sin_addr, 4);
	return lb_hash(&((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
}

/* Picks a backend not tried yet for client <c> and starts connecting to
 * it. Returns 0, or -1 after closing <c> when no backend is left. */
static int l4_connect(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);
	int pi = ls->cfg->pool_idx, b, err;
	uint64_t key = upstream_hashed(ls, pi) ? client_key(w, c) : 0;

	while ((b = upstream_pick(w, ls, pi, c, key)) >= 0) {
		if (upstream_open(w, ls, pi, c, b, (uint8_t)l4_up_id, &err))
			return 0;
		if (err == -ENOSPC)
			break;
	}
	WSTAT_INC(w, no_backend);
	ring_close(w, c);
	return -1;
}

static void l4_connected(struct worker *w, struct conn *u, int res)
{
	struct conn *c = ring_peer(w, u);

	if (upstream_connected(w, u, res)) {
		if (!c) {
			ring_close(w, u);
			return;
		}
		if (cfg_of(w, u)->splice == SPLICE_ALWAYS && spliceable(c, u)) {
			u->flags |= CONN_F_SPLICE;
			c->flags |= CONN_F_SPLICE;
			pump_splice(w, c);
			if (!(u->flags & CONN_F_CLOSING))
				pump_splice(w, u);
			return;
		}
		xprt_read(w, u);
		xprt_flush(w, u);
		if (cfg_of(w, u)->splice == SPLICE_ALWAYS)
			xprt_read(w, c); /* a side that cannot splice: not read yet */
		pump_eof(w, c);
		return;
	}
	u->peer = CONN_NONE;
	ring_close(w, u);
	if (!c)
		return;
	c->peer = CONN_NONE;
	/* Client bytes already read wait on <u>'s queue: park them on the
	 * client's own (empty until a backend answers) and hand them over. */
	bufq_move(c, u);
	if (l4_connect(w, c) == 0)
		bufq_move(ring_peer(w, c), c);
}

/* ---- data ---- */

static void l4_data(struct worker *w, struct conn *x, char *buf, uint32_t len)
{
	struct conn *p = ring_peer(w, x);

	if (!p) {
		pool_put(w->pc, buf, len);
		return;
	}
	if (!pump_data(w, x, buf, len)) {
		WSTAT_INC(w, aborts);
		pump_close_pair(w, x);
		return;
	}
	if (cfg_of(w, x)->splice == SPLICE_AUTO && x->rx_bytes >= L4_SPLICE_AFTER &&
	    !(x->flags & (CONN_F_SPLICE | CONN_F_NOSPLICE)) && spliceable(x, p)) {
		x->flags |= CONN_F_SPLICE;
		WSTAT_INC(w, splices);
		xprt_stop_read(w, x);
	}
}

static void l4_error(struct worker *w, struct conn *x, int err)
{
	WSTAT_INC(w, aborts);
	pump_close_pair(w, x);
}

/* ---- timers, accept, release ---- */

static void l4_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	struct conn *p = ring_peer(w, c);
	const struct cfg_timeouts *to = &cfg_of(w, c)->timeouts;
	uint64_t last = c->last_ms, limit = to->idle;

	if (p && p->last_ms > last)
		last = p->last_ms;
	/* A transfer in progress (bytes waiting either way) is held to the
	 * client/server inactivity timeouts, a quiet session to idle. */
	if (c->out_bytes || (p && p->out_bytes) ||
	    ((c->flags & CONN_F_SPLICE) && c->pipe && c->pipe->bytes) ||
	    (p && (p->flags & CONN_F_SPLICE) && p->pipe && p->pipe->bytes))
		limit = to->client < to->server ? to->client : to->server;
	if (w->now >= last + limit) {
		WSTAT_INC(w, idle_timeouts);
		pump_close_pair(w, c);
		return;
	}
	timer_arm(w->tw, t, last + limit);
}

static void l4_accept(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);

	timer_init(&c->tm, l4_timer);
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.idle);
	if (l4_connect(w, c) < 0)
		return;
	/* splice always: the client is read by splice once connected */
	if (ls->cfg->splice != SPLICE_ALWAYS || !xprt_can_splice(c))
		xprt_read(w, c);
}

static void l4_release(struct worker *w, struct conn *c)
{
	pump_release(w, c);
}

static void l4_up_release(struct worker *w, struct conn *u)
{
	pump_release(w, u);
	upstream_release(w, u);
}

static const struct proto_ops l4_client = {
    .name = "l4",
    .records = 2,
    .accept = l4_accept,
    .data = l4_data,
    .eof = pump_eof,
    .error = l4_error,
    .drained = pump_drained,
    .polled = pump_polled,
    .resume = pump_resume,
    .abort = pump_close_pair,
    .release = l4_release,
};

static const struct proto_ops l4_upstream = {
    .name = "l4-upstream",
    .data = l4_data,
    .eof = pump_eof,
    .error = l4_error,
    .drained = pump_drained,
    .connected = l4_connected,
    .polled = pump_polled,
    .resume = pump_resume,
    .abort = pump_close_pair,
    .release = l4_up_release,
};

int l4_register(void)
{
	l4_client_id = ops_proto_add(&l4_client);
	l4_up_id = ops_proto_add(&l4_upstream);
	if (l4_client_id < 0 || l4_up_id < 0)
		return -ENOSPC;
	ops_mode_set(LMODE_TCP, l4_client_id);
	return 0;
}
