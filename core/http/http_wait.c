/* Waiting heads (http-int.h): a client that sent part of a request head
 * and waits to send the rest (a slow mobile client, or a slowloris) holds
 * what it sent and no more.
 *
 * A head is read and parsed in a context as usual. When a receive leaves
 * it short of its end, at most HTTP_WAIT_MAX bytes long, with nothing else
 * in flight, its bytes move into one object of the worker's head slabs
 * (256 B, 512 B, 1 KiB, 2 KiB: the smallest that holds them) and the
 * context (2 KiB) and its 4 KiB head buffer go back. Bytes that follow
 * are appended there, the object growing by slab as needed, and scanned:
 * once they hold the end of a head (CR LF CR LF), a bare LF (which the
 * parser refuses) or pass HTTP_WAIT_MAX (or max_head_size), the head goes
 * back to a context and the parser reads it from its start, and either
 * goes on with the request, answers its error, or (still incomplete) lets
 * it wait again. So the parser sees every byte, errors are answered no
 * later than the end of the head, 2 KiB or timeouts.header (then with the
 * parser's answer for what came, else 408), and a waiting connection
 * holds its connection record and one slab object.
 */
#include <string.h>

#include "core/mem/slab.h"
#include "core/parse/h1.h"
#include "core/http/http-int.h"
#include "core/loop/lstat.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"

static struct http_wait *wait_of(const struct conn *c)
{
	return c->flags & HC_F_WAIT ? c->pctx : NULL;
}

/* The smallest head slab holding <n> bytes of head, -1 if none does. */
static int wait_class(uint32_t n)
{
	for (int i = 0; i < HTTP_WAIT_CLASSES; i++)
		if (n <= (HTTP_WAIT_MIN << i) - offsetof(struct http_wait, data))
			return i;
	return -1;
}

static uint32_t wait_cap(int cls)
{
	return (HTTP_WAIT_MIN << cls) - (uint32_t)offsetof(struct http_wait, data);
}

static void wait_put(struct worker *w, struct http_wait *p)
{
	slab_put(http__worker(w)->heads[p->cls], p, offsetof(struct http_wait, data) + p->len);
}

bool http__wait_hold(struct worker *w, struct conn *c)
{
	struct http_ctx *x = hx_of(c);
	struct http_wait *p;
	int cls;

	if (!x || x->state != HS_HEAD || ring_peer(w, c) ||
	    x->rlen > wait_cap(HTTP_WAIT_CLASSES - 1))
		return false;
	cls = wait_class(x->rlen);
	p = slab_get(http__worker(w)->heads[cls]);
	if (!p)
		return false; /* the context keeps it */
	p->cls = (uint8_t)cls;
	p->len = x->rlen;
	p->head_start = x->head_start;
	p->t0_us = x->t0_us;
	memcpy(p->data, x->rhead, x->rlen);
	http__log_drop(w, x); /* begun again with the head's own start when it goes back */
	http__ctx_put(w, c);
	c->pctx = p;
	c->flags |= HC_F_WAIT;
	WSTAT_INC(w, http_head_waits);
	return true;
}

struct http_wait *http__wait_take(struct conn *c)
{
	struct http_wait *p = wait_of(c);

	if (p) {
		c->flags &= ~HC_F_WAIT;
		c->pctx = NULL;
	}
	return p;
}

void http__wait_put(struct worker *w, struct http_wait *p)
{
	if (p)
		wait_put(w, p);
}

uint64_t http__wait_due(struct worker *w, struct conn *c)
{
	return wait_of(c)->head_start + ring_listener(w, c)->cfg->timeouts.header;
}

/* True when [from, len) of <d> may end a head (CR LF CR LF ending there)
 * or holds a bare LF: the parser's turn. */
static bool wait_scan(const char *d, uint32_t from, uint32_t len)
{
	for (uint32_t i = from; i < len; i++) {
		if (d[i] != '\n')
			continue;
		if (!i || d[i - 1] != '\r')
			return true;
		if (i >= 3 && d[i - 2] == '\n' && d[i - 3] == '\r')
			return true;
	}
	return false;
}

int http__wait_data(struct worker *w, struct conn *c, const char *buf, uint32_t n)
{
	struct http_wait *p = wait_of(c), *q;
	struct h1_limits lim;
	uint32_t len = p->len + n;
	int cls = wait_class(len);

	http__limits(w, c, &lim);
	if (cls < 0 || len > lim.max_head)
		return -1; /* too big to wait: the context's way */
	if (cls != p->cls) {
		q = slab_get(http__worker(w)->heads[cls]);
		if (!q)
			return -1;
		memcpy(q, p, offsetof(struct http_wait, data) + p->len);
		q->cls = (uint8_t)cls;
		wait_put(w, p);
		c->pctx = p = q;
	}
	memcpy(p->data + p->len, buf, n);
	p->len = len;
	return wait_scan(p->data, len - n, len);
}
