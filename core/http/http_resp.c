/* The HTTP upstream side (http-int.h): the response is read on the
 * upstream connection, its head parsed and rewritten (h1_build_response),
 * its body framed by h1_body_feed() and streamed to the client. 1xx heads
 * are forwarded and the next head is read. When both messages are complete
 * the upstream goes to the idle pool (if both ends allow keep-alive) and the
 * client either parses the next pipelined request already received or goes
 * back to waiting with no buffer.
 *
 * An upgrade request goes up with its Upgrade header; a 101 answer turns
 * the pair into a tunnel (HS_TUNNEL): the 101 head and the bytes after each
 * head are forwarded first, then the pair is a byte pump (pump.c). The ctx
 * stays attached for the tunnel's life; its upstream is never reused.
 */
#include <errno.h>
#include <string.h>

#include "core/base/log.h"
#include "core/loop/bufq.h"
#include "core/loop/lstat.h"
#include "core/parse/h1.h"
#include "core/http/http-int.h"
#include "core/loop/ops.h"
#include "core/proto/pump.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"
#include "core/loop/upstream.h"

static void response_done(struct worker *w, struct conn *c, struct conn *u, bool reusable);

static void resp_body(struct worker *w, struct conn *c, struct conn *u, char *buf, uint32_t off,
                      uint32_t n, bool own)
{
	struct http_ctx *x = hx_of(c);
	bool done = false;
	size_t fwd;
	int64_t k;

	/* <buf> is ours either way (a received buffer, or shead): a chunked
	 * body for an HTTP/1.0 client loses its framing in place. */
	if (x->dechunk) {
		k = h1_body_dechunk(&x->sb, buf + off, n, &done, &fwd);
	} else {
		k = h1_body_feed(&x->sb, buf + off, n, &done);
		fwd = k < 0 ? 0 : (size_t)k;
	}
	if (k < 0) {
		if (own)
			pool_put(w->pc, buf, off + n);
		http__log_cause(c, 'S');
		pump_close_pair(w, c);
		return;
	}
	if (fwd) {
		x->sent_any = true;
		http__log_bytes(c, 0, fwd);
		if (!http__forward(w, c, buf, off, (uint32_t)fwd, off + n, own)) {
			pump_close_pair(w, c);
			return;
		}
		if (own && off)
			pool_put(w->pc, buf, off + n);
	} else if (own) {
		pool_put(w->pc, buf, off + n);
	}
	/* The last response of a connection that closes: its transport may
	 * end the stream in the same send (TLS: close_notify with it). */
	if (done && (!x->keep_alive || !x->req_done))
		c->flags |= CONN_F_CLOSE_AFTER;
	xprt_flush(w, c); /* this body part, or the head before it */
	if (done)
		response_done(w, c, u, (uint64_t)k == n);
	else
		pump_pause_if_full(w, u, c);
}

/* The backend answered 101 to an upgrade: forward the head, then the bytes
 * that came after each head (the client's in rhead, the backend's in
 * shead), and from then on bytes both ways. The upstream is never reused:
 * it closes with the client. */
static void tunnel_start(struct worker *w, struct conn *c, struct conn *u, uint32_t hlen)
{
	struct http_ctx *x = hx_of(c);
	int cls = pool_class_of(hlen + 256);
	char *hb = cls < 0 ? NULL : pool_get(w->pc, cls);
	int n = hb ? h1_build_response(&x->resp, false, hb, pool_class_size(cls)) : -ENOSPC;

	if (n < 0 || !(x->req.flags & H1_F_UPGRADE) || !x->req_done) {
		/* No upgrade was asked for (or its body is still going up):
		 * the 101 cannot be honoured. */
		if (hb)
			pool_put(w->pc, hb, pool_class_size(cls));
		http__req_fail(w, c, 502);
		return;
	}
	x->state = HS_TUNNEL;
	lstat_code(ring_listener(w, c)->st->http, 101);
	upstream_count_status(w, u, 101);
	x->resp_head = x->sent_any = true;
	if (x->lg.on)
		x->lg.t_resp = w->now;
	http__log_bytes(c, 0, (uint64_t)n);
	x->keep_alive = x->up_keep = false;
	if (xprt_queue(w, c, hb, (uint32_t)n, (uint32_t)n) < 0 ||
	    !http__forward(w, c, x->shead, hlen, x->slen - hlen, 0, false) ||
	    !http__forward(w, u, x->rhead, 0, x->rlen, 0, false)) {
		pump_close_pair(w, c);
		return;
	}
	xprt_flush(w, c);
	xprt_flush(w, u);
	pump_eof(w, c); /* the client may have half-closed already */
	if (!(c->flags & CONN_F_CLOSING))
		http__client_resume(w, c);
}

