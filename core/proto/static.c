/* The static listener: ringlb's built-in demo and test backend. It answers
 * every HTTP GET (and HEAD) on a connection with one fixed body, a string
 * from the config or a file the config loader mapped once, with
 * keep-alive and pipelining. It is not a general web server: other methods
 * get 405, requests with a body get 400, and each ends the connection.
 * Heads are read by the proxy's parser (h1.c).
 *
 * Responses are precomputed per listener when it is prepared (ls->pctx,
 * struct static_ls) and queued by reference, never copied: header and a
 * small body in one send, or the header (MSG_MORE) and the mapped file.
 *
 * Per connection: <pctx> is a head split across reads (struct static_head,
 * one small pool buffer), <pword> the responses queued since the queue was
 * last empty (at most STATIC_QUEUE: a deeper pipeline is answered and
 * closed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse/h1.h"
#include "core/loop/listen.h"
#include "core/base/macros.h"
#include "core/loop/ops.h"
#include "core/mem/pool.h"
#include "core/loop/ring.h"
#include "core/proto/static.h"
#include "core/base/timer.h"

#define STATIC_INLINE_MAX (16u << 10) /* bodies up to this are copied beside the header */
#define STATIC_QUEUE      8           /* pipelined responses queued per connection */
#define STATIC_REF_MAX    (1u << 30)  /* a mapped body is queued in pieces of this */

enum static_resp {
	R_GET,
	R_GET_CLOSE,
	R_HEAD,
	R_HEAD_CLOSE,
	R_400,
	R_405,
	R_431,
	R_N,
};

struct static_ls {
	char *resp[R_N];
	uint32_t resp_len[R_N];
	const char *body;
	size_t body_len;
};

/* A request head split across reads. */
struct static_head {
	uint32_t len;
	char data[];
};

#define STATIC_HEAD_MAX (POOL_SMALL - sizeof(struct static_head)) /* a head must fit */

static bool resp_closes(unsigned k)
{
	return k == R_GET_CLOSE || k == R_HEAD_CLOSE || k >= R_400;
}

static bool resp_has_body(const struct static_ls *s, unsigned k)
{
	return (k == R_GET || k == R_GET_CLOSE) && s->body_len > STATIC_INLINE_MAX;
}

static int put_resp(struct static_ls *s, const char *name, unsigned k, const char *status,
                    const char *extra, const char *body, size_t body_len, size_t clen)
{
	const char *fmt = "HTTP/1.1 %s\r\nServer: ringlb\r\nX-Served-By: %s\r\n"
			  "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n";
	int hlen = snprintf(NULL, 0, fmt, status, name, clen, extra);
	char *r = malloc(hlen + body_len + 1);

	if (!r)
		return -ENOMEM;
	snprintf(r, hlen + 1, fmt, status, name, clen, extra);
	if (body_len)
		memcpy(r + hlen, body, body_len);
	s->resp[k] = r;
	s->resp_len[k] = hlen + body_len;
	return 0;
}

static void static_unprepare(struct worker *w, struct wlistener *ls)
{
	struct static_ls *s = ls->pctx;

	if (!s)
		return;
	for (unsigned k = 0; k < R_N; k++)
		free(s->resp[k]);
	free(s);
	ls->pctx = NULL;
}

static int static_prepare(struct worker *w, struct wlistener *ls)
{
	static const char *const close_hdr = "Connection: close\r\n";
	const char *name = ls->cfg->name;
	size_t blen = ls->cfg->body_len;
	size_t inl = blen > STATIC_INLINE_MAX ? 0 : blen;
	struct static_ls *s = calloc(1, sizeof(*s));
	int ret = 0;

	if (!s)
		return -ENOMEM;
	ls->pctx = s;
	s->body = ls->cfg->body;
	s->body_len = blen;
	ret |= put_resp(s, name, R_GET, "200 OK", "", s->body, inl, blen);
	ret |= put_resp(s, name, R_GET_CLOSE, "200 OK", close_hdr, s->body, inl, blen);
	ret |= put_resp(s, name, R_HEAD, "200 OK", "", NULL, 0, blen);
	ret |= put_resp(s, name, R_HEAD_CLOSE, "200 OK", close_hdr, NULL, 0, blen);
	ret |= put_resp(s, name, R_400, "400 Bad Request", close_hdr, "bad request\n", 12, 12);
	ret |=
	    put_resp(s, name, R_405, "405 Method Not Allowed",
	             "Allow: GET, HEAD\r\nConnection: close\r\n", "method not allowed\n", 19, 19);
	ret |= put_resp(s, name, R_431, "431 Request Header Fields Too Large", close_hdr,
	                "request header too large\n", 25, 25);
	if (ret) {
		static_unprepare(w, ls);
		return -ENOMEM;
	}
	return 0;
}

