/* The static listener: ringlb's built-in demo and test backend. It answers
 * every HTTP GET (and HEAD) on a connection with one fixed body, a string
 * from the config or a file the config loader mapped once, with
 * keep-alive and pipelining. It is not a general web server: other methods
 * get 405, requests with a body get 400, and each ends the connection.
 *
 * Responses are precomputed per listener at start; sending one is one send
 * (header and small body contiguous) or two (header, then the mapped file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pool.h"
#include "core/worker-int.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

#define STATIC_HEAD_MAX   POOL_SMALL  /* a request head must fit 4 KiB */
#define STATIC_INLINE_MAX (16u << 10) /* bodies up to this are copied beside the header */
#define STATIC_QUEUE      8           /* pipelined responses queued per connection */

enum static_resp {
	R_NONE,
	R_GET,
	R_GET_CLOSE,
	R_HEAD,
	R_HEAD_CLOSE,
	R_400,
	R_405,
	R_431,
};

static bool resp_closes(unsigned k)
{
	return k == R_GET_CLOSE || k == R_HEAD_CLOSE || k >= R_400;
}

static bool resp_has_body(const struct wlistener *ls, unsigned k)
{
	return (k == R_GET || k == R_GET_CLOSE) && ls->body_len > STATIC_INLINE_MAX;
}

static int put_resp(struct wlistener *ls, unsigned k, const char *status, const char *extra,
                    const char *body, size_t body_len, size_t clen)
{
	const char *fmt = "HTTP/1.1 %s\r\nServer: ringlb\r\nX-Served-By: %s\r\n"
			  "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n";
	int hlen = snprintf(NULL, 0, fmt, status, ls->cfg->name, clen, extra);
	char *r = malloc(hlen + body_len + 1);

	if (!r)
		return -ENOMEM;
	snprintf(r, hlen + 1, fmt, status, ls->cfg->name, clen, extra);
	if (body_len)
		memcpy(r + hlen, body, body_len);
	ls->resp[k] = r;
	ls->resp_len[k] = hlen + body_len;
	return 0;
}

int static_prepare(struct worker *w, struct wlistener *ls)
{
	static const char *const close_hdr = "Connection: close\r\n";
	size_t blen = ls->cfg->body_len;
	size_t inl = blen > STATIC_INLINE_MAX ? 0 : blen;
	int ret = 0;

	ls->body = ls->cfg->body;
	ls->body_len = blen;
	ret |= put_resp(ls, R_GET, "200 OK", "", ls->body, inl, blen);
	ret |= put_resp(ls, R_GET_CLOSE, "200 OK", close_hdr, ls->body, inl, blen);
	ret |= put_resp(ls, R_HEAD, "200 OK", "", NULL, 0, blen);
	ret |= put_resp(ls, R_HEAD_CLOSE, "200 OK", close_hdr, NULL, 0, blen);
	ret |= put_resp(ls, R_400, "400 Bad Request", close_hdr, "bad request\n", 12, 12);
	ret |=
	    put_resp(ls, R_405, "405 Method Not Allowed",
	             "Allow: GET, HEAD\r\nConnection: close\r\n", "method not allowed\n", 19, 19);
	ret |= put_resp(ls, R_431, "431 Request Header Fields Too Large", close_hdr,
	                "request header too large\n", 25, 25);
	return ret ? -ENOMEM : 0;
}

void static_unprepare(struct wlistener *ls)
{
	unsigned k;

	for (k = 0; k < 8; k++) {
		free(ls->resp[k]);
		ls->resp[k] = NULL;
	}
}

/* ---- requests ---- */

static bool line_is(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	return (size_t)(end - p) > n && !strncasecmp(p, name, n);
}

static bool value_has(const char *v, const char *end, const char *token)
{
	size_t n = strlen(token);

	for (; v + n <= end; v++)
		if (!strncasecmp(v, token, n))
			return true;
	return false;
}