static void resp_head(struct worker *w, struct conn *c, struct conn *u, uint32_t hlen);

/* A 1xx head (not 101) in shead: sent on to an HTTP/1.1 client (none to
 * an HTTP/1.0 one, RFC 9110 15.2), then the next head is read. Interim
 * answers count against HTTP_INTERIM_MAX per request and against the
 * client's max_buffer_size like any data: the upstream is not read while
 * the client has that much queued. */
static void interim(struct worker *w, struct conn *c, struct conn *u, uint32_t hlen)
{
	struct http_ctx *x = hx_of(c);
	uint32_t rest = x->slen - hlen, fl = x->sp.flags & H1_F_HEAD_REQ;
	struct h1_limits lim;
	int cls, n, r;
	char *hb;

	if (++x->ninterim > HTTP_INTERIM_MAX) {
		http__req_fail(w, c, 502);
		return;
	}
	if (x->req.minor) {
		cls = pool_class_of(hlen + 256) < 0 ? BUF_GIANT : pool_class_of(hlen + 256);
		hb = pool_get(w->pc, cls);
		n = hb ? h1_build_response(&x->resp, true, hb, pool_class_size(cls)) : -ENOSPC;
		if (n < 0 || xprt_queue(w, c, hb, (uint32_t)n, (uint32_t)n) < 0) {
			if (hb && n < 0)
				pool_put(w->pc, hb, pool_class_size(cls));
			http__req_fail(w, c, 502);
			return;
		}
		xprt_flush(w, c);
		pump_pause_if_full(w, u, c);
	}
	h1_msg_release(&x->resp);
	memmove(x->shead, x->shead + hlen, rest);
	x->slen = rest;
	http__limits(w, c, &lim);
	h1_parser_init(&x->sp, true, &lim);
	x->sp.flags |= fl;
	memset(&x->resp, 0, sizeof(x->resp));
	if (!rest)
		return;
	r = h1_parse(&x->sp, x->shead, x->slen, &x->resp);
	if (r > 0)
		resp_head(w, c, u, (uint32_t)r);
	else if (r < 0)
		http__req_fail(w, c, 502);
}

