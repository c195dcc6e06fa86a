/* The HTTP client side (http-int.h): a request's head is read into the
 * context's head buffer (4 KiB, grown by class up to max_buffer_size: past
 * it 431), parsed, routed, a backend picked, an idle upstream reused or a
 * new one connected, and the rewritten head goes upstream
 * (h1_build_request: hop-by-hop removed, X-Forwarded-For/-Proto,
 * X-Real-IP, Via when the listener sets via:). Body bytes stream as they
 * arrive: the received buffers themselves are queued on the upstream (no
 * copy), with the pump's backpressure. Requests on one connection are
 * answered strictly in order: while one is in flight, bytes of the next
 * ones are read ahead into rhead up to HTTP_PIPELINE_MAX, then the client
 * is not read until it is done.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/mem/acct.h"
#include "core/parse/h1.h"
#include "core/base/log.h"
#include "core/http/http-int.h"
#include "core/loop/lstat.h"
#include "core/lb/lb.h"
#include "core/loop/listen.h"
#include "core/base/macros.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/proto/pump.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"
#include "core/loop/upstream.h"

/* Answers <st> on <c> mid-request: its upstream (if any) holds a message
 * cut short, so it is closed, never kept for reuse nor left to the drain. */
void http__req_fail(struct worker *w, struct conn *c, int st)
{
	struct conn *u = ring_peer(w, c);

	if (u) {
		u->peer = c->peer = CONN_NONE;
		ring_close(w, u);
	}
	/* Once response bytes went out, an error page behind them would be
	 * garbage to the client: the connection just ends. */
	if (hx_of(c) && hx_of(c)->sent_any)
		ring_close(w, c);
	else
		http__error(w, c, st);
}

/* Keeps the bytes of <buf> [off+k, off+n), past the body, in rhead: the
 * next request. False after answering 431 (<buf> given back if ours). */
static bool req_keep_rest(struct worker *w, struct conn *c, char *buf, uint32_t off, uint32_t n,
                          int64_t k, bool own)
{
	struct http_ctx *x = hx_of(c);

	if ((uint64_t)k == n || http__head_append(w, &x->rhead, &x->rlen, &x->rcap, buf + off + k,
	                                          n - (uint32_t)k, http__maxbuf(w)))
		return true;
	if (own)
		pool_put(w->pc, buf, off + n);
	http__req_fail(w, c, 431);
	return false;
}

/* Feeds request body bytes [off, off+n) of <buf> (<own>: a received
 * buffer, ours to queue or give back). Bytes past the body are the next
 * request: kept in rhead. Returns false after an error answer. */
static bool req_body(struct worker *w, struct conn *c, char *buf, uint32_t off, uint32_t n,
                     bool own)
{
	struct http_ctx *x = hx_of(c);
	struct conn *u = ring_peer(w, c);
	uint64_t max = ring_listener(w, c)->cfg->max_body_size;
	bool done = false;
	int64_t k = h1_body_feed(&x->rb, buf + off, n, &done);

	/* max_body_size counts payload, not chunk framing (as nginx does). */
	if (k < 0 || (max && x->rb.data > max)) {
		if (own)
			pool_put(w->pc, buf, off + n);
		http__req_fail(w, c, k < 0 ? 400 : 413);
		return false;
	}
	/* Bytes past the body are the next request, kept in rhead. A received
	 * buffer (<own>) is kept from before its body part is queued (a
	 * transport may give a queued buffer back at once); bytes that came
	 * with the head are in rhead itself, where keeping the rest moves it
	 * over the body: those go (copied) first. */
	if (own && !req_keep_rest(w, c, buf, off, n, k, true))
		return false;
	http__log_bytes(c, (uint64_t)k, 0);
	if (u && k) {
		if (!http__forward(w, u, buf, off, (uint32_t)k, off + n, own)) {
			http__req_fail(w, c, 503);
			return false;
		}
		if (u->flags & CONN_F_CONNECTED)
			xprt_flush(w, u);
		pump_pause_if_full(w, c, u);
	} else if (own) {
		pool_put(w->pc, buf, off + n);
	}
	if (!own && !req_keep_rest(w, c, buf, off, n, k, false))
		return false;
	if (own && u && k && off)
		pool_put(w->pc, buf, off + n);
	if (done)
		x->req_done = true; /* what follows is the next request: kept in rhead */
	return true;
}