/* Classifies one complete request head [p, end) (ending in CRLFCRLF). */
static unsigned classify(const char *p, const char *end)
{
	const char *eol = memchr(p, '\n', end - p);
	bool get, head, close = false, http10;

	if (!eol || eol - p < 14 || eol[-1] != '\r')
		return R_400;
	get = !strncmp(p, "GET ", 4);
	head = !strncmp(p, "HEAD ", 5);
	if (!strncmp(eol - 10, " HTTP/1.1", 9))
		http10 = false;
	else if (!strncmp(eol - 10, " HTTP/1.0", 9))
		http10 = true;
	else
		return R_400;
	close = http10;
	for (p = eol + 1; p < end && *p != '\r'; p = eol + 1) {
		eol = memchr(p, '\n', end - p);
		if (!eol)
			return R_400;
		if (line_is(p, eol, "connection:")) {
			if (value_has(p + 11, eol, "close"))
				close = true;
			else if (value_has(p + 11, eol, "keep-alive"))
				close = false;
		} else if (line_is(p, eol, "transfer-encoding:") ||
		           (line_is(p, eol, "content-length:") && strtoul(p + 15, NULL, 10))) {
			return R_400; /* no request bodies here */
		}
	}
	if (!get && !head)
		return R_405;
	if (get)
		return close ? R_GET_CLOSE : R_GET;
	return close ? R_HEAD_CLOSE : R_HEAD;
}

static void queue_resp(struct worker *w, struct conn *c, unsigned k)
{
	c->pend_kind |= k << (4 * c->pending);
	c->pending++;
	WSTAT_INC(w, static_requests);
	if (resp_closes(k))
		c->flags |= CONN_F_CLOSE_AFTER;
}

static void static_send_next(struct worker *w, struct conn *c)
{
	struct wlistener *ls = worker__listener(w, c);
	struct io_uring_sqe *sqe;
	unsigned k = c->pend_kind & 0xf;
	uint32_t off = c->out_bytes; /* bytes of this response already sent */
	const char *p;
	size_t len;
	int flags = MSG_NOSIGNAL;

	if (!c->pending || (c->flags & (CONN_F_SEND | CONN_F_CLOSING)))
		return;
	if (off < ls->resp_len[k]) {
		p = ls->resp[k] + off;
		len = ls->resp_len[k] - off;
		if (resp_has_body(ls, k))
			flags |= MSG_MORE;
	} else {
		p = ls->body + (off - ls->resp_len[k]);
		len = ls->body_len - (off - ls->resp_len[k]);
	}
	sqe = worker__sqe(w);
	io_uring_prep_send(sqe, c->fd, p, len, flags);
	io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_SEND));
	c->flags |= CONN_F_SEND;
	c->inflight++;
}

static void head_free(struct worker *w, struct conn *c)
{
	if (c->head) {
		pool_put(w->pc, c->head, c->rx_bytes);
		c->head = NULL;
		c->rx_bytes = 0;
	}
}

/* Completes a head split across reads with the start of <p>. Returns how
 * many bytes of <p> it took, or -1 if the head is still incomplete. */
static long head_complete(struct worker *w, struct conn *c, const char *p, size_t len)
{
	size_t old = c->rx_bytes, take = len < STATIC_HEAD_MAX - old ? len : STATIC_HEAD_MAX - old;
	size_t from = old > 3 ? old - 3 : 0;
	char *end;

	memcpy(c->head + old, p, take);
	c->rx_bytes += take;
	end = memmem(c->head + from, c->rx_bytes - from, "\r\n\r\n", 4);
	if (!end) {
		if (c->rx_bytes < STATIC_HEAD_MAX)
			return -1;
		head_free(w, c);
		queue_resp(w, c, R_431);
		return len;
	}
	end += 4;
	queue_resp(w, c, classify(c->head, end));
	take = (end - c->head) - old;
	head_free(w, c);
	return take;
}