/* A complete response head in shead. */
static void resp_head(struct worker *w, struct conn *c, struct conn *u, uint32_t hlen)
{
	struct http_ctx *x = hx_of(c);
	uint32_t rest = x->slen - hlen;
	char *hb;
	int n, cls;

	if (x->resp.status >= 500)
		upstream_passive_fail(w, u);
	else if (x->resp.status >= 200)
		upstream_passive_ok(w, u);
	if (x->resp.status == 101) {
		tunnel_start(w, c, u, hlen);
		return;
	}
	if (x->resp.status < 200) {
		interim(w, c, u, hlen);
		return;
	}
	/* An HTTP/1.0 client is never sent Transfer-Encoding (RFC 9112 6.1):
	 * a chunked body reaches it without its framing, close-delimited; a
	 * coding other than chunked could not be undone for it. */
	if (!x->req.minor && (x->resp.flags & H1_F_TE_OTHER) && x->resp.body != H1_BODY_NONE) {
		http__req_fail(w, c, 502);
		return;
	}
	if (!x->req.minor) {
		for (int t = -1; (t = h1_msg_find(&x->resp, H1_H_TRANSFER_ENCODING, t + 1)) >= 0;)
			x->resp.hdrs[t].hop = 1;
		x->dechunk = x->resp.body == H1_BODY_CHUNKED;
		if (x->dechunk)
			x->keep_alive = false;
	}
	x->resp_head = true;
	x->up_keep = !(x->resp.flags & H1_F_CLOSE) && x->resp.body != H1_BODY_CLOSE;
	if (!x->up_keep)
		x->keep_alive = false;
	cls = pool_class_of(hlen + 256);
	hb = cls < 0 ? NULL : pool_get(w->pc, cls);
	n = hb ? h1_build_response(&x->resp, x->keep_alive, hb, pool_class_size(cls)) : -ENOSPC;
	if (n < 0) {
		if (hb)
			pool_put(w->pc, hb, pool_class_size(cls));
		http__req_fail(w, c, 502);
		return;
	}
	x->sent_any = true;
	if (x->lg.on)
		x->lg.t_resp = w->now;
	http__log_bytes(c, 0, (uint64_t)n);
	if (xprt_queue(w, c, hb, (uint32_t)n, (uint32_t)n) < 0) {
		pump_close_pair(w, c);
		return;
	}
	/* No send yet: resp_body() sends, so a small body that came with
	 * the head leaves in the same segment. */
	h1_body_init(&x->sb, &x->resp);
	resp_body(w, c, u, x->shead, hlen, rest, false);
}

static void response_done(struct worker *w, struct conn *c, struct conn *u, bool reusable)
{
	struct http_ctx *x = hx_of(c);
	struct wlistener *ls = ring_listener(w, c);

	lstat_code(ls->st->http, x->resp.status);
	lstat_hist_add(&ls->st->dur, clock_us() - x->t0_us);
	upstream_count_status(w, u, x->resp.status);
	http__log_end(w, c, x->resp.status);
	c->peer = u->peer = CONN_NONE;
	upstream_lb_end(w, u);
	/* The upstream's keep-alive is its own: a client that closes does
	 * not cost the backend connection. But on a listener a reload has
	 * retired, only the clients it already has can reuse it: kept only
	 * while this client stays, so retired listeners cannot fill the idle
	 * list with connections nobody will take. */
	if (reusable && x->up_keep && x->req_done && upstream_idle_put(w, u, x->keep_alive)) {
		/* An idle upstream keeps a recv armed, so a backend closing it
		 * is seen (and the connection dropped) before anyone reuses it. */
		u->flags &= ~CONN_F_PAUSED;
		xprt_read(w, u);
	} else {
		ring_close(w, u);
	}
	if (!x->keep_alive || !x->req_done) {
		ring_close_after(w, c);
		return;
	}
	x->state = HS_IDLE;
	if (x->rlen) {
		http__head_begin(w, c);
		http__client_parse(w, c);
		return;
	}
	/* A busy keep-alive client sends its next request within
	 * milliseconds: from its second request on, it keeps its context
	 * (and its head buffers, parsed address) for HTTP_PARK_MS, and
	 * the client timer gives them back if nothing came. Only under Normal
	 * pressure and up to HTTP_PARK_MAX per worker, so idle connections
	 * (and those that made one request) hold no buffer. */
	if (!http__park(w, c)) {
		http__ctx_put(w, c);
		timer_arm(w->tw, &c->tm,
		          w->now +
		              (w->handover ? WORKER_HANDOVER_IDLE_MS : ls->cfg->timeouts.idle));
	}
	http__client_resume(w, c);
}

