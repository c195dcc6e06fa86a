/* The HTTP/1.1 reverse proxy: `mode: http` listeners.
 *
 * A client connection (CONN_K_HCLIENT) holds no buffer and no context while
 * it waits for a request. When bytes arrive it takes a context (one 4 KiB
 * pool buffer: parsers, messages, framing state) and a head buffer (4 KiB,
 * grown by class up to max_buffer_size: past it 431). Once the request head
 * is complete it is routed (host, path prefix), a backend is picked, an idle
 * upstream connection to it is reused or a new one connected, and the
 * rewritten head goes upstream (h1_build_request: hop-by-hop removed,
 * X-Forwarded-For/-Proto, X-Real-IP, Via when the listener sets via:).
 * Body bytes stream as they arrive: the provided buffers themselves are
 * queued on the peer (no copy), and a direction with max_buffer_size
 * queued stops reading its sender.
 *
 * The response is read the same way on the upstream connection
 * (CONN_K_HUP): its head is parsed and rewritten, its body framed by
 * h1_body_feed() and streamed. 1xx heads are forwarded and the next head is
 * read. When both messages are complete the upstream goes to the worker's
 * idle list (if both ends allow keep-alive) and the client either parses the
 * next pipelined request already received or goes back to waiting with no
 * buffer. Requests on one connection are answered strictly in order:
 * while one is in flight, bytes of the next ones are read ahead into rhead
 * up to HTTP_PIPELINE_MAX, then the client is not read until it is done
 * (the multishot recv stays armed between requests: no cancel and re-arm
 * per request).
 *
 * An upgrade request (H1_F_UPGRADE) goes up with its Upgrade header; a 101
 * answer turns the pair into a tunnel (HS_TUNNEL): the 101 head and the
 * bytes after each head are forwarded first, then received buffers are
 * queued on the peer as in the L4 pump (max_buffer_size backpressure,
 * half-close forwarded, closed when both directions are done). The ctx
 * stays attached for the tunnel's life; its upstream is never reused.
 *
 * Errors answer from small built-in pages (or the listener's error_pages:
 * files, mapped at config load and copied into pool buffers) and close:
 * the parser's 400, 414, 431, 501, 505; 408 when a head takes longer than
 * timeouts.header; 413 past max_body_size; 502 when no backend could be connected (a failed connect
 * is retried on another backend while nothing was sent); 503 with no
 * backend or under Critical memory pressure; 504 when the backend is silent
 * for timeouts.server before its response head.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/acct.h"
#include "core/h1.h"
#include "core/lb.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/worker-int.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

#define HTTP_IDLE_MAX     4096        /* idle upstream connections per worker, all backends */
#define HTTP_PIPELINE_MAX (16u << 10) /* pipelined bytes read ahead of the request in flight */
#define HTTP_PARK_MS      50  /* a keep-alive client keeps its ctx this long after a response */
#define HTTP_PARK_MAX     256 /* parked contexts per worker */

enum http_state {
	HS_IDLE,   /* no request in progress */
	HS_HEAD,   /* reading a request head */
	HS_BODY,   /* request sent upstream (its body may still stream) */
	HS_ERROR,  /* an error page is queued: close once it is sent */
	HS_TUNNEL, /* upgraded: bytes both ways */
};

/* The cold part of a client connection, attached while a request is in
 * progress: exactly one 4 KiB pool buffer. */
struct http_ctx {
	struct h1_parser rp, sp; /* request, response */
	struct h1_msg req, resp;
	struct h1_body_state rb, sb;
	char *rhead; /* request head buffer (pool), then pipelined bytes */
	uint32_t rlen, rcap;
	char *shead; /* response head buffer (pool) */
	uint32_t slen, scap;
	uint64_t head_start; /* ms: first byte of the current request head */
	uint8_t state;
	bool req_done, resp_head, keep_alive, sent_any;
	bool up_keep;   /* the backend keeps its connection open after this response */
	bool parked;    /* HS_IDLE with the context kept (counted in http_nparked) */
	int16_t pi;     /* the request's pool (route()), -1: none; kept for retries */
	uint64_t lbkey; /* its maglev key: the head it came from is gone by a retry */
	char ip[INET6_ADDRSTRLEN];
};

_Static_assert(sizeof(struct http_ctx) <= POOL_SMALL, "the context is one small buffer");

static void http_timer(struct timer *t, void *arg);
static bool forward(struct worker *w, struct conn *to, char *buf, uint32_t off, uint32_t k,
                    uint32_t written, bool own);

/* ---- error pages ---- */