/* Frames the <n> body bytes that came with the head on a scratch state:
 * a malformed chunk, or a body already past max_body_size, is answered
 * (400, 413) before the head goes upstream, so the backend sees nothing of
 * it. Errors in later bytes can only close the upstream (req_fail). Returns
 * false after an error answer. */
static bool body_ok(struct worker *w, struct conn *c, const char *buf, uint32_t n)
{
	uint64_t max = ring_listener(w, c)->cfg->max_body_size;
	struct h1_body_state probe;
	bool done = false;
	int64_t k;

	h1_body_init(&probe, &hx_of(c)->req);
	k = h1_body_feed(&probe, buf, n, &done);
	if (k < 0 || (max && probe.data > max)) {
		http__error(w, c, k < 0 ? 400 : 413);
		return false;
	}
	return true;
}

/* A complete head in rhead: route, pick, rewrite, send. */
static void dispatch_request(struct worker *w, struct conn *c, uint32_t hlen)
{
	struct http_ctx *x = hx_of(c);
	const struct cfg_listener *l = ring_listener(w, c)->cfg;
	uint32_t rest = x->rlen - hlen;
	struct h1_limits lim;
	struct cfg_pool *pool;
	struct conn *u;
	uint64_t to;
	char *hb;
	int n, cls, pi;

	WSTAT_INC(w, http_requests);
	http__log_head(w, c, hlen);
	c->ntried = 0;
	x->req_done = x->resp_head = x->sent_any = false;
	x->keep_alive = !(x->req.flags & H1_F_CLOSE) && !w->stopping;
	c->pword += c->pword < UINT32_MAX;
	if (l->keepalive_requests && c->pword >= l->keepalive_requests)
		x->keep_alive = false; /* this response says Connection: close */
	if (l->max_body_size && x->req.body == H1_BODY_LENGTH &&
	    x->req.content_length > l->max_body_size) {
		http__error(w, c, 413);
		return;
	}
	if (rest && !body_ok(w, c, x->rhead + hlen, rest))
		return;
	if (acct_level(w->acct) == ACCT_CRITICAL) {
		WSTAT_INC(w, rejected);
		http__log_cause(c, 'R');
		http__error(w, c, 503);
		return;
	}
	cls = pool_class_of(hlen + 512);
	hb = cls < 0 ? NULL : pool_get(w->pc, cls);
	if (!hb) {
		http__log_cause(c, cls < 0 ? 'P' : 'R');
		http__error(w, c, cls < 0 ? 431 : 503);
		return;
	}
	n = h1_build_request(&x->req, x->ip, "http", l->via, hb, pool_class_size(cls));
	if (n < 0) {
		pool_put(w->pc, hb, pool_class_size(cls));
		http__error(w, c, 431);
		return;
	}
	/* Routed once: a retry on another backend (up_connect()) comes after
	 * the head's bytes have been overwritten. */
	pool = http__route(ring_listener(w, c), &x->req, &pi);
	x->pi = (int16_t)(pool ? pi : -1);
	x->lbkey = pool && pool->algorithm == CFG_ALGO_MAGLEV ? http__maglev_key(x, pool) : 0;
	u = http__upstream_for(w, c);
	if (!u) {
		pool_put(w->pc, hb, (size_t)n);
		return;
	}
	if (xprt_queue(w, u, hb, (uint32_t)n, (uint32_t)n) < 0) {
		pump_close_pair(w, c);
		return;
	}
	if (u->flags & CONN_F_CONNECTED)
		xprt_flush(w, u);
	http__limits(w, c, &lim);
	h1_parser_init(&x->sp, true, &lim);
	if (x->req.is_head)
		x->sp.flags |= H1_F_HEAD_REQ;
	x->ninterim = 0;
	x->dechunk = false;
	h1_msg_release(&x->resp); /* a parked context's last response may have spilled */
	memset(&x->resp, 0, sizeof(x->resp));
	x->slen = 0;
	h1_body_init(&x->rb, &x->req);
	/* The head has been rewritten into hb: the secrets in rhead can go,
	 * and so can the slices into it (the bytes after the head are moved
	 * over it below, and rhead may grow for pipelined bytes). Only the
	 * message's flags and framing are used from here on. */
	h1_msg_wipe(&x->req, x->rhead);
	h1_msg_release(&x->req);
	x->req.method = x->req.target = x->req.host = x->req.path = (struct h1_str){NULL, 0};
	x->state = HS_BODY;
	/* The header deadline is over: from now on timeouts.server (and
	 * client) count, from the last byte either way (http_timer). */
	to = l->timeouts.client < l->timeouts.server ? l->timeouts.client : l->timeouts.server;
	timer_arm(w->tw, &c->tm, w->now + to);
	memmove(x->rhead, x->rhead + hlen, rest);
	x->rlen = 0;
	if (!req_body(w, c, x->rhead, 0, rest, false) || x->req_done || x->rlen)
		return;
	/* A body still to come (large, or slow): the head buffer, empty now,
	 * is not kept for it (4 KiB per slow upload); bytes past the body
	 * get a new one. */
	pool_put(w->pc, x->rhead, x->rcap);
	x->rhead = NULL;
	x->rcap = 0;
}

