/* The TLS transport: a connection's bytes are TLS records on its socket,
 * plaintext to its protocol. wolfSSL never touches the socket (tls/):
 * ciphertext comes from the ring's provided buffers and is lent to the
 * session (tls_conn_feed()); the records it writes are copied into pool
 * buffers reserved before each write is encrypted and leave through the
 * connection's out queue, one send in flight, as on the raw transport; when
 * the pool refuses the reservation, the plaintext waits (tls_out.c).
 * Nothing blocks: a session that wants more input waits for the next
 * receive.
 *
 * A client connection first runs its handshake, held to the listener's
 * timeouts.handshake; then its protocol is accepted (accept()), as on raw.
 * Each received buffer is lent to the session and decrypted whole, its
 * plaintext read into pool buffers of the ring's class and handed to the
 * protocol's data() (as raw hands over what a recv already took, paused or
 * not); a record cut by the buffer's end waits inside the session for the
 * rest, so the buffer goes back at once. When no plaintext buffer can be
 * had (the pool at its limit), the connection stalls instead of ending:
 * the ciphertext not decrypted yet stays with it (txc.held: the received
 * buffers, in order, and whatever arrives before the receive is cancelled
 * behind them, the peer's end of stream last), reading stops, and it waits
 * in the worker's buffer FIFO as a raw connection whose receive found no
 * buffer does. Its protocol's resume() reads again through tls_read(),
 * which decrypts what is held first and receives only once it is all
 * delivered. shut_write() sends close_notify and shuts the socket's
 * write side once it is out; a connection closing after its queue
 * (CONN_F_CLOSE_AFTER) sends close_notify first. No splice: the bytes are
 * not the protocol's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/log.h"
#include "core/base/macros.h"
#include "core/base/timer.h"
#include "core/lb/snapshot.h"
#include "core/loop/bufq.h"
#include "core/loop/ops.h"
#include "core/loop/ring.h"
#include "core/mem/acct.h"
#include "core/mem/pool.h"
#include "core/xprt/tls-int.h"
#include "core/xprt/tls.h"
#include "tls/tls.h"

#define TXC_COST (sizeof(struct txc) + 16) /* charged to ACCT_SSL with the allocator's header */

/* What deliver() ended with. */
enum {
	DL_DONE,  /* all that was fed is delivered: receive on */
	DL_GONE,  /* the connection is torn down or failed */
	DL_NOBUF, /* no plaintext buffer: some of what was fed is left */
};

static int handshake(struct worker *w, struct conn *c);
static void up_open(struct worker *w, struct conn *u);
static void up_failed(struct worker *w, struct conn *u);

/* ---- the handshake ---- */

static void tls_hs_timer(struct timer *tm, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(tm, struct conn, tm);

	tls_conn_fail(txc_of(w, c)->t, TLS_R_TIMEOUT);
	WSTAT_INC(w, tls_timeouts);
	tls__count_failure(w, c, true);
	ring_close(w, c);
}

/* A session of <ctx> for <c> (<sni>: the name a client side sends), its
 * record and what wolfSSL allocated charged to ssl. False when memory or
 * the limit refused it: what was taken is <c>'s conn_xctx(), for tls_release(). */
static bool txc_new(struct worker *w, struct conn *c, struct tls_ctx *ctx, const char *sni)
{
	struct txc *x;
	int64_t before;

	if (!ctx || acct_charge(w->acct, ACCT_SSL, w->real_node, TXC_COST) < 0)
		return false;
	x = calloc(1, sizeof(*x));
	if (!x) {
		acct_release(w->acct, ACCT_SSL, w->real_node, TXC_COST);
		return false;
	}
	if (conn_xctx_set(&w->ct, c, x) < 0) {
		free(x);
		acct_release(w->acct, ACCT_SSL, w->real_node, TXC_COST);
		return false;
	}
	tls__cur_w = w;
	before = tls_mem_thread();
	x->t = tls_conn_new(ctx, sni, tls__tx_out, c);
	tls__settle(w, c, before);
	return x->t && !x->over;
}

/* A session could not be had: counted with its reason. */
static void txc_refused(struct worker *w)
{
	WSTAT_INC(w, tls_failed);
	atomic_fetch_add_explicit(&w->xprt_fail[TLS_R_NOMEM], 1, memory_order_relaxed);
}

static void tls_accept(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);

	if (!txc_new(w, c,
	             snapshot_tls(ls->gen->cfg, (unsigned)(ls->cfg - ls->gen->cfg->listeners)),
	             NULL)) {
		txc_refused(w);
		ring_close(w, c); /* tls_release() gives back what was taken */
		return;
	}
	timer_init(&c->tm, tls_hs_timer);
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.handshake);
	ring_recv(w, c);
}

