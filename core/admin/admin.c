/* The admin endpoint's protocol (admin.h): requests parsed by h1.c, one at
 * a time per connection, answered from memory (a malloc'd response queued
 * by reference, freed once sent), keep-alive unless the client or an error
 * says otherwise. A request head must fit ADMIN_HEAD_MAX (431), a body
 * ADMIN_BODY_MAX (413, bodies are read and ignored); anything h1_parse()
 * refuses gets its 4xx and the connection closes.
 *
 * Per connection: <pctx> is a struct admin_conn, made at the first byte.
 * While a POST /reload waits, the connection's timer polls the reload
 * record every ADMIN_POLL_MS (the control thread writes it).
 *
 * Memory: admin buffers are malloc'd, not pooled: at most
 * config.admin.max_connections connections, one request and one response
 * each, and none of it is on the data path.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/admin/admin.h"
#include "core/admin/admin-int.h"
#include "core/base/log.h"
#include "core/base/macros.h"
#include "core/base/timer.h"
#include "core/lb/backend.h"
#include "core/loop/bufq.h"
#include "core/loop/ops.h"
#include "core/loop/ring.h"
#include "core/mem/pool.h"
#include "core/parse/h1.h"

#define ADMIN_HEAD_MAX   8192u
#define ADMIN_BODY_MAX   4096u
#define ADMIN_POLL_MS    20
#define ADMIN_RELOAD_MAX 60000 /* ms a POST /reload waits for the control thread */

struct admin_conn {
	char *in; /* bytes received, not yet answered */
	uint32_t len, cap;
	char *out;          /* the response being sent */
	struct buf ob;      /* its descriptor in the out queue (bufq_queue_own()) */
	bool waiting;       /* POST /reload: for the record to reach <target> */
	bool close;         /* that answer closes the connection */
	bool head;          /* that request was HEAD */
	uint64_t target;    /* reload sequence number awaited */
	uint64_t wait_till; /* ms */
};

/* ---- what the control thread tells us ---- */

static struct {
	pthread_mutex_t lock;
	uint64_t started, done; /* reloads begun and ended */
	uint64_t gen;           /* generation the last one tried */
	bool ok;
	char *errors;
} reloads = {.lock = PTHREAD_MUTEX_INITIALIZER};

void admin_set_source(const struct admin_src *s)
{
	admin__set_src(s);
}

void admin_note_leaks(unsigned n)
{
	atomic_fetch_add_explicit(&admin__count.leak_reports, n, memory_order_relaxed);
}

void admin_reload_begin(void)
{
	pthread_mutex_lock(&reloads.lock);
	reloads.started++;
	pthread_mutex_unlock(&reloads.lock);
}

void admin_reload_end(uint64_t gen, bool ok, const char *errors)
{
	char *e = errors && *errors ? strdup(errors) : NULL;

	pthread_mutex_lock(&reloads.lock);
	free(reloads.errors);
	reloads.errors = e;
	reloads.gen = gen;
	reloads.ok = ok;
	reloads.done = reloads.started;
	pthread_mutex_unlock(&reloads.lock);
	atomic_fetch_add_explicit(ok ? &admin__count.reloads_ok : &admin__count.reloads_failed, 1,
	                          memory_order_relaxed);
}

/* ---- answers ---- */