static const char *status_text(int st)
{
	switch (st) {
	case 400:
		return "Bad Request";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/* The listener's page for <st> from error_pages:, or NULL. */
static const struct cfg_error_page *error_page(const struct cfg_listener *l, int st)
{
	static const int sts[] = {CFG_ERROR_STATUSES};

	for (unsigned i = 0; i < CFG_NERROR_PAGES; i++)
		if (sts[i] == st)
			return l->error_pages[i].file ? &l->error_pages[i] : NULL;
	return NULL;
}

/* Writes the head and body of the page for <st> into a pool buffer, with
 * as much of the file's body as fits; *sent says how much of it did. */
static char *error_build(struct worker *w, int st, const struct cfg_error_page *pg, int *n,
                         size_t *sent)
{
	const char *text = status_text(st);
	size_t blen = pg ? pg->len : strlen(text) + 5;
	int cls = pool_class_of(blen + 256 > POOL_GIANT ? POOL_GIANT : blen + 256);
	size_t cap = pool_class_size(cls);
	char *b = pool_get(w->pc, cls);

	if (!b)
		return NULL;
	*n = snprintf(b, cap,
	              "HTTP/1.1 %d %s\r\nServer: ringlb\r\nContent-Type: %s\r\n"
	              "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
	              st, text, pg ? "text/html" : "text/plain", blen,
	              st == 503 ? "Retry-After: 1\r\n" : "");
	*sent = cap - (size_t)*n < blen ? cap - (size_t)*n : blen;
	if (pg && *sent)
		memcpy(b + *n, pg->data, *sent);
	else if (!pg)
		snprintf(b + *n, cap - (size_t)*n, "%d %s\n", st, text);
	*n += (int)*sent;
	return b;
}

/* Queues the page for <st> on <c> (the listener's file from error_pages:,
 * copied from its mapping, else the built-in text) and closes once it is
 * sent. */
static void http_error(struct worker *w, struct conn *c, int st)
{
	struct http_ctx *x = c->hx;
	const struct cfg_error_page *pg = error_page(worker__listener(w, c)->cfg, st);
	size_t sent = 0;
	int n = 0;
	char *b;

	WSTAT_INC(w, http_errors);
	if (x)
		x->state = HS_ERROR;
	b = error_build(w, st, pg, &n, &sent);
	if (!b) {
		worker__close(w, c);
		return;
	}
	worker__cancel_recv(w, c);
	c->flags |= CONN_F_CLOSE_AFTER;
	if (worker__queue(w, c, b, (uint32_t)n) < 0 ||
	    (pg &&
	     !forward(w, c, pg->data, (uint32_t)sent, (uint32_t)(pg->len - sent), 0, false))) {
		worker__close(w, c);
		return;
	}
	worker__send_next(w, c);
}

/* ---- context ---- */

static struct http_ctx *ctx_get(struct worker *w, struct conn *c)
{
	struct http_ctx *x = c->hx;

	if (x)
		return x;
	x = pool_get(w->pc, BUF_SMALL);
	if (!x)
		return NULL;
	c->hx = x;
	return x;
}

static void unpark(struct worker *w, struct http_ctx *x)
{
	if (x->parked) {
		x->parked = false;
		w->http_nparked--;
	}
}

/* Gives back the head buffers and the context: the connection waits with
 * no buffer again. Secrets in the request head are wiped first. */
static void ctx_put(struct worker *w, struct conn *c)
{
	struct http_ctx *x = c->hx;

	if (!x)
		return;
	unpark(w, x);
	if (x->rhead) {
		h1_msg_wipe(&x->req, x->rhead);
		/* rcap, not rlen: a head moved down (dispatch_request(), 1xx)
		 * leaves bytes written past the current length. */
		pool_put(w->pc, x->rhead, x->rcap);
	}
	h1_msg_release(&x->req);
	h1_msg_release(&x->resp);
	if (x->shead)
		pool_put(w->pc, x->shead, x->scap);
	c->hx = NULL;
	pool_put(w->pc, x, sizeof(*x));
}

/* Appends <n> bytes to a head buffer, growing it by class; false when it
 * would pass <max> or no buffer is to be had. */
static bool head_append(struct worker *w, char **buf, uint32_t *len, uint32_t *cap,
                        const char *data, uint32_t n, uint64_t max)
{
	if (*len + n > *cap) {
		uint64_t want = *len + n;
		int cls = pool_class_of(want < POOL_SMALL ? POOL_SMALL : want);
		char *nb;

		if (cls < 0 || want > max)
			return false;
		nb = pool_get(w->pc, cls);
		if (!nb)
			return false;
		if (*buf) {
			memcpy(nb, *buf, *len);
			pool_put(w->pc, *buf, *cap); /* written past *len after a move */
		}
		*buf = nb;
		*cap = (uint32_t)pool_class_size(cls);
	}
	memmove(*buf + *len, data, n);
	*len += n;
	return true;
}

/* ---- upstream side ---- */

static bool path_has_prefix(struct h1_str path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (!path.len || path.p[0] == '?') { /* http://host or http://host?q: the path is "/" */
		if (prefix[0] != '/')
			return false;
		prefix++;
		n--;
		if (!path.len)
			return n == 0;
	}
	return path.len >= n && !memcmp(path.p, prefix, n);
}

static struct cfg_pool *route(struct wlistener *ls, const struct h1_msg *m, int *idx)
{
	const struct cfg_listener *l = ls->cfg;
	struct config *cfg = ls->gen->cfg;

	for (unsigned i = 0; i < l->nroutes; i++) {
		const struct cfg_route *r = &l->routes[i];
		size_t hl = m->host.len;
		const char *h = m->host.p, *colon = memchr(h, ':', hl);

		if (colon && h[0] != '[')
			hl = (size_t)(colon - h);
		if (r->host) {
			size_t rl = strlen(r->host);

			if (r->host[0] == '*') {
				if (hl < rl - 1 ||
				    strncasecmp(h + hl - (rl - 1), r->host + 1, rl - 1))
					continue;
			} else if (hl != rl || strncasecmp(h, r->host, rl)) {
				continue;
			}
		}
		if (r->path && !path_has_prefix(m->path, r->path))
			continue;
		*idx = r->pool_idx;
		return &cfg->pools[r->pool_idx];
	}
	*idx = l->pool_idx;
	return l->pool_idx >= 0 ? &cfg->pools[l->pool_idx] : NULL;
}

/* The pool of upstream <u>, in its listener's snapshot. */
static const struct cfg_pool *up_pool(struct worker *w, const struct conn *u)
{
	return &worker__listener(w, u)->gen->cfg->pools[u->hpool];
}

/* This worker's count of idle upstreams to <u>'s backend (its listener's
 * generation), and the list of them: one per backend, so a request finds
 * its backend's idle connections without walking the others'. */
static uint32_t *idle_count(struct worker *w, const struct conn *u)
{
	struct wgen *g = worker__listener(w, u)->gen;

	return &g->nidle[g->nidle_at[u->hpool] + (uint32_t)u->backend];
}

static uint32_t *idle_list(struct wgen *g, int pi, int b)
{
	return &g->idle_head[g->nidle_at[pi] + (uint32_t)b];
}

/* An idle upstream of listener <lsi> to backend <b> of pool <pi>, unlinked;
 * NULL when there is none. */
static struct conn *idle_take(struct worker *w, uint16_t lsi, int pi, int b)
{
	uint32_t *pp = idle_list(w->ls[lsi]->gen, pi, b);

	while (*pp != CONN_NONE) {
		struct conn *u = &w->ct.c[*pp];

		if (u->listener == lsi && u->backend == b && u->hpool == pi &&
		    !(u->flags & CONN_F_CLOSING)) { /* a closing one is unlinked at release */
			*pp = u->idle_next;
			u->idle_next = CONN_NONE;
			u->flags &= ~CONN_F_IDLE;
			w->http_nidle--;
			(*idle_count(w, u))--;
			timer_cancel(w->tw, &u->tm); /* the client's timer covers it now */
			return u;
		}
		pp = &u->idle_next;
	}
	return NULL;
}

static void idle_unlink(struct worker *w, struct conn *u)
{
	uint32_t *pp = idle_list(worker__listener(w, u)->gen, u->hpool, u->backend);
	uint32_t slot = worker__slot(w, u);

	while (*pp != CONN_NONE && *pp != slot)
		pp = &w->ct.c[*pp].idle_next;
	if (*pp == slot) {
		*pp = u->idle_next;
		w->http_nidle--;
		(*idle_count(w, u))--;
	}
	u->flags &= ~CONN_F_IDLE;
}

static void link_pair(struct worker *w, struct conn *c, struct conn *u)
{
	u->peer = worker__slot(w, c);
	c->peer = worker__slot(w, u);
}

/* Maglev's key for a request: the value of the pool's header:NAME when the
 * request has it, else (and for client_ip) the client's address. */
static uint64_t maglev_key(const struct http_ctx *x, const struct cfg_pool *pool)
{
	const char *name = pool->hash && !strncmp(pool->hash, "header:", 7) ? pool->hash + 7 : NULL;

	if (name) {
		size_t n = strlen(name);

		for (uint32_t i = 0; i < x->req.nhdrs; i++) {
			const struct h1_hdr *h = &x->req.hdrs[i];

			if (h->name.len == n && !strncasecmp(h->name.p, name, n))
				return lb_hash(h->value.p, h->value.len);
		}
	}
	return lb_hash(x->ip, strlen(x->ip));
}

/* Finds an upstream for <c>'s request: an idle one, or a new connection.
 * Returns it, or NULL after answering the client (502/503). */
static struct conn *upstream_for(struct worker *w, struct conn *c)
{
	struct wlistener *ls = worker__listener(w, c);
	int pi = c->hx->pi, b, err = 0;
	struct cfg_pool *pool = pi >= 0 ? &ls->gen->cfg->pools[pi] : NULL;
	struct conn *u;

	if (!pool || !pool->nbackends) {
		WSTAT_INC(w, no_backend);
		http_error(w, c, 503);
		return NULL;
	}
	while ((b = worker__pick(w, ls, pi, c, c->hx->lbkey)) >= 0) {
		u = idle_take(w, c->listener, pi, b);
		if (u) {
			WSTAT_INC(w, http_reused);
			link_pair(w, c, u);
			lb_conn_start(snapshot_lb(ls->gen->cfg, pi), b);
			return u;
		}
		u = worker__upstream(w, ls, pi, c, b, CONN_K_HUP, &err);
		if (u) {
			u->idle_next = CONN_NONE;
			timer_init(&u->tm, http_timer);
			return u;
		}
		if (err == -ENOSPC)
			break;
	}
	WSTAT_INC(w, no_backend);
	http_error(w, c, c->ntried ? 502 : 503);
	return NULL;
}

/* ---- shared pieces ---- */

/* The end of a multishot recv that is no error: the ring ran out of
 * buffers (wait for one) or we cancelled it (read again unless paused).
 * Returns false for anything else. */
static bool recv_retry(struct worker *w, struct conn *c, int res)
{
	if (res == -ENOBUFS) {
		worker__bufwait(w, c);
		worker__watch(w, c);
	} else if (res == -ECANCELED)
		http_resume(w, c);
	else
		return false;
	return true;
}

static void client_parse(struct worker *w, struct conn *c);
static void client_resume(struct worker *w, struct conn *c);
static void tunnel_recv(struct worker *w, struct conn *s, int res, uint32_t flags);

/* Queues <k> bytes at <buf>+<off> on <to>: <buf> itself when it is a
 * received buffer of ours starting there (<own>, off 0), else a copy.
 * <written> is how far <buf> was written (its zeroing prefix). Returns
 * false when no buffer could be had. */
static bool forward(struct worker *w, struct conn *to, char *buf, uint32_t off, uint32_t k,
                    uint32_t written, bool own)
{
	if (!k)
		return true;
	if (own && !off) {
		if (worker__queue_used(w, to, buf, k, written) < 0)
			return false;
		return true;
	}
	while (k) {
		uint32_t n = k < POOL_GIANT ? k : POOL_GIANT;
		int cls = pool_class_of(n);
		char *copy = pool_get(w->pc, cls);

		if (!copy)
			return false;
		memcpy(copy, buf + off, n);
		if (worker__queue(w, to, copy, n) < 0)
			return false;
		off += n;
		k -= n;
	}
	return true;
}

static uint64_t maxbuf(struct worker *w)
{
	return w->cfg->memory_tuning.max_buffer_size;
}

static void close_pair(struct worker *w, struct conn *c)
{
	struct conn *p = worker__peer(w, c);

	c->peer = CONN_NONE;
	if (p) {
		p->peer = CONN_NONE;
		worker__close(w, p);
	}
	worker__close(w, c);
}

void http_close_pair(struct worker *w, struct conn *c)
{
	close_pair(w, c);
}

/* Stops reading <x> while its peer's queue is full. */
static void pause_if_full(struct worker *w, struct conn *x, struct conn *p)
{
	if (p->out_bytes >= maxbuf(w) && !(x->flags & CONN_F_PAUSED)) {
		x->flags |= CONN_F_PAUSED;
		worker__cancel_recv(w, x);
		worker__watch(w, x); /* a reset while paused still ends the pair */
	}
}

static void unpause(struct worker *w, struct conn *x, struct conn *p)
{
	if ((x->flags & CONN_F_PAUSED) && p->out_bytes <= maxbuf(w) / 2) {
		x->flags &= ~CONN_F_PAUSED;
		if (x->kind == CONN_K_HCLIENT)
			client_resume(w, x);
		else
			worker__arm_recv(w, x);
	}
}

static void lb_end(struct worker *w, struct conn *u)
{
	if (u->flags & CONN_F_LBACTIVE) {
		struct config *cfg = worker__listener(w, u)->gen->cfg;

		u->flags &= ~CONN_F_LBACTIVE;
		lb_conn_end(snapshot_lb(cfg, u->hpool), u->backend);
	}
}

/* ---- the request ---- */

/* Answers <st> on <c> mid-request: its upstream (if any) holds a message
 * cut short, so it is closed, never kept for reuse nor left to the drain. */
static void req_fail(struct worker *w, struct conn *c, int st)
{
	struct conn *u = worker__peer(w, c);

	if (u) {
		u->peer = c->peer = CONN_NONE;
		worker__close(w, u);
	}
	/* Once response bytes went out, an error page behind them would be
	 * garbage to the client: the connection just ends. */
	if (c->hx && c->hx->sent_any)
		worker__close(w, c);
	else
		http_error(w, c, st);
}

/* Feeds request body bytes [off, off+n) of <buf> (<own>: a received
 * buffer, ours to queue or give back). Bytes past the body are the next
 * request: kept in rhead. Returns false after an error answer. */
static bool req_body(struct worker *w, struct conn *c, char *buf, uint32_t off, uint32_t n,
                     bool own)
{
	struct http_ctx *x = c->hx;
	struct conn *u = worker__peer(w, c);
	uint64_t max = worker__listener(w, c)->cfg->max_body_size;
	bool done = false;
	int64_t k = h1_body_feed(&x->rb, buf + off, n, &done);

	/* max_body_size counts payload, not chunk framing (as nginx does). */
	if (k < 0 || (max && x->rb.data > max)) {
		if (own)
			pool_put(w->pc, buf, off + n);
		req_fail(w, c, k < 0 ? 400 : 413);
		return false;
	}
	if ((uint64_t)k < n && !head_append(w, &x->rhead, &x->rlen, &x->rcap, buf + off + k,
	                                    n - (uint32_t)k, maxbuf(w))) {
		if (own)
			pool_put(w->pc, buf, off + n);
		req_fail(w, c, 431);
		return false;
	}
	if (u && k) {
		if (!forward(w, u, buf, off, (uint32_t)k, off + n, own)) {
			req_fail(w, c, 503);
			return false;
		}
		if (u->flags & CONN_F_CONNECTED)
			worker__send_next(w, u);
		pause_if_full(w, c, u);
	} else if (own) {
		pool_put(w->pc, buf, off + n);
	}
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
	uint64_t max = worker__listener(w, c)->cfg->max_body_size;
	struct h1_body_state probe;
	bool done = false;
	int64_t k;

	h1_body_init(&probe, &c->hx->req);
	k = h1_body_feed(&probe, buf, n, &done);
	if (k < 0 || (max && probe.data > max)) {
		http_error(w, c, k < 0 ? 400 : 413);
		return false;
	}
	return true;
}

/* A complete head in rhead: route, pick, rewrite, send. */
static void dispatch_request(struct worker *w, struct conn *c, uint32_t hlen)
{
	struct http_ctx *x = c->hx;
	const struct cfg_listener *l = worker__listener(w, c)->cfg;
	uint32_t rest = x->rlen - hlen;
	struct cfg_pool *pool;
	struct conn *u;
	uint64_t to;
	char *hb;
	int n, cls, pi;

	WSTAT_INC(w, http_requests);
	c->ntried = 0;
	x->req_done = x->resp_head = x->sent_any = false;
	x->keep_alive = !(x->req.flags & H1_F_CLOSE) && !w->stopping;
	c->nreq += c->nreq < UINT32_MAX;
	if (l->keepalive_requests && c->nreq >= l->keepalive_requests)
		x->keep_alive = false; /* this response says Connection: close */
	if (l->max_body_size && x->req.body == H1_BODY_LENGTH &&
	    x->req.content_length > l->max_body_size) {
		http_error(w, c, 413);
		return;
	}
	if (rest && !body_ok(w, c, x->rhead + hlen, rest))
		return;
	if (acct_level(w->acct) == ACCT_CRITICAL) {
		WSTAT_INC(w, rejected);
		http_error(w, c, 503);
		return;
	}
	cls = pool_class_of(hlen + 512);
	hb = cls < 0 ? NULL : pool_get(w->pc, cls);
	if (!hb) {
		http_error(w, c, cls < 0 ? 431 : 503);
		return;
	}
	n = h1_build_request(&x->req, x->ip, "http", l->via, hb, pool_class_size(cls));
	if (n < 0) {
		pool_put(w->pc, hb, pool_class_size(cls));
		http_error(w, c, 431);
		return;
	}
	/* Routed once: a retry on another backend (up_connect()) comes after
	 * the head's bytes have been overwritten. */
	pool = route(worker__listener(w, c), &x->req, &pi);
	x->pi = (int16_t)(pool ? pi : -1);
	x->lbkey = pool && pool->algorithm == CFG_ALGO_MAGLEV ? maglev_key(x, pool) : 0;
	u = upstream_for(w, c);
	if (!u) {
		pool_put(w->pc, hb, (size_t)n);
		return;
	}
	u->flags |= CONN_F_LBACTIVE;
	if (worker__queue(w, u, hb, (uint32_t)n) < 0) {
		close_pair(w, c);
		return;
	}
	if (u->flags & CONN_F_CONNECTED)
		worker__send_next(w, u);
	h1_parser_init(&x->sp, true, NULL);
	if (x->req.is_head)
		x->sp.flags |= H1_F_HEAD_REQ;
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
	req_body(w, c, x->rhead, 0, rest, false);
}

static void client_parse(struct worker *w, struct conn *c)
{
	struct http_ctx *x = c->hx;
	int r = h1_parse(&x->rp, x->rhead, x->rlen, &x->req);

	if (r == 0) {
		client_resume(w, c);
		return;
	}
	if (r < 0) {
		http_error(w, c, -r);
		return;
	}
	dispatch_request(w, c, (uint32_t)r);
}

/* Starts a new head in <c>'s context. */
static void head_begin(struct worker *w, struct conn *c)
{
	struct http_ctx *x = c->hx;
	struct wlistener *ls = worker__listener(w, c);
	uint64_t max = maxbuf(w);
	struct h1_limits lim = {.max_head = max > UINT32_MAX ? UINT32_MAX : (uint32_t)max,
	                        .max_hdrs = H1_DEF_MAX_HDRS};

	lim.max_line = lim.max_head < H1_DEF_MAX_LINE ? lim.max_head : H1_DEF_MAX_LINE;
	unpark(w, x);
	c->flags &= ~CONN_F_FIRST;
	h1_msg_release(&x->req);
	h1_parser_init(&x->rp, false, &lim);
	memset(&x->req, 0, sizeof(x->req));
	x->state = HS_HEAD;
	x->head_start = w->now;
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.header);
}

static void client_resume(struct worker *w, struct conn *c)
{
	struct http_ctx *x = c->hx;

	if (c->flags & (CONN_F_RECV | CONN_F_CLOSING | CONN_F_RD_EOF | CONN_F_PAUSED))
		return;
	if (x && (x->state == HS_ERROR || (x->state == HS_BODY && x->req_done)))
		return;
	worker__arm_recv(w, c);
}

static void client_recv(struct worker *w, struct conn *c, int res, uint32_t flags)
{
	struct http_ctx *x;

	if (!(flags & IORING_CQE_F_MORE))
		c->flags &= ~(CONN_F_RECV | CONN_F_CANCELING);
	if (c->hx && c->hx->state == HS_TUNNEL) {
		tunnel_recv(w, c, res, flags);
		return;
	}
	if (res > 0) {
		char *buf = worker__take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);

		WSTAT_ADD(w, bytes_in, res);
		x = ctx_get(w, c);
		if (!x) {
			pool_put(w->pc, buf, res);
			http_error(w, c, 503);
			return;
		}
		if (x->state == HS_IDLE) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);

			if (!x->ip[0] && getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0)
				inet_ntop(ss.ss_family,
				          ss.ss_family == AF_INET
				              ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
				              : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
				          x->ip, sizeof(x->ip));
			head_begin(w, c);
		}
		if (x->state == HS_BODY && !x->req_done) {
			req_body(w, c, buf, 0, (uint32_t)res, true);
		} else if (x->state == HS_HEAD || x->state == HS_BODY) {
			bool ok = head_append(w, &x->rhead, &x->rlen, &x->rcap, buf, (uint32_t)res,
			                      maxbuf(w));

			pool_put(w->pc, buf, res);
			if (!ok)
				http_error(w, c, x->rlen > x->rp.lim.max_line ? 431 : 414);
			else if (x->state == HS_HEAD)
				client_parse(w, c);
			else if (x->rlen >= HTTP_PIPELINE_MAX)
				worker__cancel_recv(w, c); /* enough queued: stop reading */
		} else {
			pool_put(w->pc, buf, res);
		}
		if (!(flags & IORING_CQE_F_MORE))
			client_resume(w, c);
		return;
	}
	if (recv_retry(w, c, res))
		return;
	x = c->hx;
	if (res == 0 && x && x->state == HS_BODY && x->req_done) {
		c->flags |= CONN_F_RD_EOF; /* half-close after a request: answer it */
		x->keep_alive = false;
		return;
	}
	close_pair(w, c);
}