/* ---- upstreams: the client side ---- */

/* The handshake with a backend is done: what the protocol queued before it
 * is encrypted now, and the protocol hears of its connect. */
static void up_open(struct worker *w, struct conn *u)
{
	int r = tls__pend_seal(w, u);

	if (r > 0)
		ring_send(w, u);
	else if (r == 0)
		ring_bufwait(w, u); /* the rest is sealed on wake */
	proto_of(u)->connected(w, u, 0);
	if (r < 0 && !(u->flags & CONN_F_CLOSING))
		tls__seal_failed(w, u);
}

/* The handshake with a backend failed: to the protocol, a connect that
 * failed, with what it queued back on the record for another backend. */
static void up_failed(struct worker *w, struct conn *u)
{
	struct txc *x = txc_of(w, u);

	bufq_drop(w, u); /* records for this backend only */
	u->out = x->pend;
	u->out_bytes = x->pend_bytes;
	u->flags &= ~CONN_F_XHELD;
	x->pend.head = x->pend.tail = NULL;
	x->pend_bytes = 0;
	proto_of(u)->connected(w, u, -ECONNABORTED);
}

/* An upstream's connect completed: start the TLS client. */
static void tls_connected(struct worker *w, struct conn *u, int res)
{
	struct wlistener *ls = ring_listener(w, u);
	const struct cfg_pool *pool = &ls->gen->cfg->pools[u->pool];
	struct tls_ctx *ctx = snapshot_pool_tls(ls->gen->cfg, (unsigned)u->pool);
	struct txc *x;

	if (res < 0 || !ctx) {
		proto_of(u)->connected(w, u, res < 0 ? res : -ENOTSUP);
		return;
	}
	if (!txc_new(w, u, ctx, pool->tls.sni)) {
		txc_refused(w);
		proto_of(u)->connected(w, u, -ENOMEM);
		return;
	}
	x = txc_of(w, u);
	/* What the protocol queued so far is plaintext: held until the
	 * handshake is done, still counted in out_bytes (backpressure). */
	x->pend = u->out;
	x->pend_bytes = u->out_bytes;
	u->out.head = u->out.tail = NULL;
	if (x->pend.head)
		u->flags |= CONN_F_XHELD;
	if (handshake(w, u) == 0)
		ring_recv(w, u);
}

/* Runs the handshake on what was fed: 1 once the protocol runs, 0 when it
 * needs more, -1 when it failed (the connection is closing). */
static int handshake(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);
	int64_t before = tls_mem_thread();
	int r = tls_conn_handshake(x->t);

	tls__settle(w, c, before);
	if (x->over) {
		r = -ENOMEM; /* past the ssl limit */
		if (tls_conn_reason(x->t) == TLS_R_NONE)
			tls_conn_fail(x->t, TLS_R_NOMEM); /* counted as no_memory, not "none" */
	}

	ring_send(w, c); /* the server's flight, or an alert */
	if (r == -EAGAIN)
		return 0;
	if (r < 0 && c->backend >= 0) {
		tls__count_failure(w, c, true);
		up_failed(w, c);
		return -1;
	}
	if (r < 0) {
		tls__count_failure(w, c, true);
		ring_close_after(w, c); /* an alert may be queued: send it first */
		return -1;
	}
	x->open = true;
	WSTAT_INC(w, tls_handshakes);
	if (tls_conn_resumed(x->t))
		WSTAT_INC(w, tls_resumed);
	if (c->backend >= 0) {
		up_open(w, c);
		return 1;
	}
	timer_cancel(w->tw, &c->tm); /* the protocol's timer from here */
	proto_of(c)->accept(w, c);
	return 1;
}

/* ---- reading ---- */

/* Hands the protocol the plaintext of what was fed: DL_DONE, DL_GONE once
 * the connection is torn down or failed, DL_NOBUF when no plaintext buffer
 * could be had (tls_conn_pending_in() is what is left of the fed bytes,
 * and the session may hold plaintext decrypted already). */