static const char *reason_of(int st)
{
	switch (st) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 422:
		return "Unprocessable Content";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

static struct admin_conn *ac_of(struct conn *c)
{
	return c->pctx;
}

/* Queues the answer <st> with <body> (taken: freed here or once sent) on
 * <c>. <extra> are more header lines. */
static void respond(struct worker *w, struct conn *c, int st, const char *ctype, struct sb *body,
                    const char *extra)
{
	struct admin_conn *a = ac_of(c);
	struct sb out = {0};
	size_t blen = body && body->p ? body->len : 0;

	if (st >= 400 && st != 401 && st != 404 && st != 405 && st != 422 && st != 503 && st != 504)
		a->close = true; /* malformed: 4xx and close */
	if (w->stopping)
		a->close = true;
	atomic_fetch_add_explicit(&admin__count.requests[st / 100 < 6 ? st / 100 : 0], 1,
	                          memory_order_relaxed);
	admin__sb_printf(&out,
	                 "HTTP/1.1 %d %s\r\nServer: ringlb\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
	                 st, reason_of(st), ctype, blen, extra ? extra : "",
	                 a->close ? "Connection: close\r\n" : "");
	if (blen && !a->head)
		admin__sb_put(&out, body->p, blen);
	if (body)
		free(body->p);
	/* The endpoint's own descriptor: a full accountant cannot refuse it. */
	if (out.oom || bufq_queue_own(w, c, &a->ob, out.p, (uint32_t)out.len) < 0) {
		free(out.p);
		ring_close(w, c);
		return;
	}
	a->out = out.p;
	if (a->close) {
		c->flags |= CONN_F_CLOSE_AFTER;
		xprt_stop_read(w, c);
	}
	xprt_flush(w, c);
}

static void respond_text(struct worker *w, struct conn *c, int st, const char *text,
                         const char *extra)
{
	struct sb b = {0};

	admin__sb_printf(&b, "%s\n", text);
	respond(w, c, st, "text/plain; charset=utf-8", &b, extra);
}

/* ---- paths ---- */

/* Whether the request carries the token, compared in constant time: the
 * time depends on the length of what the client sent, never on the token. */
static bool authorized(const struct config *cfg, const struct h1_msg *m)
{
	const char *tok = cfg->admin_token;
	size_t tlen = tok ? strlen(tok) : 0;
	int i = h1_msg_find(m, H1_H_AUTHORIZATION, 0);
	const char *v;
	size_t n;
	volatile unsigned char d;

	if (!tok)
		return true;
	if (i < 0)
		return false;
	v = m->hdrs[i].value.p;
	n = m->hdrs[i].value.len;
	if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	n -= 7;
	while (n && *v == ' ') {
		v++;
		n--;
	}
	d = tlen != n;
	for (size_t k = 0; k < n; k++)
		d |= (unsigned char)v[k] ^ (unsigned char)tok[k % tlen];
	return d == 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes [s, s + n) into <out> (<cap> bytes); false on a bad
 * escape, a NUL or no room. */
static bool url_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return false;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (!ch || o + 1 >= cap)
			return false;
		out[o++] = (char)ch;
	}
	out[o] = 0;
	return true;
}

/* POST /backends/POOL/ADDR/ACTION, <rest> after "/backends/". */
static void backends_post(struct worker *w, struct conn *c, const char *rest, size_t n)
{
	static const char *const actions[] = {"enable", "drain", "disable"};
	const char *s1 = memchr(rest, '/', n),
		   *s2 = s1 ? memrchr(s1 + 1, '/', n - (s1 + 1 - rest)) : NULL;
	char pool[128], addr[128], msg[400];
	struct sb b = {0};
	int a = -1, ret;

	if (!s1 || !s2 || s2 == s1 + 1 || s1 == rest) {
		respond_text(w, c, 404, "not found: POST /backends/POOL/ADDR/drain|disable|enable",
		             NULL);
		return;
	}
	for (unsigned i = 0; i < 3; i++)
		if ((size_t)(rest + n - s2 - 1) == strlen(actions[i]) &&
		    !memcmp(s2 + 1, actions[i], strlen(actions[i])))
			a = (int)i;
	if (!url_decode(rest, (size_t)(s1 - rest), pool, sizeof(pool)) ||
	    !url_decode(s1 + 1, (size_t)(s2 - s1 - 1), addr, sizeof(addr))) {
		respond_text(w, c, 400, "bad request: bad percent-encoding in the path", NULL);
		return;
	}
	if (a < 0) {
		respond_text(w, c, 404, "not found: the action is drain, disable or enable", NULL);
		return;
	}
	ret = backend_set_admin(pool, addr, (enum backend_admin)a);
	if (ret == -ENOENT) {
		snprintf(msg, sizeof(msg), "not found: no backend %s in pool %s", addr, pool);
		respond_text(w, c, 404, msg, NULL);
		return;
	}
	log_info("admin: backend pool=%s addr=%s %s", pool, addr, actions[a]);
	admin__sb_printf(&b, "{\"pool\":");
	admin__sb_json_str(&b, pool);
	admin__sb_printf(&b, ",\"backend\":");
	admin__sb_json_str(&b, addr);
	admin__sb_printf(&b, ",\"admin\":\"%s\"}\n", actions[a]);
	respond(w, c, 200, "application/json", &b, NULL);
}