/* ---- the response ---- */

static void response_done(struct worker *w, struct conn *c, struct conn *u, bool reusable);

static void resp_body(struct worker *w, struct conn *c, struct conn *u, char *buf, uint32_t off,
                      uint32_t n, bool own)
{
	struct http_ctx *x = c->hx;
	bool done = false;
	int64_t k = h1_body_feed(&x->sb, buf + off, n, &done);

	if (k < 0) {
		if (own)
			pool_put(w->pc, buf, off + n);
		close_pair(w, c);
		return;
	}
	if (k) {
		x->sent_any = true;
		if (!forward(w, c, buf, off, (uint32_t)k, off + n, own)) {
			close_pair(w, c);
			return;
		}
		if (own && off)
			pool_put(w->pc, buf, off + n);
	} else if (own) {
		pool_put(w->pc, buf, off + n);
	}
	worker__send_next(w, c); /* this body part, or the head before it */
	if (done)
		response_done(w, c, u, (uint64_t)k == n);
	else
		pause_if_full(w, u, c);
}

/* ---- the upgrade tunnel ---- */

static bool in_tunnel(struct worker *w, struct conn *s)
{
	struct conn *p = worker__peer(w, s);
	struct http_ctx *x = s->kind == CONN_K_HCLIENT ? s->hx : p ? p->hx : NULL;

	return x && x->state == HS_TUNNEL;
}

