/* The L4 TCP proxy: a client record and an upstream record, and the byte
 * pump (pump.c) in each direction.
 *
 * `splice: never` keeps both directions on buffers, `always` splices from
 * the connect on, `auto` switches a direction after its first
 * L4_SPLICE_AFTER bytes, once the bytes already queued are sent, so order
 * is kept. Splice needs both sockets' transports to allow it. A failed
 * connect is retried on another backend with the client bytes already
 * read; no backend left closes the client.
 *
 * On a listener with an access log, the client record's <pctx> is its
 * session's log fields (struct l4_log, one small pool buffer), written as
 * one line when the client record is released.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/loop/lstat.h"
#include "core/alog/alog.h"
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
#include "core/xprt/tls.h"

#define L4_SPLICE_AFTER (64u << 10) /* splice: auto switches after this many bytes */

static int l4_client_id, l4_up_id;

/* A session's access log fields (times: w->now, ms). */
struct l4_log {
	uint64_t t_start, t_up, t_conn;
	uint64_t bytes_in, bytes_out; /* from the client, to it */
	struct alog_addr client;
	int16_t pool, backend;
	char cause; /* as http_log.c: '-' C S c P K; the phase is C or D */
	uint8_t tls, snilen;
	char sni[255];
};

_Static_assert(sizeof(struct l4_log) <= POOL_SMALL, "a session's log fields are one small buffer");

static struct l4_log *log_of(struct worker *w, struct conn *x)
{
	struct conn *c = x->proto == l4_client_id ? x : ring_peer(w, x);

	return c && c->proto == l4_client_id ? c->pctx : NULL;
}

static void log_cause(struct worker *w, struct conn *x, char cause)
{
	struct l4_log *g = log_of(w, x);

	if (g && g->cause == '-')
		g->cause = cause;
}

/* Starts <c>'s log fields when its listener logs. */
static void log_start(struct worker *w, struct conn *c)
{
	struct sockaddr_storage ss;
	struct l4_log *g;
	const char *sni;

	c->pctx = NULL;
	if (!ring_listener(w, c)->alog || !(g = pool_get(w->pc, BUF_SMALL)))
		return;
	memset(g, 0, sizeof(*g));
	g->t_start = w->now;
	g->pool = g->backend = -1;
	g->cause = '-';
	g->tls = (uint8_t)tls_xprt_info(w, c, &sni);
	g->snilen = sni ? (uint8_t)strnlen(sni, sizeof(g->sni)) : 0;
	if (g->snilen)
		memcpy(g->sni, sni, g->snilen);
	if (proxyp_client(w, c, &ss) == 0) { /* a PROXY header's, else the peer's */
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

		g->client.family = ss.ss_family;
		g->client.port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
		memcpy(g->client.a,
		       ss.ss_family == AF_INET ? (const void *)&s4->sin_addr
		                               : (const void *)&s6->sin6_addr,
		       ss.ss_family == AF_INET ? 4 : 16);
	}
	c->pctx = g;
}

/* Writes <c>'s line and gives its fields back. */
static void log_end(struct worker *w, struct conn *c)
{
	struct l4_log *g = c->pctx;
	struct wlistener *ls = ring_listener(w, c);
	struct alog_str s[ALOG_NSTR] = {{NULL, 0}};
	struct alog_rec r;

	if (!g)
		return;
	c->pctx = NULL;
	memset(&r, 0, sizeof(r));
	r.kind = ALOG_TCP;
	r.sink = ls->alog;
	r.start_ms = g->t_start;
	if (g->cause == '-' && w->stopping && w->now >= w->drain_deadline)
		g->cause = 'K';
	r.term[0] = g->cause;
	r.term[1] = g->cause == '-' ? '-' : g->t_conn ? 'D' : 'C';
	r.ms[ALOG_MS_REQUEST] = r.ms[ALOG_MS_RESPONSE] = ALOG_NO_MS;
	r.ms[ALOG_MS_CONNECT] = g->t_conn ? (uint32_t)(g->t_conn - g->t_up) : ALOG_NO_MS;
	r.ms[ALOG_MS_TOTAL] = (uint32_t)(w->now - g->t_start);
	r.bytes_in = g->bytes_in;
	r.bytes_out = g->bytes_out;
	r.client = g->client;
	r.tls = g->tls;
	s[ALOG_S_SNI] = (struct alog_str){g->sni, g->snilen};
	if (g->pool >= 0 && (unsigned)g->pool < ls->gen->cfg->npools) {
		const struct cfg_pool *p = &ls->gen->cfg->pools[g->pool];

		s[ALOG_S_POOL] = (struct alog_str){p->name, (uint32_t)strlen(p->name)};
		if (g->backend >= 0 && (unsigned)g->backend < p->nbackends) {
			const char *b = p->backends[g->backend].address.text;

			s[ALOG_S_BACKEND] = (struct alog_str){b, (uint32_t)strlen(b)};
		}
	}
	alog_emit(w->alog, &r, s);
	pool_put(w->pc, g, sizeof(*g));
}

