/* The HTTP/1.1 proxy's internals, shared by its files:
 *
 *	http.c        the two protocols' tables and their registration
 *	http_ctx.c    a client's request context, head buffers, the park
 *	http_err.c    error pages and the accept-time 503
 *	http_route.c  routes (host, path prefix) and maglev keys
 *	http_req.c    the client side: requests read, routed and sent up
 *	http_resp.c   the upstream side: responses read and sent back,
 *	              keep-alive reuse, Upgrade tunnels
 *	http_log.c    the access log line of each request
 *	http_wait.c   a partial head held, right-sized, while its client
 *	              waits to send the rest (slow clients)
 *
 * A client connection (protocol http) holds no buffer and no context while
 * it waits for a request; <pctx> is its struct http_ctx while a request is
 * in progress (and for a short park between a busy client's requests),
 * <pword> the requests it made, HC_F_FIRST until its first request head
 * starts. A client whose head stopped short of its end holds, instead of
 * a context, a struct http_wait in <pctx> (HC_F_WAIT; hx_of() is NULL
 * then): the bytes so far in one object of 256 B to 2 KiB. An upstream connection (protocol http-upstream) has no context:
 * its client's serves both.
 */
#ifndef RINGLB_CORE_HTTP_INT_H
#define RINGLB_CORE_HTTP_INT_H

#include <arpa/inet.h>

#include "core/alog/alog-t.h"
#include "core/parse/h1-t.h"
#include "core/loop/ops-t.h"
#include "core/mem/pool.h"
#include "core/loop/worker-t.h"

#define HTTP_PIPELINE_MAX (16u << 10) /* pipelined bytes read ahead of the request in flight */
#define HTTP_PARK_MS      50  /* a keep-alive client keeps its ctx this long after a response */
#define HTTP_PARK_MAX     256 /* parked contexts per worker */
#define HTTP_INTERIM_MAX  16  /* 1xx answers per request; past it the upstream closes, 502 */

#define HC_F_FIRST CONN_F_P0 /* client: no request yet (timeouts.header runs) */
#define HC_F_WAIT  CONN_F_P1 /* client: <pctx> is a struct http_wait, not a context */

/* The head slabs' object sizes: a waiting head grows through them, past
 * the last it goes back to a context and pool buffers. */
#define HTTP_WAIT_CLASSES 4
#define HTTP_WAIT_MIN     256u
#define HTTP_WAIT_MAX     (HTTP_WAIT_MIN << (HTTP_WAIT_CLASSES - 1))

enum http_state {
	HS_IDLE,   /* no request in progress */
	HS_HEAD,   /* reading a request head */
	HS_BODY,   /* request sent upstream (its body may still stream) */
	HS_ERROR,  /* an error page is queued: close once it is sent */
	HS_TUNNEL, /* upgraded: bytes both ways */
};

/* A request's access log fields (http_log.c), kept while it is in
 * progress on a listener with an access log. Times are w->now (ms). */
struct http_log {
	bool on;    /* a request in progress, not logged yet */
	char cause; /* '-', or HAProxy's first letter: C S c s P R K */
	uint8_t minor;
	uint8_t mlen;
	uint16_t tlen;
	uint8_t tls, snilen;      /* TLS version and SNI, taken at the start (the session
	                      * may be gone by the end) */
	int16_t backend;          /* in the request's pool (ctx.pi), -1: none */
	uint64_t t_start, t_head; /* first byte of the head, its end (0: not yet) */
	uint64_t t_up, t_conn;    /* connect started, done (both set at once on reuse) */
	uint64_t t_resp;          /* the response head */
	uint64_t bytes_in, bytes_out;
	struct http_log_str *str; /* its strings: an object of the worker's log slab */
};

/* A logged request's strings, apart from the context so that a listener
 * without an access log does not carry them (1,295 bytes). */
struct http_log_str {
	char method[ALOG_METHOD_MAX];
	char target[ALOG_TARGET_MAX];
	char sni[255];
};

/* The cold part of a client connection, attached while a request is in
 * progress: one object of the worker's context slab (ACCT_CONN). */