/* A receive completion on either side of a tunnel: the buffer itself is
 * queued on the peer, max_buffer_size queued stops reading <s>. */
static void tunnel_recv(struct worker *w, struct conn *s, int res, uint32_t flags)
{
	struct conn *p = worker__peer(w, s);

	if (res > 0) {
		char *buf = worker__take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);

		WSTAT_ADD(w, bytes_in, res);
		if (!p || worker__queue(w, p, buf, (uint32_t)res) < 0) {
			if (!p)
				pool_put(w->pc, buf, res);
			close_pair(w, s);
			return;
		}
		worker__send_next(w, p);
		pause_if_full(w, s, p);
		if (!(flags & IORING_CQE_F_MORE) && !(s->flags & CONN_F_PAUSED))
			worker__arm_recv(w, s);
		return;
	}
	if (res == 0) {
		s->flags |= CONN_F_RD_EOF;
		worker__fwd_eof(w, s);
		return;
	}
	if (!recv_retry(w, s, res))
		close_pair(w, s);
}

/* The backend answered 101 to an upgrade: forward the head, then the bytes
 * that came after each head (the client's in rhead, the backend's in
 * shead), and from then on bytes both ways. The upstream is never reused:
 * it closes with the client. */
static void tunnel_start(struct worker *w, struct conn *c, struct conn *u, uint32_t hlen)
{
	struct http_ctx *x = c->hx;
	int cls = pool_class_of(hlen + 256);
	char *hb = cls < 0 ? NULL : pool_get(w->pc, cls);
	int n = hb ? h1_build_response(&x->resp, false, hb, pool_class_size(cls)) : -ENOSPC;

	if (n < 0 || !(x->req.flags & H1_F_UPGRADE) || !x->req_done) {
		/* No upgrade was asked for (or its body is still going up):
		 * the 101 cannot be honoured. */
		if (hb)
			pool_put(w->pc, hb, pool_class_size(cls));
		req_fail(w, c, 502);
		return;
	}
	x->state = HS_TUNNEL;
	x->resp_head = x->sent_any = true;
	x->keep_alive = x->up_keep = false;
	if (worker__queue(w, c, hb, (uint32_t)n) < 0 ||
	    !forward(w, c, x->shead, hlen, x->slen - hlen, 0, false) ||
	    !forward(w, u, x->rhead, 0, x->rlen, 0, false)) {
		close_pair(w, c);
		return;
	}
	worker__send_next(w, c);
	worker__send_next(w, u);
	worker__fwd_eof(w, c); /* the client may have half-closed already */
	if (!(c->flags & CONN_F_CLOSING))
		client_resume(w, c);
}