/* ---- requests ---- */

/* The answer to one complete request head [p, p + len). A head that came
 * in one read is held to the bound of one kept across reads: 431 past
 * STATIC_HEAD_MAX however it was cut. */
static unsigned classify(const char *p, size_t len)
{
	const struct h1_limits lim = {.max_head = STATIC_HEAD_MAX};
	struct h1_parser hp;
	struct h1_msg m;
	unsigned k;
	int r;

	memset(&m, 0, sizeof(m));
	h1_parser_init(&hp, false, &lim);
	r = h1_parse(&hp, p, len, &m);
	if (r == -431)
		k = R_431;
	else if (r <= 0 || m.body == H1_BODY_CHUNKED ||
	         (m.body == H1_BODY_LENGTH && m.content_length))
		k = R_400; /* no request bodies here */
	else if (m.is_head)
		k = (m.flags & H1_F_CLOSE) ? R_HEAD_CLOSE : R_HEAD;
	else if (m.method.len == 3 && !memcmp(m.method.p, "GET", 3))
		k = (m.flags & H1_F_CLOSE) ? R_GET_CLOSE : R_GET;
	else
		k = R_405;
	h1_msg_release(&m);
	return k;
}

/* Queues the response <k> on <c>; false when no descriptor was free. */
static bool queue_resp(struct worker *w, struct conn *c, unsigned k)
{
	const struct static_ls *s = ring_listener(w, c)->pctx;
	bool body = resp_has_body(s, k);

	if (w->stopping && (k == R_GET || k == R_HEAD))
		k = k == R_GET ? R_GET_CLOSE : R_HEAD_CLOSE; /* the last answer says so */
	c->pword++;
	WSTAT_INC(w, static_requests);
	if (resp_closes(k))
		c->flags |= CONN_F_CLOSE_AFTER;
	if (xprt_queue_ref(w, c, s->resp[k], s->resp_len[k], body) < 0)
		return false;
	for (size_t off = 0; body && off < s->body_len; off += STATIC_REF_MAX) {
		size_t n = s->body_len - off < STATIC_REF_MAX ? s->body_len - off : STATIC_REF_MAX;

		if (xprt_queue_ref(w, c, s->body + off, (uint32_t)n, false) < 0)
			return false;
	}
	return true;
}

static void head_free(struct worker *w, struct conn *c)
{
	struct static_head *h = c->pctx;

	if (h) {
		pool_put(w->pc, h, sizeof(*h) + h->len);
		c->pctx = NULL;
	}
}

/* Completes a head split across reads with the start of <p>. Returns how
 * many bytes of <p> it took, or -1 if the head is still incomplete. */
static long head_complete(struct worker *w, struct conn *c, const char *p, size_t len, bool *ok)
{
	struct static_head *h = c->pctx;
	size_t old = h->len, take = len < STATIC_HEAD_MAX - old ? len : STATIC_HEAD_MAX - old;
	size_t from = old > 3 ? old - 3 : 0;
	char *end;

	memcpy(h->data + old, p, take);
	h->len += take;
	end = memmem(h->data + from, h->len - from, "\r\n\r\n", 4);
	if (!end) {
		if (h->len < STATIC_HEAD_MAX)
			return -1;
		head_free(w, c);
		*ok = queue_resp(w, c, R_431);
		return len;
	}
	end += 4;
	*ok = queue_resp(w, c, classify(h->data, end - h->data));
	take = (end - h->data) - old;
	head_free(w, c);
	return take;
}

/* Keeps the start of a head [p, end) that the next read completes. */
static bool head_keep(struct worker *w, struct conn *c, const char *p, const char *end)
{
	struct static_head *h;

	if ((size_t)(end - p) >= STATIC_HEAD_MAX)
		return queue_resp(w, c, R_431);
	h = pool_get(w->pc, pool_class_of(POOL_SMALL));
	if (!h)
		return queue_resp(w, c, R_431);
	memcpy(h->data, p, end - p);
	h->len = end - p;
	c->pctx = h;
	return true;
}

/* Answers every complete head in [p, p + len); false when no descriptor
 * was free for an answer. */