static int deliver(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);
	const struct proto_ops *p = proto_of(c);

	while (!(c->flags & (CONN_F_CLOSING | CONN_F_RD_EOF))) {
		int cls = pool_class_of(w->buf_size);
		char *b = pool_get(w->pc, cls);
		size_t cap = w->buf_size;
		ssize_t n;

		/* The ring's class is exhausted (TLS takes a plaintext buffer
		 * beside each received one): read in smaller pieces. */
		for (int k = cls - 1; !b && k >= 0; k--) {
			b = pool_get(w->pc, k);
			cap = pool_class_size(k);
		}
		if (!b)
			return DL_NOBUF; /* the caller keeps what is left, and waits */
		int64_t before = tls_mem_thread();

		n = tls_conn_read(x->t, b, cap);
		tls__settle(w, c, before);
		ring_send(w, c); /* a key update, an alert */
		if (n > 0 && x->over) {
			pool_put(w->pc, b, (uint32_t)n);
			n = -ENOMEM;
		}
		if (n > 0) {
			p->data(w, c, b, (uint32_t)n);
			continue;
		}
		pool_put(w->pc, b, 0);
		if (n == -EAGAIN)
			return DL_DONE;
		if (n == 0) { /* close_notify */
			c->flags |= CONN_F_RD_EOF;
			p->eof(w, c);
		} else {
			tls__count_failure(w, c, false);
			p->error(w, c, (int)n);
		}
		return DL_GONE;
	}
	return DL_GONE;
}

/* Appends the first <len> bytes of the received buffer <buf> (written up
 * to <used>) to what <c> holds; the held queue owns <buf> from here (it is
 * given back on failure). 0 or -ENOMEM: no descriptor could be had, which
 * the ring sets one aside for per buffer it lends (bufq_spare()). */
static int hold(struct worker *w, struct conn *c, char *buf, uint32_t len, uint32_t used)
{
	return bufq_queue_to(w, &txc_of(w, c)->held, buf, len, used);
}

/* Without a descriptor to hold ciphertext with, the connection cannot wait
 * for a buffer: it ends (counted), as a raw one does when its data cannot be
 * queued. */
static void hold_failed(struct worker *w, struct conn *c)
{
	WSTAT_INC(w, buffer_fails);
	proto_of(c)->abort(w, c);
}

/* deliver() found no plaintext buffer for what <buf> (<res> bytes received)
 * was fed with: the rest of it is held, reading stops, and <c> waits in the
 * buffer FIFO (counted in buffer_waits) for its protocol's resume(). */
static void stall(struct worker *w, struct conn *c, char *buf, uint32_t res)
{
	struct txc *x = txc_of(w, c);
	uint32_t left = (uint32_t)tls_conn_pending_in(x->t);

	tls_conn_feed(x->t, NULL, 0);
	x->stalled = true;
	if (left) {
		memmove(buf, buf + res - left, left);
		if (hold(w, c, buf, left, res) < 0) {
			hold_failed(w, c);
			return;
		}
	} else {
		pool_put(w->pc, buf, res); /* all of it is in the session already */
	}
	ring_cancel_recv(w, c);
	x->rwait = true;
	ring_bufwait(w, c);
	ring_watch(w, c); /* a reset while nothing reads still ends it */
}

/* A stalled connection's protocol reads again: what is held is fed, in
 * order, and delivered, each buffer given back once consumed; then the
 * end of stream that came behind it, if one did; then the protocol's
 * resume() receives (unless it holds reading back). Stalls again, where it
 * stopped, when a plaintext buffer is still missing. */
static void drain(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);
	int r = DL_DONE;

	tls__cur_w = w;
	x->draining = true;
	while (x->stalled) {
		struct buf *b = x->held.head;

		tls_conn_feed(x->t, b ? b->data + b->off : NULL, b ? b->len - b->off : 0);
		r = deliver(w, c);
		if (r == DL_NOBUF && b)
			b->off = b->len - (uint32_t)tls_conn_pending_in(x->t);
		tls_conn_feed(x->t, NULL, 0);
		if (r != DL_DONE)
			break;
		if (b)
			bufq_pop(w, &x->held);
		x->stalled = x->held.head != NULL;
	}
	x->draining = false;
	if (r == DL_GONE || (c->flags & CONN_F_CLOSING))
		return; /* tls_release() gives back what is held */
	if (r == DL_NOBUF) {
		x->rwait = true;
		ring_bufwait(w, c);
		ring_watch(w, c);
		return;
	}
	if (x->held_eof) {
		x->held_eof = false;
		tls_conn_feed_eof(x->t);
		c->flags |= CONN_F_RD_EOF; /* as tls_on_recv() takes a read of 0 */
		proto_of(c)->eof(w, c);
		return;
	}
	proto_of(c)->resume(w, c);
}