/* A complete response head in shead. */
static void resp_head(struct worker *w, struct conn *c, struct conn *u, uint32_t hlen)
{
	struct http_ctx *x = c->hx;
	uint32_t rest = x->slen - hlen;
	char *hb;
	int n, cls;

	if (x->resp.status == 101) {
		tunnel_start(w, c, u, hlen);
		return;
	}
	if (x->resp.status < 200) {
		/* 1xx: forward, then read the next head. */
		uint32_t fl = x->sp.flags & H1_F_HEAD_REQ;

		int k = pool_class_of(hlen + 256) < 0 ? BUF_GIANT : pool_class_of(hlen + 256);

		hb = pool_get(w->pc, k);
		n = hb ? h1_build_response(&x->resp, true, hb, pool_class_size(k)) : -ENOSPC;
		if (n > 0) {
			if (worker__queue(w, c, hb, (uint32_t)n) == 0)
				worker__send_next(w, c);
		} else if (hb) {
			pool_put(w->pc, hb, pool_class_size(k)); /* a 1xx head too big: dropped */
		}
		h1_msg_release(&x->resp);
		memmove(x->shead, x->shead + hlen, rest);
		x->slen = rest;
		h1_parser_init(&x->sp, true, NULL);
		x->sp.flags |= fl;
		memset(&x->resp, 0, sizeof(x->resp));
		if (rest) {
			int r = h1_parse(&x->sp, x->shead, x->slen, &x->resp);

			if (r > 0)
				resp_head(w, c, u, (uint32_t)r);
			else if (r < 0)
				close_pair(w, c);
		}
		return;
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
		req_fail(w, c, 502);
		return;
	}
	x->sent_any = true;
	if (worker__queue(w, c, hb, (uint32_t)n) < 0) {
		close_pair(w, c);
		return;
	}
	/* No send yet: resp_body() sends, so a small body that came with
	 * the head leaves in the same segment. */
	h1_body_init(&x->sb, &x->resp);
	resp_body(w, c, u, x->shead, hlen, rest, false);
}

