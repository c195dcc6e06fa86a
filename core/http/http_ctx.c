/* A client's request context, its head buffers and the park (http-int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem/acct.h"
#include "core/mem/slab.h"
#include "core/parse/h1.h"
#include "core/http/http-int.h"
#include "core/loop/ops.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"

struct http_ctx *http__ctx_get(struct worker *w, struct conn *c)
{
	struct http_ctx *x = hx_of(c);

	if (x)
		return x;
	x = slab_get(http__worker(w)->ctx);
	if (!x)
		return NULL;
	c->pctx = x;
	return x;
}

void http__unpark(struct worker *w, struct http_ctx *x)
{
	if (x->parked) {
		x->parked = false;
		http__worker(w)->nparked--;
	}
}

/* Gives back the head buffers and the context: the connection waits with
 * no buffer again. Secrets in the request head are wiped first. */
void http__ctx_put(struct worker *w, struct conn *c)
{
	struct http_ctx *x = hx_of(c);

	if (!x)
		return;
	if (x->lg.on) { /* the connection ends under a request */
		if (x->state != HS_TUNNEL)
			http__log_cause(c, w->stopping ? 'K' : 'P');
		http__log_end(w, c, x->resp_head ? x->resp.status : 0);
	}
	http__log_drop(w, x);
	http__unpark(w, x);
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
	c->pctx = NULL;
	/* what was written: the log fields only if some request was logged */
	slab_put(http__worker(w)->ctx, x,
	         x->lg_used ? sizeof(*x) : offsetof(struct http_ctx, lg) + sizeof(x->lg.on));
}

/* Appends <n> bytes to a head buffer, growing it by class; false when it
 * would pass <max> or no buffer is to be had. */
bool http__head_append(struct worker *w, char **buf, uint32_t *len, uint32_t *cap, const char *data,
                       uint32_t n, uint64_t max)
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

/* Queues <k> bytes at <buf>+<off> on <to>: <buf> itself when it is a
 * received buffer of ours starting there (<own>, off 0), else a copy.
 * <written> is how far <buf> was written (its zeroing prefix). Returns
 * false when no buffer could be had. */
bool http__forward(struct worker *w, struct conn *to, char *buf, uint32_t off, uint32_t k,
                   uint32_t written, bool own)
{
	if (!k)
		return true;
	if (own && !off) {
		if (xprt_queue(w, to, buf, k, written) < 0)
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
		if (xprt_queue(w, to, copy, n, n) < 0)
			return false;
		off += n;
		k -= n;
	}
	return true;
}

uint64_t http__maxbuf(struct worker *w)
{
	return w->cfg->memory_tuning.max_buffer_size;
}

void http__limits(struct worker *w, struct conn *c, struct h1_limits *lim)
{
	const struct cfg_listener *l = ring_listener(w, c)->cfg;
	uint64_t head = http__maxbuf(w) < l->max_head_size ? http__maxbuf(w) : l->max_head_size;
	uint64_t field = l->max_field_size < head ? l->max_field_size : head;

	lim->max_head = head > UINT32_MAX ? UINT32_MAX : (uint32_t)head;
	lim->max_field = (uint32_t)field;
	lim->max_line = (uint32_t)field;
	lim->max_hdrs = H1_DEF_MAX_HDRS;
}

bool http__park(struct worker *w, struct conn *c)
{
	struct http_worker *hw = http__worker(w);
	struct http_ctx *x = hx_of(c);

	if (c->pword < 2 || hw->nparked >= HTTP_PARK_MAX || acct_level(w->acct) != ACCT_NORMAL ||
	    w->ls[c->listener]->cfg->timeouts.idle <= HTTP_PARK_MS)
		return false;
	x->parked = true;
	hw->nparked++;
	timer_arm(w->tw, &c->tm, w->now + HTTP_PARK_MS);
	return true;
}
