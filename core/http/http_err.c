/* Error pages (http-int.h): the parser's 400, 414, 431, 501, 505; 408 when
 * a head takes longer than timeouts.header; 413 past max_body_size; 502
 * when no backend could be connected; 503 with no backend or under
 * Critical memory pressure (also at accept, http__reject()); 504 when the
 * backend is silent for timeouts.server before its response head. Each is
 * a small built-in page or the listener's error_pages: file (mapped at
 * config load, copied into pool buffers), and the connection closes once
 * it is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/http/http-int.h"
#include "core/loop/lstat.h"
#include "core/loop/ops.h"
#include "core/loop/ring.h"

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

/* The answer for <st> when no buffer is to be had for a page (a size
 * class exhausted): a head with no body, never written to, queued by
 * reference. */
#define BARE(st, text, extra)                                                                      \
	case st:                                                                                   \
		return "HTTP/1.1 " #st " " text                                                    \
		       "\r\nServer: ringlb\r\nContent-Length: 0\r\n" extra                         \
		       "Connection: close\r\n\r\n"

static const char *bare_page(int st)
{
	switch (st) {
		BARE(400, "Bad Request", "");
		BARE(408, "Request Timeout", "");
		BARE(413, "Content Too Large", "");
		BARE(414, "URI Too Long", "");
		BARE(431, "Request Header Fields Too Large", "");
		BARE(501, "Not Implemented", "");
		BARE(502, "Bad Gateway", "");
		BARE(504, "Gateway Timeout", "");
		BARE(500, "Internal Server Error", "");
		BARE(505, "HTTP Version Not Supported", "");
	default:
		return "HTTP/1.1 503 Service Unavailable\r\nServer: ringlb\r\nContent-Length: 0\r\n"
		       "Retry-After: 1\r\nConnection: close\r\n\r\n";
	}
}

/* Queues the page for <st> on <c> (the listener's file from error_pages:,
 * copied from its mapping, else the built-in text) and closes once it is
 * sent. */
/* The access log's cause of an error answer no caller explained: the
 * request was refused (P), timed out (c, s) or found no backend (S). */
static char error_cause(int st)
{
	switch (st) {
	case 408:
		return 'c';
	case 502:
	case 503:
		return 'S';
	case 504:
		return 's';
	default:
		return 'P';
	}
}

void http__error(struct worker *w, struct conn *c, int st)
{
	struct http_ctx *x = hx_of(c);
	const struct cfg_error_page *pg = error_page(ring_listener(w, c)->cfg, st);
	size_t sent = 0;
	int n = 0;
	char *b;

	WSTAT_INC(w, http_errors);
	lstat_code(ring_listener(w, c)->st->http, st);
	if (x) {
		if (x->state == HS_HEAD || x->state == HS_BODY)
			lstat_hist_add(&ring_listener(w, c)->st->dur, clock_us() - x->t0_us);
		x->state = HS_ERROR;
	}
	b = error_build(w, st, pg, &n, &sent);
	xprt_stop_read(w, c);
	c->flags |= CONN_F_CLOSE_AFTER;
	if (!b) {
		/* Out of buffers: still an answer, not a silent close. */
		const char *bare = bare_page(st);

		if (xprt_queue_ref(w, c, bare, (uint32_t)strlen(bare), false) < 0)
			ring_close(w, c);
		else
			xprt_flush(w, c);
		return;
	}
	if (xprt_queue(w, c, b, (uint32_t)n, (uint32_t)n) < 0 ||
	    (pg && !http__forward(w, c, pg->data, (uint32_t)sent, (uint32_t)(pg->len - sent), 0,
	                          false))) {
		ring_close(w, c);
		return;
	}
	xprt_flush(w, c);
	http__log_cause(c, error_cause(st));
	http__log_bytes(c, 0, (uint64_t)n + (pg ? pg->len - sent : 0));
	http__log_end(w, c, st);
}

/* Critical pressure at accept: the 503 of the Contracts, then close,
 * taking no buffer (memory is what is short): the listener's 503 page
 * straight from its mapping when it is small, else the built-in text. A
 * fresh socket's send buffer is empty, so one small write cannot block. */
#define HTTP_REJECT_PAGE_MAX (8u << 10)

void http__reject(struct worker *w, struct wlistener *ls, int fd)
{
	static const char page[] = "HTTP/1.1 503 Service Unavailable\r\nServer: ringlb\r\n"
				   "Content-Type: text/plain\r\nContent-Length: 24\r\n"
				   "Retry-After: 1\r\nConnection: close\r\n\r\n"
				   "503 Service Unavailable\n";
	const struct cfg_error_page *pg = error_page(ls->cfg, 503);
	char head[256];
	struct iovec iov[2] = {{(void *)page, sizeof(page) - 1}, {NULL, 0}};
	int n;

	lstat_code(ls->st->http, 503);
	if (pg && pg->len <= HTTP_REJECT_PAGE_MAX) {
		n = snprintf(head, sizeof(head),
		             "HTTP/1.1 503 Service Unavailable\r\nServer: ringlb\r\n"
		             "Content-Type: text/html\r\nContent-Length: %zu\r\n"
		             "Retry-After: 1\r\nConnection: close\r\n\r\n",
		             pg->len);
		iov[0] = (struct iovec){head, (size_t)n};
		iov[1] = (struct iovec){(void *)pg->data, pg->len};
	}
	/* A transport that cannot answer without a record (TLS) just closes;
	 * an error here is a client that is gone: nothing to tell it. */
	if (ops_xprt[ls->xprt]->write_now(fd, iov, iov[1].iov_len ? 2 : 1) == -ENOTSUP)
		goto out;
	/* The request is in (TCP_DEFER_ACCEPT): closing with it unread would
	 * send a reset right behind the page, which some clients take before
	 * reading it. Read what is there (a few KiB at most), then close. */
	for (int i = 0; i < 4 && recv(fd, head, sizeof(head), MSG_DONTWAIT) > 0; i++)
		;
out:
	close(fd);
}