static void up_recv(struct worker *w, struct conn *u, int res, uint32_t flags)
{
	struct conn *c = worker__peer(w, u);
	struct http_ctx *x = c ? c->hx : NULL;

	if (!(flags & IORING_CQE_F_MORE))
		u->flags &= ~(CONN_F_RECV | CONN_F_CANCELING);
	if (x && x->state == HS_TUNNEL) {
		tunnel_recv(w, u, res, flags);
		return;
	}
	if (res > 0) {
		char *buf = worker__take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);

		WSTAT_ADD(w, bytes_in, res);
		if (!x) {
			/* An idle upstream spoke: it is not reusable. */
			pool_put(w->pc, buf, res);
			worker__close(w, u);
			return;
		}
		if (x->resp_head) {
			resp_body(w, c, u, buf, 0, (uint32_t)res, true);
		} else {
			bool ok = head_append(w, &x->shead, &x->slen, &x->scap, buf, (uint32_t)res,
			                      maxbuf(w));
			int r = ok ? h1_parse(&x->sp, x->shead, x->slen, &x->resp) : -502;

			pool_put(w->pc, buf, res);
			if (r > 0) {
				resp_head(w, c, u, (uint32_t)r);
			} else if (r < 0) {
				req_fail(w, c, 502);
				return;
			}
		}
		if (!(flags & IORING_CQE_F_MORE) &&
		    !(u->flags & (CONN_F_CLOSING | CONN_F_PAUSED)) && worker__peer(w, u))
			worker__arm_recv(w, u);
		return;
	}
	if (recv_retry(w, u, res))
		return;
	if (!x) {
		worker__close(w, u);
		return;
	}
	if (res == 0 && x->resp_head && x->sb.kind == H1_BODY_CLOSE) {
		x->keep_alive = false;
		response_done(w, c, u, false);
		return;
	}
	req_fail(w, c, 502);
}