struct http_ctx {
	struct h1_parser rp, sp; /* request, response */
	struct h1_msg req, resp;
	struct h1_body_state rb, sb;
	char *rhead; /* request head buffer (pool), then pipelined bytes */
	uint32_t rlen, rcap;
	char *shead; /* response head buffer (pool) */
	uint32_t slen, scap;
	uint64_t head_start; /* ms: first byte of the current request head */
	uint64_t t0_us;      /* the same in µs, for the request duration histogram */
	uint8_t state;
	bool req_done, resp_head, keep_alive, sent_any;
	bool up_keep;     /* the backend keeps its connection open after this response */
	bool parked;      /* HS_IDLE with the context kept (counted in http_worker.nparked) */
	bool dechunk;     /* the response's chunked body goes to an HTTP/1.0 client unframed */
	uint8_t ninterim; /* 1xx answers to this request so far */
	int16_t pi;       /* the request's pool (route()), -1: none; kept for retries */
	uint64_t lbkey;   /* its maglev key: the head it came from is gone by a retry */
	char ip[INET6_ADDRSTRLEN];
	struct alog_addr peer; /* the client's address, binary (with <ip>) */
	bool lg_used;          /* <lg> was written to: zeroed when given back */
	struct http_log lg;    /* last: a context that never logs is zeroed up to it */
};

_Static_assert(sizeof(struct http_ctx) <= POOL_SMALL, "the context is smaller than a small buffer");

/* A request head that stopped short of its end, held while the client
 * sends the rest: what it holds and no more (http_wait.c). */
struct http_wait {
	uint64_t head_start; /* ms: first byte of the head (timeouts.header) */
	uint64_t t0_us;      /* the same in µs (the duration histogram) */
	uint32_t len;        /* bytes in <data> */
	uint8_t cls;         /* its slab: http_worker.heads[cls] */
	char data[];         /* up to the slab's size */
};

struct slab;

/* The protocol's per-worker state (w->pstate[http__client_id]). */
struct http_worker {
	uint32_t nparked; /* keep-alive clients holding their ctx */
	struct slab *ctx; /* request contexts (ACCT_CONN) */
	struct slab *log; /* access log strings of requests in progress (ACCT_CONN) */
	struct slab *heads[HTTP_WAIT_CLASSES]; /* waiting heads, 256 B .. 2 KiB (ACCT_BUF) */
};

extern int http__client_id, http__up_id;

static inline struct http_ctx *hx_of(const struct conn *c)
{
	return c->flags & HC_F_WAIT ? NULL : c->pctx;
}

static inline bool http__is_client(const struct conn *c)
{
	return c->proto == http__client_id;
}

static inline struct http_worker *http__worker(struct worker *w)
{
	return w->pstate[http__client_id];
}

/* http_ctx.c */
/* <c>'s context, taken from the pool if it has none; NULL when none is to
 * be had. */
struct http_ctx *http__ctx_get(struct worker *w, struct conn *c);
/* Gives back the head buffers and the context: the connection waits with
 * no buffer again. Secrets in the request head are wiped first. */
void http__ctx_put(struct worker *w, struct conn *c);
/* Keeps <c>'s context for HTTP_PARK_MS after a response when the worker
 * may; true if it did. */
bool http__park(struct worker *w, struct conn *c);
void http__unpark(struct worker *w, struct http_ctx *x);
/* Appends <n> bytes to a head buffer, growing it by class; false when it
 * would pass <max> or no buffer is to be had. */
bool http__head_append(struct worker *w, char **buf, uint32_t *len, uint32_t *cap, const char *data,
                       uint32_t n, uint64_t max);
/* Queues <k> bytes at <buf>+<off> on <to>: <buf> itself when it is a
 * received buffer of ours starting there (<own>, off 0), else a copy.
 * <written> is how far <buf> was written (its zeroing prefix). Returns
 * false when no buffer could be had. */
bool http__forward(struct worker *w, struct conn *to, char *buf, uint32_t off, uint32_t k,
                   uint32_t written, bool own);
uint64_t http__maxbuf(struct worker *w);
/* The parser's limits for <c>'s listener: max_field_size, max_head_size
 * (within max_buffer_size), the request line within max_field_size. */
void http__limits(struct worker *w, struct conn *c, struct h1_limits *lim);

/* http_err.c */
/* Queues the page for <st> on <c> (the listener's file from error_pages:,
 * else the built-in text) and closes once it is sent. */
void http__error(struct worker *w, struct conn *c, int st);
/* The 503 of the Contracts at accept, on a socket with no record. */
void http__reject(struct worker *w, struct wlistener *ls, int fd);

/* http_route.c */
/* The pool of <m> on <ls> (first matching route, else the listener's), its
 * index in *idx; NULL (*idx -1) when the listener has none. */