void http__client_parse(struct worker *w, struct conn *c)
{
	struct http_ctx *x = hx_of(c);
	int r = h1_parse(&x->rp, x->rhead, x->rlen, &x->req);

	if (r == 0) {
		http__wait_hold(w, c); /* a slow client waits right-sized */
		http__client_resume(w, c);
		return;
	}
	if (r < 0) {
		http__error(w, c, -r);
		return;
	}
	/* A reverse proxy does not tunnel CONNECT: 501 (no Allow list to
	 * offer for a backend's resource, as a 405 would need). */
	if (x->req.is_connect) {
		http__error(w, c, 501);
		return;
	}
	dispatch_request(w, c, (uint32_t)r);
}

/* Starts a new head in <c>'s context. */
void http__head_begin(struct worker *w, struct conn *c)
{
	struct http_ctx *x = c->pctx; /* a context: never a waiting head here */
	struct wlistener *ls = ring_listener(w, c);
	struct h1_limits lim;

	http__limits(w, c, &lim);
	http__unpark(w, x);
	c->flags &= ~HC_F_FIRST;
	h1_msg_release(&x->req);
	h1_parser_init(&x->rp, false, &lim);
	memset(&x->req, 0, sizeof(x->req));
	x->state = HS_HEAD;
	x->head_start = w->now;
	x->t0_us = clock_us();
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.header);
	http__log_begin(w, c);
}

void http__client_resume(struct worker *w, struct conn *c)
{
	struct http_ctx *x = hx_of(c);

	if (c->flags & (CONN_F_RECV | CONN_F_CLOSING | CONN_F_RD_EOF | CONN_F_PAUSED))
		return;
	if (x && (x->state == HS_ERROR || (x->state == HS_BODY && x->req_done)))
		return;
	xprt_read(w, c);
}

/* The access log's backend and connect times: a reused connection took
 * no time; a retry on another backend counts from the first attempt. */
static void log_picked(struct worker *w, struct conn *c, int b, bool reused)
{
	struct http_log *g = &hx_of(c)->lg;

	if (!g->on)
		return;
	g->backend = (int16_t)b;
	if (reused)
		g->t_up = g->t_conn = w->now;
	else if (!g->t_up)
		g->t_up = w->now;
}

struct conn *http__upstream_for(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);
	int pi = hx_of(c)->pi, b, err = 0;
	struct cfg_pool *pool = pi >= 0 ? &ls->gen->cfg->pools[pi] : NULL;
	struct conn *u;

	if (!pool || !pool->nbackends) {
		WSTAT_INC(w, no_backend);
		http__error(w, c, 503);
		return NULL;
	}
	while ((b = upstream_pick(w, ls, pi, c, hx_of(c)->lbkey)) >= 0) {
		u = upstream_idle_take(w, c, pi, b);
		if (u) {
			WSTAT_INC(w, http_reused);
			log_picked(w, c, b, true);
			return u;
		}
		u = upstream_open(w, ls, pi, c, b, (uint8_t)http__up_id, &err);
		if (u) {
			log_picked(w, c, b, false);
			return u;
		}
		if (err == -ENOSPC)
			break;
	}
	WSTAT_INC(w, no_backend);
	http__error(w, c, c->ntried ? 502 : 503);
	return NULL;
}

/* The client's address (a PROXY header's, else the peer's), for
 * X-Forwarded-For, maglev and the access log. */
void http__client_ip(struct worker *w, struct conn *c, struct http_ctx *x)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

	if (x->ip[0] || proxyp_client(w, c, &ss) < 0)
		return;
	inet_ntop(ss.ss_family,
	          ss.ss_family == AF_INET ? (const void *)&s4->sin_addr
	                                  : (const void *)&s6->sin6_addr,
	          x->ip, sizeof(x->ip));
	x->peer.family = ss.ss_family;
	if (ss.ss_family == AF_INET) {
		x->peer.port = ntohs(s4->sin_port);
		memcpy(x->peer.a, &s4->sin_addr, 4);
	} else {
		x->peer.port = ntohs(s6->sin6_port);
		memcpy(x->peer.a, &s6->sin6_addr, 16);
	}
}