static void response_done(struct worker *w, struct conn *c, struct conn *u, bool reusable)
{
	struct http_ctx *x = c->hx;
	struct wlistener *ls = worker__listener(w, c);

	c->peer = u->peer = CONN_NONE;
	lb_end(w, u);
	/* The upstream's keep-alive is its own: a client that closes does
	 * not cost the backend connection. But on a listener a reload has
	 * retired, only the clients it already has can reuse it: kept only
	 * while this client stays, so retired listeners cannot fill the idle
	 * list with connections nobody will take. */
	if (reusable && x->up_keep && x->req_done && w->http_nidle < HTTP_IDLE_MAX &&
	    *idle_count(w, u) < up_pool(w, u)->keepalive.max_idle && !(u->flags & CONN_F_CLOSING) &&
	    !w->stopping && (!ls->retired || x->keep_alive)) {
		u->flags |= CONN_F_IDLE;
		u->idle_next = *idle_list(ls->gen, u->hpool, u->backend);
		*idle_list(ls->gen, u->hpool, u->backend) = worker__slot(w, u);
		w->http_nidle++;
		(*idle_count(w, u))++;
		u->last_ms = w->now;
		/* Never timer_init() here: the timer may be armed (a reused
		 * connection), and re-initialising a linked timer corrupts
		 * the wheel. */
		timer_arm(w->tw, &u->tm, w->now + up_pool(w, u)->keepalive.timeout);
		/* An idle upstream keeps a recv armed, so a backend closing it
		 * is seen (and the connection dropped) before anyone reuses it. */
		u->flags &= ~CONN_F_PAUSED;
		worker__arm_recv(w, u);
	} else {
		worker__close(w, u);
	}
	if (!x->keep_alive || !x->req_done) {
		c->flags |= CONN_F_CLOSE_AFTER;
		if (!c->out.head && !(c->flags & CONN_F_SEND))
			worker__close(w, c);
		return;
	}
	x->state = HS_IDLE;
	if (x->rlen) {
		head_begin(w, c);
		client_parse(w, c);
		return;
	}
	/* A busy keep-alive client sends its next request within
	 * milliseconds: from its second request on, it keeps its context
	 * (and its head buffers, parsed address) for HTTP_PARK_MS, and
	 * http_timer() gives them back if nothing came. Only under Normal
	 * pressure and up to HTTP_PARK_MAX per worker, so idle connections
	 * (and those that made one request) hold no buffer. */
	if (c->nreq >= 2 && w->http_nparked < HTTP_PARK_MAX && acct_level(w->acct) == ACCT_NORMAL &&
	    ls->cfg->timeouts.idle > HTTP_PARK_MS) {
		x->parked = true;
		w->http_nparked++;
		timer_arm(w->tw, &c->tm, w->now + HTTP_PARK_MS);
	} else {
		ctx_put(w, c);
		timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.idle);
	}
	client_resume(w, c);
}

/* ---- connect, send ---- */

static void up_connect(struct worker *w, struct conn *u, int res)
{
	struct conn *c = worker__peer(w, u);
	struct lb *lb = snapshot_lb(worker__listener(w, u)->gen->cfg, u->hpool);
	struct bufq q;
	uint32_t qb;
	struct conn *nu;

	if (res == 0) {
		WSTAT_INC(w, connect_ok);
		lb_connect_ok(lb, u->backend);
		u->flags |= CONN_F_CONNECTED;
		if (!c) {
			worker__close(w, u);
			return;
		}
		worker__arm_recv(w, u);
		worker__send_next(w, u);
		return;
	}
	WSTAT_INC(w, connect_fail);
	if (res == -ECANCELED)
		WSTAT_INC(w, connect_timeout);
	lb_connect_fail(lb, u->backend);
	lb_end(w, u);
	u->peer = CONN_NONE;
	/* Nothing was sent: the request moves to another backend. */
	q = u->out;
	qb = u->out_bytes;
	u->out.head = u->out.tail = NULL;
	u->out_bytes = 0;
	worker__close(w, u);
	if (!c) {
		u->out = q;
		u->out_bytes = qb;
		worker__drop_out(w, u);
		return;
	}
	c->peer = CONN_NONE;
	nu = upstream_for(w, c);
	if (!nu) {
		u->out = q;
		u->out_bytes = qb;
		worker__drop_out(w, u);
		return;
	}
	nu->flags |= CONN_F_LBACTIVE;
	nu->out = q;
	nu->out_bytes = qb;
	if (nu->flags & CONN_F_CONNECTED)
		worker__send_next(w, nu);
}

static void on_sent(struct worker *w, struct conn *s, int res)
{
	struct conn *p = worker__peer(w, s);

	s->flags &= ~CONN_F_SEND;
	if (res < 0) {
		if (s->kind == CONN_K_HUP && p && p->hx && !p->hx->sent_any) {
			s->peer = p->peer = CONN_NONE;
			worker__close(w, s);
			http_error(w, p, 502);
			return;
		}
		close_pair(w, s);
		return;
	}
	worker__sent(w, s, (uint32_t)res);
	worker__send_next(w, s);
	if (p)
		unpause(w, p, s);
	if (p && in_tunnel(w, s))
		worker__fwd_eof(w, p);
	if ((s->flags & CONN_F_CLOSE_AFTER) && !s->out.head && !(s->flags & CONN_F_SEND))
		worker__close(w, s);
}

/* ---- timers ---- */