static void reload_answer(struct worker *w, struct conn *c)
{
	struct sb b = {0};
	bool ok;

	pthread_mutex_lock(&reloads.lock);
	ok = reloads.ok;
	admin__sb_printf(&b, "{\"result\":\"%s\",\"generation\":%llu,\"running\":%llu,\"errors\":[",
	                 ok ? "ok" : "failed", (unsigned long long)reloads.gen,
	                 (unsigned long long)(ok ? reloads.gen : w->cfg->generation));
	for (const char *p = reloads.errors, *e; p && *p; p = e + (*e == '\n')) {
		char line[1024];

		e = strchrnul(p, '\n');
		snprintf(line, sizeof(line), "%.*s", (int)(e - p), p);
		admin__sb_printf(&b, "%s", p == reloads.errors ? "" : ",");
		admin__sb_json_str(&b, line);
	}
	pthread_mutex_unlock(&reloads.lock);
	admin__sb_printf(&b, "]}\n");
	respond(w, c, ok ? 200 : 422, "application/json", &b, NULL);
}

/* POST /reload: as SIGHUP (the control thread reads it from its signalfd),
 * then wait for the record of the first reload that starts after now. */
static void reload_post(struct worker *w, struct conn *c)
{
	struct admin_conn *a = ac_of(c);

	pthread_mutex_lock(&reloads.lock);
	a->target = reloads.started + 1;
	pthread_mutex_unlock(&reloads.lock);
	if (kill(getpid(), SIGHUP) < 0) {
		respond_text(w, c, 500, "reload: cannot signal the control thread", NULL);
		return;
	}
	a->waiting = true;
	a->wait_till = w->now + ADMIN_RELOAD_MAX;
	timer_arm(w->tw, &c->tm, w->now + ADMIN_POLL_MS);
}

static void config_get(struct worker *w, struct conn *c)
{
	struct sb b = {0};
	FILE *f = open_memstream(&b.p, &b.len);

	if (!f) {
		respond_text(w, c, 500, "out of memory", NULL);
		return;
	}
	config_print(w->cfg, f);
	if (fclose(f) != 0) {
		free(b.p);
		respond_text(w, c, 500, "out of memory", NULL);
		return;
	}
	b.cap = b.len + 1;
	respond(w, c, 200, "text/plain; charset=utf-8", &b, NULL);
}

static bool path_is(const struct h1_str *p, const char *s)
{
	return p->len == strlen(s) && !memcmp(p->p, s, p->len);
}

static void route(struct worker *w, struct conn *c, const struct h1_msg *m)
{
	static const char unauth[] = "WWW-Authenticate: Bearer realm=\"ringlb\"\r\n";
	bool get = (m->method.len == 3 && !memcmp(m->method.p, "GET", 3)) || m->is_head;
	bool post = m->method.len == 4 && !memcmp(m->method.p, "POST", 4);
	struct h1_str path = m->path;
	const char *q = memchr(path.p, '?', path.len);
	struct sb b = {0};

	if (q)
		path.len = (uint32_t)(q - path.p);
	if (path_is(&path, "/health") && get) {
		if (w->stopping)
			respond_text(w, c, 503, "draining", NULL);
		else if (!admin__src())
			respond_text(w, c, 503, "starting", NULL);
		else
			respond_text(w, c, 200, "ok", NULL);
		return;
	}
	if (!authorized(w->cfg, m)) {
		atomic_fetch_add_explicit(&admin__count.unauthorized, 1, memory_order_relaxed);
		respond_text(w, c, 401, "unauthorized: Authorization: Bearer TOKEN (admin.token)",
		             unauth);
		return;
	}
	if (path_is(&path, "/metrics") || path_is(&path, "/stats")) {
		bool prom = path.len == 8;

		if (!get) {
			respond_text(w, c, 405, "method not allowed", "Allow: GET, HEAD\r\n");
			return;
		}
		if (!admin__src()) {
			respond_text(w, c, 503, "starting", NULL);
			return;
		}
		if (prom)
			admin__metrics(&b, w);
		else
			admin__stats_json(&b, w);
		if (b.oom) {
			free(b.p);
			respond_text(w, c, 500, "out of memory", NULL);
			return;
		}
		respond(w, c, 200,
		        prom ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", &b,
		        NULL);
		return;
	}
	if (path_is(&path, "/config")) {
		if (get)
			config_get(w, c);
		else
			respond_text(w, c, 405, "method not allowed", "Allow: GET, HEAD\r\n");
		return;
	}
	if (path_is(&path, "/reload")) {
		if (post)
			reload_post(w, c);
		else
			respond_text(w, c, 405, "method not allowed", "Allow: POST\r\n");
		return;
	}
	if (path.len > 10 && !memcmp(path.p, "/backends/", 10)) {
		if (post)
			backends_post(w, c, path.p + 10, path.len - 10);
		else
			respond_text(w, c, 405, "method not allowed", "Allow: POST\r\n");
		return;
	}
	respond_text(w, c, 404, "not found: /metrics /stats /config /health /reload /backends/",
	             NULL);
}