/* A waiting head (http_wait.c) goes back to a context with its bytes,
 * times and log fields; NULL (nothing held any more) when no context is
 * to be had. */
static struct http_ctx *wait_promote(struct worker *w, struct conn *c)
{
	struct http_wait *p = http__wait_take(c);
	const struct cfg_listener *l = ring_listener(w, c)->cfg;
	struct http_ctx *x;

	if (!p)
		return hx_of(c);
	x = http__ctx_get(w, c);
	if (x) {
		http__client_ip(w, c, x);
		http__head_begin(w, c);
		x->head_start = x->lg.t_start = p->head_start;
		x->t0_us = p->t0_us;
		timer_arm(w->tw, &c->tm, p->head_start + l->timeouts.header);
		if (!http__head_append(w, &x->rhead, &x->rlen, &x->rcap, p->data, p->len,
		                       UINT32_MAX)) {
			http__ctx_put(w, c);
			x = NULL;
		}
	}
	http__wait_put(w, p);
	return x;
}

/* The connection ends under a waiting head: with an access log it goes
 * back to a context first, so its line is written as for any head. */
static void wait_end(struct worker *w, struct conn *c)
{
	if (!(c->flags & HC_F_WAIT))
		return;
	if (ring_listener(w, c)->alog)
		wait_promote(w, c);
	else
		http__wait_put(w, http__wait_take(c));
}

/* timeouts.header passed on a waiting head: the parser's answer for what
 * came, else 408. */
static void wait_timeout(struct worker *w, struct conn *c)
{
	struct http_ctx *x = wait_promote(w, c);
	int r;

	if (!x) {
		ring_close(w, c);
		return;
	}
	r = h1_parse(&x->rp, x->rhead, x->rlen, &x->req);
	http__error(w, c, r < 0 ? -r : 408);
}

/* Received bytes for a waiting head: kept there, or (the head may be
 * complete, or is too big to wait) back to a context and parsed. */
static void wait_data(struct worker *w, struct conn *c, char *buf, uint32_t res)
{
	int r = http__wait_data(w, c, buf, res);
	struct http_ctx *x;

	if (!r) {
		pool_put(w->pc, buf, res);
		http__client_resume(w, c);
		return;
	}
	x = wait_promote(w, c);
	if (x && r < 0 &&
	    !http__head_append(w, &x->rhead, &x->rlen, &x->rcap, buf, res, http__maxbuf(w))) {
		pool_put(w->pc, buf, res);
		http__error(w, c, x->rlen > x->rp.lim.max_line ? 431 : 414);
		return;
	}
	pool_put(w->pc, buf, res);
	if (!x)
		http__error(w, c, 503);
	else
		http__client_parse(w, c);
}

void http__client_data(struct worker *w, struct conn *c, char *buf, uint32_t res)
{
	struct http_ctx *x = hx_of(c);

	if (x && x->state == HS_TUNNEL) {
		if (!pump_data(w, c, buf, res))
			pump_close_pair(w, c);
		return;
	}
	if (c->flags & HC_F_WAIT) {
		wait_data(w, c, buf, res);
		return;
	}
	x = http__ctx_get(w, c);
	if (!x) {
		pool_put(w->pc, buf, res);
		http__error(w, c, 503);
		return;
	}
	if (x->state == HS_IDLE) {
		http__client_ip(w, c, x);
		http__head_begin(w, c);
	}
	if (x->state == HS_BODY && !x->req_done) {
		req_body(w, c, buf, 0, res, true);
	} else if (x->state == HS_HEAD || x->state == HS_BODY) {
		bool ok =
		    http__head_append(w, &x->rhead, &x->rlen, &x->rcap, buf, res, http__maxbuf(w));

		pool_put(w->pc, buf, res);
		if (!ok && x->state == HS_BODY)
			http__req_fail(w, c,
			               431); /* pipelined past the limit: the upstream goes too */
		else if (!ok)
			http__error(w, c, x->rlen > x->rp.lim.max_line ? 431 : 414);
		else if (x->state == HS_HEAD)
			http__client_parse(w, c);
		else if (x->rlen >= HTTP_PIPELINE_MAX)
			xprt_stop_read(w, c); /* enough queued: stop reading */
	} else {
		pool_put(w->pc, buf, res);
	}
}