static void http_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	struct wlistener *ls = worker__listener(w, c);
	const struct cfg_timeouts *to = &ls->cfg->timeouts;
	struct http_ctx *x = c->kind == CONN_K_HCLIENT ? c->hx : NULL;
	struct conn *u = worker__peer(w, c);
	uint64_t due;

	if (c->kind == CONN_K_HUP) {
		uint64_t keep = up_pool(w, c)->keepalive.timeout;

		if ((c->flags & CONN_F_IDLE) && w->now >= c->last_ms + keep) {
			WSTAT_INC(w, idle_timeouts);
			worker__close(w, c);
		} else if (c->flags & CONN_F_IDLE) {
			timer_arm(w->tw, t, c->last_ms + keep);
		}
		return;
	}
	if (!x || x->state == HS_IDLE) {
		due = c->last_ms + ((c->flags & CONN_F_FIRST) ? to->header : to->idle);
		if (w->now >= due) {
			WSTAT_INC(w, idle_timeouts);
			worker__close(w, c);
			return;
		}
		if (x)
			ctx_put(w, c); /* parked long enough */
	} else if (x->state == HS_HEAD) {
		due = x->head_start + to->header;
		if (w->now >= due) {
			http_error(w, c, 408);
			return;
		}
	} else if (x->state == HS_BODY && u && !x->resp_head) {
		uint64_t last = u->last_ms > c->last_ms ? u->last_ms : c->last_ms;

		due = last + to->server;
		if (w->now >= due) {
			req_fail(w, c, 504);
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
			close_pair(w, c);
			return;
		}
	}
	timer_arm(w->tw, t, due);
}

/* ---- the worker's entry points ---- */

void http_accept(struct worker *w, struct wlistener *ls, int fd)
{
	struct conn *c = worker__client(w, ls, fd, CONN_K_HCLIENT, http_timer);

	if (!c)
		return;
	c->hx = NULL;
	c->nreq = 0;
	/* A new connection owes its first head within timeouts.header (as
	 * nginx's client_header_timeout and HAProxy's timeout http-request):
	 * one that sends nothing is closed then, not held for timeouts.idle. */
	c->flags |= CONN_F_FIRST;
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.header);
	worker__arm_recv(w, c);
}

/* Critical pressure at accept: the 503 of the Contracts, then close,
 * taking no buffer (memory is what is short): the listener's 503 page
 * straight from its mapping when it is small, else the built-in text. A
 * fresh socket's send buffer is empty, so one small write cannot block. */
#define HTTP_REJECT_PAGE_MAX (8u << 10)

void http_reject(struct worker *w, struct wlistener *ls, int fd)
{
	static const char page[] = "HTTP/1.1 503 Service Unavailable\r\nServer: ringlb\r\n"
				   "Content-Type: text/plain\r\nContent-Length: 24\r\n"
				   "Retry-After: 1\r\nConnection: close\r\n\r\n"
				   "503 Service Unavailable\n";
	const struct cfg_error_page *pg = error_page(ls->cfg, 503);
	char head[256];
	struct iovec iov[2] = {{(void *)page, sizeof(page) - 1}, {NULL, 0}};
	int n;

	(void)w;
	if (pg && pg->len <= HTTP_REJECT_PAGE_MAX) {
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 503 Service Unavailable\r\nServer: ringlb\r\n"
		             "Content-Type: text/html\r\nContent-Length: %zu\r\n"
		             "Retry-After: 1\r\nConnection: close\r\n\r\n",
		             pg->len);
		iov[0] = (struct iovec){head, (size_t)n};
		iov[1] = (struct iovec){(void *)pg->data, pg->len};
	}
	if (writev(fd, iov, iov[1].iov_len ? 2 : 1) < 0) {
		/* the client is gone: nothing to tell it */
	}
	/* The request is in (TCP_DEFER_ACCEPT): closing with it unread would
	 * send a reset right behind the page, which some clients take before
	 * reading it. Read what is there (a few KiB at most), then close. */
	for (int i = 0; i < 4 && recv(fd, head, sizeof(head), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

void http_dispatch(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags)
{
	switch (op) {
	case OP_RECV:
		if (c->kind == CONN_K_HCLIENT)
			client_recv(w, c, res, flags);
		else
			up_recv(w, c, res, flags);
		break;
	case OP_SEND:
		on_sent(w, c, res);
		break;
	case OP_CONNECT:
		up_connect(w, c, res);
		break;
	case OP_WATCH:
		if (worker__watched(w, c, res))
			close_pair(w, c);
		break;
	default:
		break;
	}
}

void http_resume(struct worker *w, struct conn *c)
{
	if (c->kind == CONN_K_HCLIENT)
		client_resume(w, c);
	else if (!(c->flags & (CONN_F_PAUSED | CONN_F_CLOSING)))
		worker__arm_recv(w, c);
}

void http_release(struct worker *w, struct conn *c)
{
	if (c->kind == CONN_K_HCLIENT) {
		ctx_put(w, c);
		if (c->flags & CONN_F_COUNTED)
			listen_conn_closed(w, worker__listener(w, c));
		return;
	}
	if (c->flags & CONN_F_IDLE)
		idle_unlink(w, c);
	lb_end(w, c);
}

/* <ls> no longer takes new connections (a reload replaced or removed
 * it): its idle upstreams could only serve connections it already has,
 * which the successor does not share, so they close now rather than fill
 * the worker's idle list until timeouts.idle. */
void http_retire(struct worker *w, struct wlistener *ls)
{
	const struct config *cfg = ls->gen->cfg;

	for (unsigned pi = 0; pi < cfg->npools; pi++) {
		for (unsigned b = 0; b < cfg->pools[pi].nbackends; b++) {
			uint32_t *pp = idle_list(ls->gen, (int)pi, (int)b);

			while (*pp != CONN_NONE) {
				struct conn *u = &w->ct.c[*pp];

				if (u->listener != ls->idx) {
					pp = &u->idle_next;
					continue;
				}
				*pp = u->idle_next;
				u->idle_next = CONN_NONE;
				u->flags &= ~CONN_F_IDLE;
				w->http_nidle--;
				(*idle_count(w, u))--;
				worker__close(w, u);
			}
		}
	}
}

/* Shutdown: idle client connections close now, as nginx does. */
void http_drain(struct worker *w, struct conn *c)
{
	if (c->kind == CONN_K_HCLIENT && (!c->hx || c->hx->state == HS_IDLE))
		worker__close(w, c);
	else if (c->kind == CONN_K_HUP && (c->flags & CONN_F_IDLE))
		worker__close(w, c);
}