/* ---- the connection ---- */

static void ac_consume(struct admin_conn *a, uint32_t n)
{
	memmove(a->in, a->in + n, a->len - n);
	a->len -= n;
}

/* Answers the next complete request in <c>'s input, if there is one and
 * nothing is being answered. */
static void process(struct worker *w, struct conn *c)
{
	const struct h1_limits lim = {.max_head = ADMIN_HEAD_MAX};
	struct admin_conn *a = ac_of(c);
	struct h1_parser hp;
	struct h1_msg m;
	uint64_t need;
	int r;

	if (!a || a->out || a->waiting || !a->len ||
	    (c->flags & (CONN_F_CLOSE_AFTER | CONN_F_CLOSING)))
		return;
	memset(&m, 0, sizeof(m));
	h1_parser_init(&hp, false, &lim);
	r = h1_parse(&hp, a->in, a->len, &m);
	if (r == 0) {
		h1_msg_release(&m);
		if (a->len >= ADMIN_HEAD_MAX) {
			a->len = 0;
			respond_text(w, c, 431, "request header too large", NULL);
		}
		return;
	}
	if (r < 0) {
		/* Everything the parser refuses is the client's fault here (an
		 * HTTP version we do not speak too): a 4xx, then close. */
		a->len = 0;
		respond_text(w, c, -r < 500 ? -r : 400, "bad request", NULL);
		return;
	}
	need = (uint64_t)r + (m.body == H1_BODY_LENGTH ? m.content_length : 0);
	if (m.body == H1_BODY_CHUNKED || need > (uint64_t)ADMIN_HEAD_MAX + ADMIN_BODY_MAX) {
		a->len = 0;
		h1_msg_release(&m);
		respond_text(w, c, m.body == H1_BODY_CHUNKED ? 411 : 413,
		             "request bodies are not read here", NULL);
		return;
	}
	if (a->len < need) {
		h1_msg_release(&m);
		return; /* the body is still coming */
	}
	a->head = m.is_head;
	a->close = (m.flags & H1_F_CLOSE) != 0;
	route(w, c, &m);
	h1_msg_wipe(&m, a->in); /* the token */
	h1_msg_release(&m);
	ac_consume(a, (uint32_t)need);
	if (!a->waiting)
		timer_arm(w->tw, &c->tm, w->now + ring_listener(w, c)->cfg->timeouts.idle);
}

/* Takes <len> bytes the client sent (the caller keeps <buf>). */
static void admin_take(struct worker *w, struct conn *c, const char *buf, uint32_t len)
{
	struct admin_conn *a = ac_of(c);
	uint32_t cap = ADMIN_HEAD_MAX + ADMIN_BODY_MAX;

	if (!a) {
		a = c->pctx = calloc(1, sizeof(*a));
		if (a)
			a->in = malloc(cap);
		if (!a || !a->in) {
			ring_close(w, c);
			return;
		}
		a->cap = cap;
	}
	if (c->flags & CONN_F_CLOSE_AFTER)
		return; /* an answer that closes is on its way */
	if (len > a->cap - a->len) {
		/* More than a request can hold, before it was answered. */
		a->len = 0;
		if (a->out || a->waiting)
			ring_close(w, c);
		else
			respond_text(w, c, 431, "request too large", NULL);
		return;
	}
	if (!a->len && !a->out && !a->waiting)
		timer_arm(w->tw, &c->tm, w->now + ring_listener(w, c)->cfg->timeouts.header);
	memcpy(a->in + a->len, buf, len);
	a->len += len;
	process(w, c);
}

static void admin_data(struct worker *w, struct conn *c, char *buf, uint32_t len)
{
	admin_take(w, c, buf, len);
	pool_put(w->pc, buf, len);
}

static void admin_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	struct admin_conn *a = ac_of(c);
	bool done;

	if (a && a->waiting) {
		pthread_mutex_lock(&reloads.lock);
		done = reloads.done >= a->target;
		pthread_mutex_unlock(&reloads.lock);
		if (done || w->now >= a->wait_till) {
			a->waiting = false;
			if (done)
				reload_answer(w, c);
			else
				respond_text(w, c, 504, "reload: no answer from the control thread",
				             NULL);
			return;
		}
		timer_arm(w->tw, t, w->now + ADMIN_POLL_MS);
		return;
	}
	if (a && a->len && !a->out) {
		a->len = 0;
		respond_text(w, c, 408, "request timeout", NULL);
		return;
	}
	if (a && a->out) {
		timer_arm(w->tw, t, w->now + ring_listener(w, c)->cfg->timeouts.client);
		return;
	}
	ring_close(w, c);
}