void http__client_eof(struct worker *w, struct conn *c)
{
	struct http_ctx *x;

	wait_end(w, c); /* a head cut short: logged as any */
	x = hx_of(c);

	if (x && x->state == HS_TUNNEL) {
		pump_eof(w, c);
		return;
	}
	if (x && x->state == HS_BODY && x->req_done) {
		x->keep_alive = false; /* half-close after a request: answer it */
		return;
	}
	http__log_cause(c, 'C');
	pump_close_pair(w, c);
}

void http__client_error(struct worker *w, struct conn *c, int err)
{
	wait_end(w, c);
	http__log_cause(c, 'C');
	pump_close_pair(w, c);
}

void http__client_drained(struct worker *w, struct conn *c)
{
	struct conn *u = ring_peer(w, c);

	if (!u)
		return;
	pump_unpause(w, u, c);
	if (hx_of(c) && hx_of(c)->state == HS_TUNNEL)
		pump_eof(w, u);
}

static void client_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	const struct cfg_timeouts *to = &ring_listener(w, c)->cfg->timeouts;
	struct http_ctx *x = hx_of(c);
	struct conn *u = ring_peer(w, c);
	uint64_t due;

	if (c->flags & HC_F_WAIT) {
		due = http__wait_due(w, c);
		if (w->now >= due) {
			wait_timeout(w, c);
			return;
		}
	} else if (!x || x->state == HS_IDLE) {
		due = c->last_ms + ((c->flags & HC_F_FIRST) ? to->header : to->idle);
		if (w->stopping && due > c->last_ms + WORKER_HANDOVER_IDLE_MS)
			due = c->last_ms + WORKER_HANDOVER_IDLE_MS;
		if (w->now >= due) {
			WSTAT_INC(w, idle_timeouts);
			ring_close(w, c);
			return;
		}
		if (x)
			http__ctx_put(w, c); /* parked long enough */
	} else if (x->state == HS_HEAD) {
		due = x->head_start + to->header;
		if (w->now >= due) {
			http__error(w, c, 408);
			return;
		}
	} else if (x->state == HS_BODY && u && !x->resp_head) {
		uint64_t last = u->last_ms > c->last_ms ? u->last_ms : c->last_ms;

		due = last + to->server;
		if (w->now >= due) {
			http__log_cause(c, 's');
			http__req_fail(w, c, 504);
			return;
		}
	} else {
		uint64_t last = u && u->last_ms > c->last_ms ? u->last_ms : c->last_ms;
		uint64_t lim = to->client < to->server ? to->client : to->server;

		/* A quiet tunnel is held to idle, one with bytes waiting to
		 * client/server, as a TCP session is. */
		if (x->state == HS_TUNNEL && !c->out_bytes && !(u && u->out_bytes))
			lim = to->idle;
		due = last + lim;
		if (w->now >= due) {
			http__log_cause(c, 'c');
			pump_close_pair(w, c);
			return;
		}
	}
	timer_arm(w->tw, t, due);
}

void http__accept(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);

	timer_init(&c->tm, client_timer);
	c->pctx = NULL;
	c->pword = 0;
	/* A new connection owes its first head within timeouts.header (as
	 * nginx's client_header_timeout and HAProxy's timeout http-request):
	 * one that sends nothing is closed then, not held for timeouts.idle. */
	c->flags |= HC_F_FIRST;
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.header);
	xprt_read(w, c);
}

/* Shutdown: idle keep-alive client connections close now, as nginx does.
 * One that has not sent its first request yet (it may be on its way: the
 * client cannot know the connection was never used), and in a handover
 * every idle one, gets WORKER_HANDOVER_IDLE_MS for a request, answered
 * with Connection: close (w->stopping): a client that sends one at once, as
 * a load generator or a busy browser does, sees a clean end after an
 * answer rather than a close under its request. */
void http__client_drain(struct worker *w, struct conn *c)
{
	bool idle = !hx_of(c) || hx_of(c)->state == HS_IDLE;

	if (c->flags & HC_F_WAIT)
		return; /* a head in progress finishes, as in a context */
	if (idle && !w->handover && !(c->flags & HC_F_FIRST))
		ring_close(w, c);
	else if (idle && !(c->flags & CONN_F_CLOSING))
		timer_arm(w->tw, &c->tm, w->now); /* client_timer() sets the shorter due */
}

void http__client_release(struct worker *w, struct conn *c)
{
	wait_end(w, c);
	http__ctx_put(w, c);
}