/* Spliced bytes are counted by the pump in bytes_in only: what a call that
 * reads <reader> added there since <before> is that direction's. The pump
 * may call back into l4_resume() from l4_drained(): only the outermost
 * call counts (<nested>). */
static __thread unsigned nested;

static void log_spliced(struct worker *w, struct l4_log *g, bool from_client, uint64_t before)
{
	uint64_t n = WSTAT_GET(w, bytes_in) - before;

	if (!g || nested)
		return;
	if (from_client)
		g->bytes_in += n;
	else
		g->bytes_out += n;
}

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
		if (upstream_open(w, ls, pi, c, b, (uint8_t)l4_up_id, &err)) {
			struct l4_log *g = c->pctx;

			if (g) {
				g->pool = (int16_t)pi;
				g->backend = (int16_t)b;
				g->t_up = g->t_up ? g->t_up : w->now;
			}
			return 0;
		}
		if (err == -ENOSPC)
			break;
	}
	WSTAT_INC(w, no_backend);
	if (!c->ntried)
		LSTAT_INC(&ls->st->rejected[LSTAT_REJ_NO_BACKEND]);
	log_cause(w, c, 'S');
	ring_close(w, c);
	return -1;
}

static void l4_connected(struct worker *w, struct conn *u, int res)
{
	struct conn *c = ring_peer(w, u);

	if (upstream_connected(w, u, res)) {
		struct l4_log *g = c ? c->pctx : NULL;
		uint64_t before;

		if (!c) {
			ring_close(w, u);
			return;
		}
		if (g)
			g->t_conn = w->now;
		if (cfg_of(w, u)->splice == SPLICE_ALWAYS && spliceable(c, u)) {
			u->flags |= CONN_F_SPLICE;
			c->flags |= CONN_F_SPLICE;
			before = WSTAT_GET(w, bytes_in);
			pump_splice(w, c);
			log_spliced(w, g, true, before);
			before = WSTAT_GET(w, bytes_in);
			if (!(u->flags & CONN_F_CLOSING))
				pump_splice(w, u);
			log_spliced(w, g, false, before);
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

	struct l4_log *g;

	if (!p) {
		pool_put(w->pc, buf, len);
		return;
	}
	g = log_of(w, x);
	if (g && x->proto == l4_client_id)
		g->bytes_in += len;
	else if (g)
		g->bytes_out += len;
	if (!pump_data(w, x, buf, len)) {
		WSTAT_INC(w, aborts);
		log_cause(w, x, 'P');
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
	log_cause(w, x, x->proto == l4_client_id ? 'C' : 'S');
	pump_close_pair(w, x);
}

/* The backend reset the connection: a passive check failure. */
static void l4_up_error(struct worker *w, struct conn *u, int err)
{
	if (err == -ECONNRESET)
		upstream_passive_fail(w, u);
	l4_error(w, u, err);
}

/* The pump's entries that may splice, with the spliced bytes counted for
 * the access log: each call reads one side (<reader>). */
static void l4_polled(struct worker *w, struct conn *c, uint8_t op, int res)
{
	struct conn *reader = op == OP_POLL_IN ? c : ring_peer(w, c);
	struct l4_log *g = log_of(w, c);
	uint64_t before = WSTAT_GET(w, bytes_in);

	nested++;
	pump_polled(w, c, op, res);
	nested--;
	if (reader)
		log_spliced(w, g, reader->proto == l4_client_id, before);
}

static void l4_drained(struct worker *w, struct conn *c)
{
	struct conn *reader = ring_peer(w, c);
	struct l4_log *g = log_of(w, c);
	uint64_t before = WSTAT_GET(w, bytes_in);

	nested++;
	pump_drained(w, c);
	nested--;
	if (reader)
		log_spliced(w, g, reader->proto == l4_client_id, before);
}

static void l4_resume(struct worker *w, struct conn *c)
{
	struct l4_log *g = log_of(w, c);
	uint64_t before = WSTAT_GET(w, bytes_in);

	nested++;
	pump_resume(w, c);
	nested--;
	log_spliced(w, g, c->proto == l4_client_id, before);
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
	if (c->out_bytes || (p && p->out_bytes) || pump_pipe_bytes(w, c) ||
	    (p && pump_pipe_bytes(w, p)))
		limit = to->client < to->server ? to->client : to->server;
	if (w->now >= last + limit) {
		WSTAT_INC(w, idle_timeouts);
		log_cause(w, c, 'c');
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
	log_start(w, c);
	if (l4_connect(w, c) < 0)
		return;
	/* splice always: the client is read by splice once connected */
	if (ls->cfg->splice != SPLICE_ALWAYS || !xprt_can_splice(c))
		xprt_read(w, c);
}

static void l4_release(struct worker *w, struct conn *c)
{
	log_end(w, c);
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
    .drained = l4_drained,
    .polled = l4_polled,
    .resume = l4_resume,
    .abort = pump_close_pair,
    .release = l4_release,
};

static const struct proto_ops l4_upstream = {
    .name = "l4-upstream",
    .data = l4_data,
    .eof = pump_eof,
    .error = l4_up_error,
    .drained = l4_drained,
    .connected = l4_connected,
    .polled = l4_polled,
    .resume = l4_resume,
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