static bool static_input(struct worker *w, struct conn *c, const char *p, size_t len)
{
	const char *end = p + len;
	bool ok = true;

	if (c->pctx) {
		long took = head_complete(w, c, p, len, &ok);

		if (took < 0 || !ok)
			return ok;
		p += took;
	}
	while (p < end && !(c->flags & CONN_F_CLOSE_AFTER)) {
		const char *q = memmem(p, end - p, "\r\n\r\n", 4);

		if (c->pword == STATIC_QUEUE) {
			/* Too deep a pipeline: answer what is queued, then close. */
			c->flags |= CONN_F_CLOSE_AFTER;
			break;
		}
		if (!q)
			return head_keep(w, c, p, end);
		if (!queue_resp(w, c, classify(p, q + 4 - p)))
			return false;
		p = q + 4;
	}
	return true;
}

static void static_data(struct worker *w, struct conn *c, char *buf, uint32_t len)
{
	bool ok = (c->flags & CONN_F_CLOSE_AFTER) || static_input(w, c, buf, len);

	pool_put(w->pc, buf, len);
	if (!ok) {
		ring_close(w, c);
		return;
	}
	if (c->flags & CONN_F_CLOSE_AFTER)
		xprt_stop_read(w, c);
	xprt_flush(w, c);
}

static void static_resume(struct worker *w, struct conn *c)
{
	if (!(c->flags & (CONN_F_CLOSE_AFTER | CONN_F_CLOSING)))
		xprt_read(w, c);
}

/* EOF or an error: finish what is queued, then close. */
static void static_eof(struct worker *w, struct conn *c)
{
	c->flags |= CONN_F_RD_EOF;
	ring_close_after(w, c);
}

static void static_error(struct worker *w, struct conn *c, int err)
{
	ring_close(w, c);
}

static void static_drained(struct worker *w, struct conn *c)
{
	if (ring_sending(c))
		return;
	c->pword = 0;
	if (c->flags & CONN_F_CLOSE_AFTER)
		return; /* the transport closes it */
	if (w->stopping && !w->handover) {
		ring_close(w, c);
		return;
	}
	/* In a handover, an answer queued before it said keep-alive: the
	 * client may send its next request now; that one is answered with
	 * Connection: close, or the connection closes once idle for
	 * WORKER_HANDOVER_IDLE_MS. */
	if (w->handover)
		timer_arm(w->tw, &c->tm, w->now + WORKER_HANDOVER_IDLE_MS);
	if (!(c->flags & (CONN_F_RECV | CONN_F_BUFWAIT)))
		xprt_read(w, c);
}

static void static_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	uint64_t limit = ring_listener(w, c)->cfg->timeouts.idle;

	if (w->stopping && limit > WORKER_HANDOVER_IDLE_MS)
		limit = WORKER_HANDOVER_IDLE_MS;

	if (w->now >= c->last_ms + limit) {
		WSTAT_INC(w, idle_timeouts);
		ring_close(w, c);
		return;
	}
	timer_arm(w->tw, t, c->last_ms + limit);
}

static void static_accept(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);

	timer_init(&c->tm, static_timer);
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.idle);
	xprt_read(w, c);
}

/* Shutdown: an idle keep-alive connection closes now; one that has read
 * nothing yet (its first request may be on its way), and in a handover
 * every idle one, gets WORKER_HANDOVER_IDLE_MS for a request (answered
 * with Connection: close), as http.c's client side. */
static void static_drain(struct worker *w, struct conn *c)
{
	if ((c->flags & CONN_F_CLOSING) || ring_sending(c) || c->pctx)
		return;
	if (w->handover || !c->rx_bytes)
		timer_arm(w->tw, &c->tm, w->now); /* static_timer() sets the shorter due */
	else
		ring_close(w, c);
}

static void static_release(struct worker *w, struct conn *c)
{
	head_free(w, c);
}

static const struct proto_ops static_proto = {
    .name = "static",
    .records = 1,
    .prepare = static_prepare,
    .unprepare = static_unprepare,
    .accept = static_accept,
    .data = static_data,
    .eof = static_eof,
    .error = static_error,
    .drained = static_drained,
    .resume = static_resume,
    .drain = static_drain,
    .abort = ring_close,
    .release = static_release,
};

int static_register(void)
{
	int id = ops_proto_add(&static_proto);

	if (id < 0)
		return id;
	ops_mode_set(LMODE_STATIC, id);
	return 0;
}
