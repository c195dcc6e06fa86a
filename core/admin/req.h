/* The admin endpoint's requests without the ring (core/admin/req.c): what
 * the next request in a connection's input asks for, decided from its bytes
 * and a few facts about the process, and the bytes of an answer. admin.c
 * (the protocol on worker 0) and test/fuzz/fuzz_admin.c both call it; what
 * needs the worker (the figures of /metrics, a reload, a backend's state)
 * stays in admin.c.
 */
#ifndef RINGLB_CORE_ADMIN_REQ_H
#define RINGLB_CORE_ADMIN_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_HEAD_MAX 8192u /* a request head (431 past it) */
#define ADMIN_BODY_MAX 4096u /* a request body (413 past it; bodies are ignored) */

/* What an answer depends on besides the request. */
struct admin_view {
	const char *token; /* admin.token, NULL = none */
	bool ready;        /* admin_set_source() was called: ringlb runs */
	bool stopping;     /* the worker drains */
};

enum admin_do {
	ADMIN_DO_MORE,    /* no complete request yet: wait for more bytes */
	ADMIN_DO_TEXT,    /* answer <status> with the line <text> */
	ADMIN_DO_METRICS, /* GET /metrics */
	ADMIN_DO_STATS,   /* GET /stats */
	ADMIN_DO_CONFIG,  /* GET /config */
	ADMIN_DO_RELOAD,  /* POST /reload */
	ADMIN_DO_BACKEND, /* POST /backends/<pool>/<addr>/<action> */
};

/* The backend actions, as enum backend_admin (core/lb/backend.h) numbers them. */
enum { ADMIN_ENABLE, ADMIN_DRAIN, ADMIN_DISABLE };

struct admin_req {
	enum admin_do what;
	int status;                /* ADMIN_DO_TEXT */
	const char *text;          /* ADMIN_DO_TEXT: one line without its newline (static) */
	const char *extra;         /* header lines to add ("Allow: POST\r\n"), static, or NULL */
	uint32_t used;             /* input bytes the request took (head and body) */
	bool drop;                 /* an error that drops the whole input (the answer closes) */
	bool head;                 /* a HEAD request: the answer has no body */
	bool close;                /* the client asked to close after the answer */
	bool unauthorized;         /* the 401 of a missing or wrong token */
	int action;                /* ADMIN_DO_BACKEND: ADMIN_ENABLE... */
	char pool[128], addr[128]; /* ADMIN_DO_BACKEND, percent-decoded */
};

/* Reads the request at the start of [in, in + len) and fills <r> with what
 * to do. The value of an Authorization (or Cookie) field is wiped in <in>
 * once read. ADMIN_DO_MORE until the head and its body are in, unless
 * <len> already reaches ADMIN_HEAD_MAX (then a 431 that drops the input). */
void admin_req_next(char *in, uint32_t len, const struct admin_view *v, struct admin_req *r);

/* Whether the answer <st> closes the connection: a malformed request's 4xx
 * and 5xx do, 401, 404, 405, 422, 503 and 504 do not. */
bool admin_req_closes(int st);

/* "OK", "Not Found"...: the reason phrase of every status the endpoint
 * sends, "Unknown" for others. */
const char *admin_req_reason(int st);

/* The bytes of the answer <st>: status line, Server, Content-Type <ctype>,
 * Content-Length <blen>, Cache-Control, <extra>, "Connection: close" if
 * <close>, then the <blen> bytes at <body> unless <head>. Returns them
 * (malloc'd, the caller frees) with their count in <len>, or NULL on
 * ENOMEM. */
char *admin_req_answer(int st, const char *ctype, const char *body, size_t blen, const char *extra,
                       bool head, bool close, size_t *len);

#endif