static void tls_read(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (x && x->draining)
		return; /* from the protocol's data(): drain() resumes it after */
	if (x && x->stalled)
		drain(w, c);
	else
		ring_recv(w, c);
}

static void tls_stop_read(struct worker *w, struct conn *c)
{
	ring_cancel_recv(w, c);
}

static void tls_on_recv(struct worker *w, struct conn *c, int res, uint32_t flags)
{
	struct txc *x = txc_of(w, c);
	bool more = flags & IORING_CQE_F_MORE;

	tls__cur_w = w;
	if (!more)
		c->flags &= ~(CONN_F_RECV | CONN_F_CANCELING);
	if (res > 0) {
		char *buf = ring_take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);
		int r = DL_DONE;

		WSTAT_ADD(w, bytes_in, res);
		if (x->stalled) {
			/* Received before the cancel landed: behind what is held. */
			if (hold(w, c, buf, (uint32_t)res, (uint32_t)res) < 0)
				hold_failed(w, c);
			else if (!more)
				proto_of(c)->resume(w, c); /* nothing else may come to wake it */
			return;
		}
		if (!x->open && (c->flags & (CONN_F_CLOSE_AFTER | CONN_F_CLOSING))) {
			/* The handshake failed (counted once) and its alert is on
			 * the way: the rest of the peer's flight is not fed. */
			pool_put(w->pc, buf, res);
			return;
		}
		tls_conn_feed(x->t, buf, (size_t)res);
		if (x->open) {
			r = deliver(w, c);
		} else {
			int h = handshake(w, c);

			r = h < 0 ? DL_GONE : h == 0 ? DL_DONE : deliver(w, c);
		}
		if (r == DL_NOBUF && !(c->flags & CONN_F_CLOSING)) {
			stall(w, c, buf, (uint32_t)res);
			return;
		}
		tls_conn_feed(x->t, NULL, 0); /* nothing stays lent */
		pool_put(w->pc, buf, res);
		if (r != DL_DONE || more || (c->flags & CONN_F_CLOSING))
			return;
		if (x->open)
			proto_of(c)->resume(w, c);
		else
			ring_recv(w, c);
		return;
	}
	if (res == 0 && x->stalled) {
		x->held_eof = true; /* delivered after what is held: drain() */
		return;
	}
	if (res == 0) {
		tls_conn_feed_eof(x->t);
		if (!x->open) {
			if (tls_conn_reason(x->t) == TLS_R_NONE)
				tls_conn_fail(x->t, TLS_R_CLOSED); /* gone before the end */
			tls__count_failure(w, c, true);
			ring_close(w, c);
			return;
		}
		c->flags |=
		    CONN_F_RD_EOF; /* without close_notify: truncated, the same to the protocol */
		proto_of(c)->eof(w, c);
	} else if (res == -ENOBUFS) {
		x->rwait = true;
		ring_bufwait(w, c);
		ring_watch(w, c);
	} else if (res == -ECANCELED) {
		if (x->open)
			proto_of(c)->resume(w, c);
		else
			ring_recv(w, c);
	} else if (x->open) {
		proto_of(c)->error(w, c, res);
	} else {
		ring_close(w, c);
	}
}

static void tls_release(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (!x)
		return;
	bufq_drop_q(w, &x->pend);
	bufq_drop_q(w, &x->held); /* ciphertext a stalled connection still held */
	tls_conn_free(x->t);      /* NULL when the session was refused */
	acct_release(w->acct, ACCT_SSL, w->real_node, x->charged); /* all of it: freed */
	free(x);
	conn_xctx_set(&w->ct, c, NULL);
	acct_release(w->acct, ACCT_SSL, w->real_node, TXC_COST);
}

unsigned tls_xprt_info(const struct worker *w, const struct conn *c, const char **sni)
{
	const struct txc *x = c->xprt == ops_tls_xprt() ? txc_of(w, c) : NULL;

	*sni = NULL;
	if (!x || !x->t || !x->open)
		return 0;
	*sni = tls_conn_sni(x->t);
	return tls_conn_version(x->t);
}

const struct xprt_ops tls_xprt = {
    .name = "tls",
    .can_splice = false,
    .accept = tls_accept,
    .connected = tls_connected,
    .read = tls_read,
    .stop_read = tls_stop_read,
    .on_recv = tls_on_recv,
    .queue = tls__queue,
    .queue_ref = tls__queue_ref,
    .flush = tls__flush,
    .on_sent = tls__on_sent,
    .shut_write = tls__shut_write,
    .write_now = tls__write_now,
    .release = tls_release,
    .wake = tls__wake,
};
