/* The access log line of each HTTP request (http-int.h): fields gathered
 * in the request's context as it goes, one record to the worker's ring
 * (core/alog) when it ends: its response is complete, an error page is
 * queued, or the connection closes under it.
 *
 * Termination, as HAProxy writes it: the first letter says who ended the
 * request ('-' nobody: it completed; C the client, S the server, c s their
 * timeouts, P the proxy refused it, R a resource ran out, K shutdown), the
 * second in which phase (R reading the request head, C connecting, H
 * waiting for the response head, D the response data; '-' completed).
 */
#include <string.h>

#include "core/alog/alog.h"
#include "core/mem/slab.h"
#include "core/http/http-int.h"
#include "core/loop/ring.h"
#include "core/xprt/tls.h"

/* The two protocols' ids (http.c registers them), here at the bottom of
 * the family: every file of it reaches this one. */
int http__client_id, http__up_id;

void http__log_begin(struct worker *w, struct conn *c)
{
	struct http_ctx *x = hx_of(c);
	struct http_log *g = &x->lg;
	const char *sni;

	g->on = ring_listener(w, c)->alog != NULL;
	if (!g->on)
		return;
	x->lg_used = true;
	g->cause = '-';
	g->minor = 1;
	g->mlen = 0;
	g->tlen = 0;
	g->backend = -1;
	g->t_start = w->now;
	g->t_head = g->t_up = g->t_conn = g->t_resp = 0;
	g->bytes_in = g->bytes_out = 0;
	g->tls = (uint8_t)tls_xprt_info(w, c, &sni);
	if (!g->str)
		g->str = slab_get(http__worker(w)->log); /* NULL: a line without them */
	g->snilen = sni && g->str ? (uint8_t)strnlen(sni, sizeof(g->str->sni)) : 0;
	if (g->snilen)
		memcpy(g->str->sni, sni, g->snilen);
	x->pi = -1; /* routed at the end of the head */
}

void http__log_head(struct worker *w, struct conn *c, uint32_t hlen)
{
	struct http_ctx *x = hx_of(c);
	struct http_log *g = &x->lg;

	if (!g->on)
		return;
	g->t_head = w->now;
	g->bytes_in += hlen;
	g->minor = x->req.minor;
	if (!g->str)
		return;
	g->mlen = x->req.method.len < ALOG_METHOD_MAX ? x->req.method.len : ALOG_METHOD_MAX;
	memcpy(g->str->method, x->req.method.p, g->mlen);
	g->tlen = x->req.target.len < ALOG_TARGET_MAX ? x->req.target.len : ALOG_TARGET_MAX;
	memcpy(g->str->target, x->req.target.p, g->tlen);
}

static char phase_of(const struct http_log *g)
{
	if (!g->t_head)
		return 'R';
	if (!g->t_conn)
		return 'C';
	return g->t_resp ? 'D' : 'H';
}

static uint32_t ms_between(uint64_t from, uint64_t to)
{
	return from && to >= from ? (uint32_t)(to - from) : ALOG_NO_MS;
}

/* The pool's and the backend's names of the request, as configured. */
static void names(struct worker *w, struct conn *c, struct alog_str *s)
{
	struct wlistener *ls = ring_listener(w, c);
	struct http_ctx *x = hx_of(c);
	const struct cfg_pool *p;

	if (x->pi < 0 || (unsigned)x->pi >= ls->gen->cfg->npools)
		return;
	p = &ls->gen->cfg->pools[x->pi];
	s[ALOG_S_POOL] = (struct alog_str){p->name, (uint32_t)strlen(p->name)};
	if (x->lg.backend >= 0 && (unsigned)x->lg.backend < p->nbackends) {
		const char *b = p->backends[x->lg.backend].address.text;

		s[ALOG_S_BACKEND] = (struct alog_str){b, (uint32_t)strlen(b)};
	}
}

void http__log_end(struct worker *w, struct conn *c, int status)
{
	struct http_ctx *x = hx_of(c);
	struct http_log *g = x ? &x->lg : NULL;
	struct alog_str s[ALOG_NSTR] = {{NULL, 0}};
	struct alog_rec r;

	if (!g || !g->on)
		return;
	g->on = false;
	memset(&r, 0, sizeof(r));
	r.kind = ALOG_HTTP;
	r.sink = ring_listener(w, c)->alog;
	r.start_ms = g->t_start;
	r.status = (uint16_t)status;
	r.minor = g->minor;
	r.term[0] = g->cause;
	r.term[1] = g->cause == '-' ? '-' : phase_of(g);
	r.ms[ALOG_MS_REQUEST] = ms_between(g->t_start, g->t_head);
	r.ms[ALOG_MS_CONNECT] = ms_between(g->t_up, g->t_conn);
	r.ms[ALOG_MS_RESPONSE] =
	    g->t_resp ? ms_between(g->t_conn > g->t_head ? g->t_conn : g->t_head, g->t_resp)
		      : ALOG_NO_MS;
	r.ms[ALOG_MS_TOTAL] = ms_between(g->t_start, w->now);
	r.bytes_in = g->t_head ? g->bytes_in : x->rlen;
	r.bytes_out = g->bytes_out;
	r.client = x->peer;
	r.tls = g->tls;
	if (g->str) {
		s[ALOG_S_METHOD] = (struct alog_str){g->str->method, g->mlen};
		s[ALOG_S_TARGET] = (struct alog_str){g->str->target, g->tlen};
		s[ALOG_S_SNI] = (struct alog_str){g->str->sni, g->snilen};
	}
	names(w, c, s);
	alog_emit(w->alog, &r, s);
	http__log_drop(w, x);
}

void http__log_drop(struct worker *w, struct http_ctx *x)
{
	struct http_log *g = &x->lg;

	g->on = false;
	if (g->str) {
		/* the target may carry a token: zeroed with the rest */
		slab_put(http__worker(w)->log, g->str, sizeof(*g->str));
		g->str = NULL;
	}
}