struct cfg_pool *http__route(struct wlistener *ls, const struct h1_msg *m, int *idx);
/* Maglev's key for a request: the value of the pool's header:NAME when the
 * request has it, else (and for client_ip) the client's address. */
uint64_t http__maglev_key(const struct http_ctx *x, const struct cfg_pool *pool);

/* http_req.c */
void http__accept(struct worker *w, struct conn *c);
void http__client_data(struct worker *w, struct conn *c, char *buf, uint32_t len);
void http__client_eof(struct worker *w, struct conn *c);
void http__client_error(struct worker *w, struct conn *c, int err);
void http__client_drained(struct worker *w, struct conn *c);
void http__client_resume(struct worker *w, struct conn *c);
void http__client_drain(struct worker *w, struct conn *c);
void http__client_release(struct worker *w, struct conn *c);
/* Starts a new head in <c>'s context. */
void http__head_begin(struct worker *w, struct conn *c);
/* Parses what rhead holds and goes on with the request when complete. */
void http__client_parse(struct worker *w, struct conn *c);
/* Answers <st> on <c> mid-request: its upstream (if any) holds a message
 * cut short, so it is closed, never kept for reuse nor left to the drain. */
void http__req_fail(struct worker *w, struct conn *c, int st);
/* Finds an upstream for <c>'s request: an idle one, or a new connection.
 * Returns it, or NULL after answering the client (502/503). */
struct conn *http__upstream_for(struct worker *w, struct conn *c);

/* The client's address (a PROXY header's, else the peer's) into <x>, for
 * X-Forwarded-For, maglev and the access log. */
void http__client_ip(struct worker *w, struct conn *c, struct http_ctx *x);

/* http_wait.c */
/* <c>'s head in progress stopped short of its end: when it is small and
 * nothing else is in flight, its bytes move to a right-sized http_wait
 * and the context goes back (true). */
bool http__wait_hold(struct worker *w, struct conn *c);
/* Bytes for <c>'s waiting head: 0 kept, the head still short of its end;
 * 1 kept, and the head may be complete (a CR LF CR LF or a bare LF came:
 * the parser's turn); -1 not kept (the head would pass HTTP_WAIT_MAX or
 * max_head_size, or no bigger object is to be had): back to a context.
 * <buf> stays the caller's. */
int http__wait_data(struct worker *w, struct conn *c, const char *buf, uint32_t n);
/* Detaches <c>'s waiting head (NULL if it has none); the caller gives it
 * back with http__wait_put(). */
struct http_wait *http__wait_take(struct conn *c);
void http__wait_put(struct worker *w, struct http_wait *p);
/* The waiting head's deadline (timeouts.header from its first byte). */
uint64_t http__wait_due(struct worker *w, struct conn *c);

/* http_log.c */
/* A request head starts on <c>: its log fields begin (when its listener
 * logs). */
void http__log_begin(struct worker *w, struct conn *c);
/* The head of <c>'s request is complete (<hlen> bytes): its method, target
 * and version are kept. */
void http__log_head(struct worker *w, struct conn *c, uint32_t hlen);
/* Writes the line of <c>'s request, answered with <status> (0: none), if
 * it has not been; then nothing more is logged for it. */
void http__log_end(struct worker *w, struct conn *c, int status);
/* Forgets <x>'s request's log fields without a line (its strings go back). */
void http__log_drop(struct worker *w, struct http_ctx *x);

/* Sets why <c>'s request ends (HAProxy's first letter), unless a reason
 * was already given. */
static inline void http__log_cause(struct conn *c, char cause)
{
	struct http_ctx *x = c ? hx_of(c) : NULL;

	if (x && x->lg.on && x->lg.cause == '-')
		x->lg.cause = cause;
}

/* Adds to <c>'s request's byte counts. */
static inline void http__log_bytes(struct conn *c, uint64_t in, uint64_t out)
{
	struct http_ctx *x = hx_of(c);

	if (x && x->lg.on) {
		x->lg.bytes_in += in;
		x->lg.bytes_out += out;
	}
}

/* http_resp.c */
void http__up_data(struct worker *w, struct conn *u, char *buf, uint32_t len);
void http__up_eof(struct worker *w, struct conn *u);
void http__up_error(struct worker *w, struct conn *u, int err);
void http__up_drained(struct worker *w, struct conn *u);
void http__up_connected(struct worker *w, struct conn *u, int res);
void http__up_resume(struct worker *w, struct conn *u);
void http__up_drain(struct worker *w, struct conn *u);
void http__up_release(struct worker *w, struct conn *u);

#endif