static void static_input(struct worker *w, struct conn *c, const char *p, size_t len)
{
	const char *end = p + len;

	if (c->head) {
		long took = head_complete(w, c, p, len);

		if (took < 0)
			return;
		p += took;
	}
	while (p < end && !(c->flags & CONN_F_CLOSE_AFTER)) {
		const char *q = memmem(p, end - p, "\r\n\r\n", 4);

		if (c->pending == STATIC_QUEUE) {
			/* Too deep a pipeline: answer what is queued, then close. */
			c->flags |= CONN_F_CLOSE_AFTER;
			break;
		}
		if (!q) {
			if ((size_t)(end - p) >= STATIC_HEAD_MAX) {
				queue_resp(w, c, R_431);
				break;
			}
			c->head = pool_get(w->pc, pool_class_of(STATIC_HEAD_MAX));
			if (!c->head) {
				queue_resp(w, c, R_431);
				break;
			}
			memcpy(c->head, p, end - p);
			c->rx_bytes = end - p;
			break;
		}
		queue_resp(w, c, classify(p, q + 4));
		p = q + 4;
	}
}

static void static_on_recv(struct worker *w, struct conn *c, int res, uint32_t flags)
{
	bool final = !(flags & IORING_CQE_F_MORE);

	if (final)
		c->flags &= ~(CONN_F_RECV | CONN_F_CANCELING);
	if (res > 0) {
		char *buf = worker__take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);

		WSTAT_ADD(w, bytes_in, res);
		if (!(c->flags & CONN_F_CLOSE_AFTER))
			static_input(w, c, buf, res);
		pool_put(w->pc, buf, res);
		if (c->flags & CONN_F_CLOSE_AFTER)
			worker__cancel_recv(w, c);
		static_send_next(w, c);
		if (final && !(c->flags & CONN_F_CLOSE_AFTER))
			worker__arm_recv(w, c);
		return;
	}
	if (res == -ENOBUFS) {
		worker__bufwait(w, c);
		return;
	}
	if (res == -ECANCELED)
		return;
	/* EOF or error: finish what is queued, then close. */
	c->flags |= CONN_F_RD_EOF | CONN_F_CLOSE_AFTER;
	if (!c->pending || res < 0)
		worker__close(w, c);
}

static void static_on_send(struct worker *w, struct conn *c, int res)
{
	struct wlistener *ls = worker__listener(w, c);
	unsigned k = c->pend_kind & 0xf;
	size_t total = ls->resp_len[k] + (resp_has_body(ls, k) ? ls->body_len : 0);

	c->flags &= ~CONN_F_SEND;
	if (res < 0) {
		worker__close(w, c);
		return;
	}
	WSTAT_ADD(w, bytes_out, res);
	c->out_bytes += res;
	if (c->out_bytes == total) {
		c->out_bytes = 0;
		c->pending--;
		c->pend_kind >>= 4;
	}
	if (c->pending) {
		static_send_next(w, c);
		return;
	}
	if ((c->flags & CONN_F_CLOSE_AFTER) || w->stopping)
		worker__close(w, c);
	else if (!(c->flags & CONN_F_RECV) && !(c->flags & CONN_F_BUFWAIT))
		worker__arm_recv(w, c);
}

static void static_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	uint64_t limit = worker__listener(w, c)->cfg->timeouts.idle;

	if (w->now >= c->last_ms + limit) {
		WSTAT_INC(w, idle_timeouts);
		worker__close(w, c);
		return;
	}
	timer_arm(w->tw, t, c->last_ms + limit);
}

void static_accept(struct worker *w, struct wlistener *ls, int fd)
{
	struct conn *c = worker__client(w, ls, fd, CONN_K_STATIC, static_timer);

	if (!c)
		return;
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.idle);
	worker__arm_recv(w, c);
}

void static_dispatch(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags)
{
	if (op == OP_RECV)
		static_on_recv(w, c, res, flags);
	else if (op == OP_SEND)
		static_on_send(w, c, res);
}

void static_drain(struct worker *w, struct conn *c)
{
	if (!(c->flags & CONN_F_CLOSING) && !c->pending && !c->head)
		worker__close(w, c);
}

void static_release(struct worker *w, struct conn *c)
{
	head_free(w, c);
	if (c->flags & CONN_F_COUNTED)
		listen_conn_closed(w, worker__listener(w, c));
}