static void admin_accept(struct worker *w, struct conn *c)
{
	timer_init(&c->tm, admin_timer);
	timer_arm(w->tw, &c->tm, w->now + ring_listener(w, c)->cfg->timeouts.header);
	xprt_read(w, c);
}

static void admin_drained(struct worker *w, struct conn *c)
{
	struct admin_conn *a = ac_of(c);

	if (ring_sending(c) || !a)
		return;
	free(a->out);
	a->out = NULL;
	if (c->flags & CONN_F_CLOSE_AFTER)
		return; /* the transport closes it */
	process(w, c);
	if (!a->out && !(c->flags & (CONN_F_RECV | CONN_F_BUFWAIT | CONN_F_CLOSING)))
		xprt_read(w, c);
}

static void admin_resume(struct worker *w, struct conn *c)
{
	if (!(c->flags & (CONN_F_CLOSE_AFTER | CONN_F_CLOSING)))
		xprt_read(w, c);
}

static void admin_eof(struct worker *w, struct conn *c)
{
	c->flags |= CONN_F_RD_EOF;
	ring_close_after(w, c);
}

static void admin_error(struct worker *w, struct conn *c, int err)
{
	ring_close(w, c);
}

/* The receive ring is dry (under Critical pressure a flood can hold every
 * buffer for as long as it lasts): the endpoint reads into its own memory
 * instead of waiting for a pool buffer, so it answers while the proxy is
 * starved. A poll says when bytes (or the end) are there. */
static bool admin_nobufs(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = ring_sqe(w);

	io_uring_prep_poll_add(sqe, c->fd, POLLIN | POLLRDHUP);
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_POLL_IN));
	c->inflight++;
	return true;
}

static void admin_polled(struct worker *w, struct conn *c, uint8_t op, int res)
{
	char tmp[4096];
	ssize_t n;

	if (op != OP_POLL_IN || (c->flags & CONN_F_CLOSING))
		return;
	n = res < 0 ? res : recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
	if (n < 0 && n != res)
		n = -errno;
	if (n == -EAGAIN || n == -EINTR) {
		admin_nobufs(w, c);
	} else if (n == 0) {
		admin_eof(w, c);
	} else if (n < 0) {
		admin_error(w, c, (int)n);
	} else {
		struct admin_conn *a;

		WSTAT_ADD(w, bytes_in, n);
		admin_take(w, c, tmp, (uint32_t)n);
		a = ac_of(c);
		/* As after a receive: read on unless an answer is on its way
		 * (drained() reads on once it is sent). */
		if (a && !a->out &&
		    !(c->flags &
		      (CONN_F_RECV | CONN_F_BUFWAIT | CONN_F_CLOSING | CONN_F_CLOSE_AFTER)))
			xprt_read(w, c);
	}
}

static void admin_drain(struct worker *w, struct conn *c)
{
	struct admin_conn *a = ac_of(c);

	if (!(c->flags & CONN_F_CLOSING) && !ring_sending(c) && (!a || (!a->len && !a->waiting)))
		ring_close(w, c);
}

static void admin_release(struct worker *w, struct conn *c)
{
	struct admin_conn *a = ac_of(c);

	if (!a)
		return;
	timer_cancel(w->tw, &c->tm);
	free(a->out);
	free(a->in);
	free(a);
	c->pctx = NULL;
}

static int admin_prepare(struct worker *w, struct wlistener *ls)
{
	ls->serves_stop = true; /* /health says 503 while the worker drains */
	/* Bounded (16 connections) and in memory of its own: the operator's
	 * view stays open under Critical pressure, when it matters most. */
	ls->unpressured = true;
	return 0;
}

static const struct proto_ops admin_proto = {
    .name = "admin",
    .records = 1,
    .prepare = admin_prepare,
    .accept = admin_accept,
    .data = admin_data,
    .eof = admin_eof,
    .error = admin_error,
    .drained = admin_drained,
    .resume = admin_resume,
    .nobufs = admin_nobufs,
    .polled = admin_polled,
    .drain = admin_drain,
    .abort = ring_close,
    .release = admin_release,
};

int admin_register(void)
{
	int id = ops_proto_add(&admin_proto);

	if (id < 0)
		return id;
	ops_mode_set(LMODE_ADMIN, id);
	return 0;
}