void http__up_data(struct worker *w, struct conn *u, char *buf, uint32_t res)
{
	struct conn *c = ring_peer(w, u);
	struct http_ctx *x = c ? hx_of(c) : NULL;

	if (x && x->state == HS_TUNNEL) {
		if (!pump_data(w, u, buf, res))
			pump_close_pair(w, u);
		return;
	}
	if (!x) {
		/* An idle upstream spoke: it is not reusable. */
		pool_put(w->pc, buf, res);
		ring_close(w, u);
		return;
	}
	if (x->resp_head) {
		resp_body(w, c, u, buf, 0, res, true);
	} else {
		bool ok =
		    http__head_append(w, &x->shead, &x->slen, &x->scap, buf, res, http__maxbuf(w));
		int r = ok ? h1_parse(&x->sp, x->shead, x->slen, &x->resp) : -502;

		pool_put(w->pc, buf, res);
		if (r > 0) {
			resp_head(w, c, u, (uint32_t)r);
		} else if (r < 0) {
			http__log_cause(c, 'P');
			http__req_fail(w, c, 502);
		}
	}
}

void http__up_eof(struct worker *w, struct conn *u)
{
	struct conn *c = ring_peer(w, u);
	struct http_ctx *x = c ? hx_of(c) : NULL;

	if (x && x->state == HS_TUNNEL) {
		pump_eof(w, u);
		return;
	}
	if (!x) {
		ring_close(w, u);
		return;
	}
	if (x->resp_head && x->sb.kind == H1_BODY_CLOSE) {
		x->keep_alive = false;
		response_done(w, c, u, false);
		return;
	}
	http__log_cause(c, 'S');
	http__req_fail(w, c, 502);
}

/* A recv or send of <u> failed. Before any response byte went to the
 * client, the client gets a 502. */
void http__up_error(struct worker *w, struct conn *u, int err)
{
	struct conn *c = ring_peer(w, u);
	struct http_ctx *x = c ? hx_of(c) : NULL;

	if (err == -ECONNRESET)
		upstream_passive_fail(w, u);
	http__log_cause(c, 'S');
	if (!x || x->state == HS_TUNNEL) {
		pump_close_pair(w, u);
		return;
	}
	http__req_fail(w, c, 502);
}

void http__up_drained(struct worker *w, struct conn *u)
{
	struct conn *c = ring_peer(w, u);

	if (!c)
		return;
	pump_unpause(w, c, u);
	if (hx_of(c) && hx_of(c)->state == HS_TUNNEL)
		pump_eof(w, c);
}

void http__up_connected(struct worker *w, struct conn *u, int res)
{
	struct conn *c = ring_peer(w, u);
	struct bufq q;
	uint32_t qb;
	struct conn *nu;

	if (upstream_connected(w, u, res)) {
		if (!c) {
			ring_close(w, u);
			return;
		}
		if (hx_of(c) && hx_of(c)->lg.on)
			hx_of(c)->lg.t_conn = w->now;
		xprt_read(w, u);
		xprt_flush(w, u);
		return;
	}
	upstream_lb_end(w, u);
	u->peer = CONN_NONE;
	/* Nothing was sent: the request moves to another backend. */
	q = u->out;
	qb = u->out_bytes;
	u->out.head = u->out.tail = NULL;
	u->out_bytes = 0;
	ring_close(w, u);
	if (c) {
		c->peer = CONN_NONE;
		nu = http__upstream_for(w, c);
		if (nu) {
			nu->out = q;
			nu->out_bytes = qb;
			if (nu->flags & CONN_F_CONNECTED)
				xprt_flush(w, nu);
			return;
		}
	}
	u->out = q; /* nobody takes it: given back with <u> */
	u->out_bytes = qb;
	bufq_drop(w, u);
}

void http__up_resume(struct worker *w, struct conn *u)
{
	if (!(u->flags & (CONN_F_PAUSED | CONN_F_CLOSING)) &&
	    (u->peer != CONN_NONE || (u->flags & CONN_F_IDLE)))
		xprt_read(w, u);
}

/* Shutdown: idle upstreams close now. */
void http__up_drain(struct worker *w, struct conn *u)
{
	if (u->flags & CONN_F_IDLE)
		ring_close(w, u);
}

void http__up_release(struct worker *w, struct conn *u)
{
	upstream_release(w, u);
}
