/* The TLS transport: a connection's bytes are TLS records on its socket,
 * plaintext to its protocol. wolfSSL never touches the socket (tls/):
 * ciphertext comes from the ring's provided buffers and is lent to the
 * session (tls_conn_feed()); the records it writes are copied into pool
 * buffers reserved before each write is encrypted and leave through the
 * connection's out queue, one send in flight, as on the raw transport; when
 * the pool refuses the reservation, the plaintext waits (see writing).
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
#include "core/xprt/tls.h"
#include "tls/tls.h"

#define TXC_COST (sizeof(struct txc) + 16) /* charged to ACCT_SSL with the allocator's header */

/* A connection's TLS state (conn_xctx()). */
struct txc {
	struct tls_conn *t;
	/* Plaintext not made into records yet: an upstream's before its
	 * handshake ends, and any connection's while the buffers for its
	 * records cannot be reserved (CONN_F_XHELD while there is some). */
	struct bufq pend;
	uint32_t pend_bytes; /* its bytes (still counted in the record's out_bytes) */
	uint64_t charged;     /* of ACCT_SSL: what tls/ allocated for <t> */
	bool over;            /* a charge was refused: the connection ends */
	bool open;            /* the handshake is done: the protocol runs */
	bool shut;            /* close_notify sent: shut the write side once it is out */
	bool notified;        /* close_notify queued */
	bool stalled;         /* no plaintext buffer: what is held is read before any receive */
	bool held_eof;        /* the peer's end of stream came behind the held bytes */
	bool draining;        /* drain() runs: a read the protocol asks for meanwhile is its */
	bool rwait;           /* in the buffer FIFO to read: the protocol resumes on wake */
	bool notify_wanted;   /* close_notify goes out once what is pending is sealed */
	struct bufq held;     /* stalled: received ciphertext not decrypted yet, in order */
};

/* What deliver() ended with. */
enum {
	DL_DONE,  /* all that was fed is delivered: receive on */
	DL_GONE,  /* the connection is torn down or failed */
	DL_NOBUF, /* no plaintext buffer: some of what was fed is left */
};

/* The worker a session's records are queued by: tls_conn_*() calls back
 * into tx_out() on the thread that called it; and, while seal() writes,
 * the buffers reserved for the records. */
static __thread struct worker *cur_w;
static __thread struct bufq *cur_rsv;

static struct txc *txc_of(const struct worker *w, const struct conn *c)
{
	return conn_xctx(&w->ct, c);
}

/* What tls/ allocated (or freed) on this thread since <before>, charged to
 * (or released from) the ssl component for <c>'s session. A refused charge
 * marks the connection to end: its memory stays within the limit but for
 * what one call took. */
static void settle(struct worker *w, struct conn *c, int64_t before)
{
	struct txc *x = txc_of(w, c);
	int64_t d = tls_mem_thread() - before;

	if (d > 0) {
		if (acct_charge(w->acct, ACCT_SSL, w->real_node, (size_t)d) < 0) {
			x->over = true;
			return;
		}
		x->charged += (uint64_t)d;
	} else if (d < 0) {
		uint64_t n = (uint64_t)-d < x->charged ? (uint64_t)-d : x->charged;

		acct_release(w->acct, ACCT_SSL, w->real_node, n);
		x->charged -= n;
	}
}

/* Queues <len> bytes of records on <c>. */
static int tx_out(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;
	struct worker *w = cur_w;

	/* Records packed into buffers of the ring's class: a 16 KiB record
	 * would otherwise take a 64 KiB buffer of its own. */
	return bufq_append(w, c, data, len, pool_class_of(w->buf_size), cur_rsv);
}

static void count_failure(struct worker *w, struct conn *c, bool in_handshake)
{
	static __thread struct log_ratelimit rl;
	enum tls_reason r = tls_conn_reason(txc_of(w, c)->t);

	if (in_handshake)
		WSTAT_INC(w, tls_failed);
	if (r < TLS_R_COUNT)
		atomic_fetch_add_explicit(&w->xprt_fail[r], 1, memory_order_relaxed);
	if (!log_ratelimit(&rl, 5))
		return;
	if (c->backend >= 0) /* an upstream */
		log_info("pool %s: tls %s: %s", ring_listener(w, c)->gen->cfg->pools[c->pool].name,
		         in_handshake ? "handshake failed" : "connection failed",
		         tls_reason_name(r));
	else
		log_info("listener %s: tls %s: %s", ring_listener(w, c)->cfg->name,
		         in_handshake ? "handshake failed" : "connection failed",
		         tls_reason_name(r));
}

static int pend_seal(struct worker *w, struct conn *c);
static void seal_failed(struct worker *w, struct conn *c);
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
	count_failure(w, c, true);
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
	cur_w = w;
	before = tls_mem_thread();
	x->t = tls_conn_new(ctx, sni, tx_out, c);
	settle(w, c, before);
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
	int r = pend_seal(w, u);

	if (r > 0)
		ring_send(w, u);
	else if (r == 0)
		ring_bufwait(w, u); /* the rest is sealed on wake */
	proto_of(u)->connected(w, u, 0);
	if (r < 0 && !(u->flags & CONN_F_CLOSING))
		seal_failed(w, u);
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

	settle(w, c, before);
	if (x->over) {
		r = -ENOMEM; /* past the ssl limit */
		if (tls_conn_reason(x->t) == TLS_R_NONE)
			tls_conn_fail(x->t, TLS_R_NOMEM); /* counted as no_memory, not "none" */
	}

	ring_send(w, c); /* the server's flight, or an alert */
	if (r == -EAGAIN)
		return 0;
	if (r < 0 && c->backend >= 0) {
		count_failure(w, c, true);
		up_failed(w, c);
		return -1;
	}
	if (r < 0) {
		count_failure(w, c, true);
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
		settle(w, c, before);
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
			count_failure(w, c, false);
			p->error(w, c, (int)n);
		}
		return DL_GONE;
	}
	return DL_GONE;
}

/* bufq_queue() (<ref>: bufq_queue_ref()) onto <q>, a queue of <c>'s other
 * than its out queue (which bufq_queue() appends to: it is lent <q> for the
 * call), leaving the out queue and its byte count as they were. */
static int queue_aside(struct worker *w, struct conn *c, struct bufq *q, char *data, uint32_t len,
                       uint32_t used, bool ref)
{
	struct bufq out = c->out;
	uint32_t out_bytes = c->out_bytes;
	int ret;

	c->out = *q;
	ret = ref ? bufq_queue_ref(w, c, data, len, 0) : bufq_queue(w, c, data, len, used);
	*q = c->out;
	c->out = out;
	c->out_bytes = out_bytes;
	return ret;
}

/* Appends the first <len> bytes of the received buffer <buf> (written up
 * to <used>) to what <c> holds; the held queue owns <buf> from here (it is
 * given back on failure). 0 or -ENOMEM: no descriptor could be had, which
 * the ring sets one aside for per buffer it lends (bufq_spare()). */
static int hold(struct worker *w, struct conn *c, char *buf, uint32_t len, uint32_t used)
{
	return queue_aside(w, c, &txc_of(w, c)->held, buf, len, used, false);
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

/* Gives back the buffer at the head of <q> (its bytes all consumed). */
static void q_pop(struct worker *w, struct bufq *q)
{
	struct bufq one = {.head = q->head, .tail = q->head};

	q->head = one.head->next;
	if (!q->head)
		q->tail = NULL;
	one.head->next = NULL;
	bufq_drop_q(w, &one);
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

	cur_w = w;
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
			q_pop(w, &x->held);
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

	cur_w = w;
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
			count_failure(w, c, true);
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

/* ---- writing ----
 *
 * A record, once made, must go out: the session's sequence numbers have
 * moved on. So the buffers for the records of a write are reserved before
 * it is encrypted; when the pool refuses them, the plaintext is held
 * (pend), counted as queued (the protocol's backpressure sees it), and the
 * connection waits in the buffer FIFO as a read without a buffer does,
 * instead of ending. What is written meanwhile goes behind it; tls_wake()
 * seals it, a record at a time, and close_notify or the write side's
 * shutdown wait for it. */

/* A held buffer is sealed a record at a time: each reservation is small. */
#define SEAL_STEP 16384u

/* Encrypts <len> bytes at <data> into records on <c>'s out queue, their
 * buffers reserved first: 1 when done, 0 when the reservation was refused
 * (nothing was written), -ENOMEM when the session failed or its memory
 * was refused. */
static int seal(struct worker *w, struct conn *c, const char *data, uint32_t len)
{
	struct txc *x = txc_of(w, c);
	struct bufq rsv = {0};
	int64_t before;
	ssize_t n;

	if (bufq_reserve(w, c, tls_conn_out_bound(x->t, len), pool_class_of(w->buf_size), &rsv) < 0)
		return 0;
	cur_w = w;
	cur_rsv = &rsv;
	before = tls_mem_thread();
	n = tls_conn_write(x->t, data, len);
	settle(w, c, before);
	cur_rsv = NULL;
	bufq_drop_q(w, &rsv); /* what the bound kept beyond the records */
	return n < 0 || x->over ? -ENOMEM : 1;
}

/* Holds <len> bytes of plaintext behind what <c> holds: a pool buffer
 * written up to <used> (the queue owns it from here), or with <ref> memory
 * the caller keeps alive until it is sent. 0 or -ENOMEM. */
static int pend_add(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used,
                    bool ref)
{
	struct txc *x = txc_of(w, c);
	int ret = queue_aside(w, c, &x->pend, data, len, used, ref);

	if (ret == 0) {
		x->pend_bytes += len;
		c->out_bytes += len; /* counted as queued for the connection */
		c->flags |= CONN_F_XHELD;
	}
	return ret;
}

/* Seals what <c> holds, in order: 1 when all of it is sealed, 0 when a
 * reservation was refused (the rest stays held), -ENOMEM as seal(). */
static int pend_seal(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);
	struct buf *b;

	while ((b = x->pend.head)) {
		uint32_t k = b->len - b->off < SEAL_STEP ? b->len - b->off : SEAL_STEP;
		int r = k ? seal(w, c, b->data + b->off, k) : 1;

		if (r <= 0)
			return r;
		b->off += k;
		x->pend_bytes -= k;
		c->out_bytes -= k;
		if (b->off == b->len)
			q_pop(w, &x->pend);
	}
	c->flags &= ~CONN_F_XHELD;
	return 1;
}

/* Sealing what was held failed: the connection fails, counted. */
static void seal_failed(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (tls_conn_reason(x->t) == TLS_R_NONE)
		tls_conn_fail(x->t, TLS_R_NOMEM);
	count_failure(w, c, false);
	proto_of(c)->error(w, c, -ENOMEM);
}

/* Writes <len> bytes for an open connection: sealed at once, or held and
 * waited for when the buffers for its records cannot be had. */
static int tls_write(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used,
                     bool ref)
{
	struct txc *x = txc_of(w, c);
	int r;

	if (!x->open || (c->flags & CONN_F_XHELD))
		return pend_add(w, c, data, len, used, ref); /* behind what is held */
	r = seal(w, c, data, len);
	if (r == 0) {
		r = pend_add(w, c, data, len, used, ref);
		if (r == 0)
			ring_bufwait(w, c);
		return r;
	}
	if (!ref)
		pool_put(w->pc, data, used);
	return r < 0 ? -ENOMEM : 0;
}

static int tls_queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used)
{
	if (!txc_of(w, c)) /* an upstream before its connect: moved to pend then */
		return bufq_queue(w, c, data, len, used);
	return tls_write(w, c, data, len, used, false);
}

static int tls_queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len,
                         bool more)
{
	if (!txc_of(w, c))
		return bufq_queue_ref(w, c, data, len, more ? BUF_F_MORE : 0);
	return tls_write(w, c, (char *)data, len, 0, true);
}

static void notify(struct worker *w, struct conn *c);

static void tls_flush(struct worker *w, struct conn *c)
{
	const struct txc *x = txc_of(w, c);

	/* What is queued is the last: close_notify leaves with it, one send
	 * (and one segment) fewer per connection that closes. */
	if ((c->flags & CONN_F_CLOSE_AFTER) && x && x->open && !x->notified)
		notify(w, c);
	else
		ring_send(w, c);
}

static void notify(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (x->notified)
		return;
	if (c->flags & CONN_F_XHELD) { /* behind what is held: tls_wake() */
		x->notify_wanted = true;
		ring_send(w, c);
		return;
	}
	int64_t before = tls_mem_thread();

	x->notified = true;
	cur_w = w;
	tls_conn_shutdown(x->t);
	settle(w, c, before);
	ring_send(w, c);
}

static void out_done(struct worker *w, struct conn *c);

static void tls_on_sent(struct worker *w, struct conn *c, int res)
{
	struct txc *x = txc_of(w, c);

	c->flags &= ~CONN_F_SEND;
	if (res < 0) {
		if (x->open)
			proto_of(c)->error(w, c, res);
		else
			ring_close(w, c);
		return;
	}
	bufq_sent(w, c, (uint32_t)res);
	ring_send(w, c);
	if (x->open)
		proto_of(c)->drained(w, c);
	out_done(w, c);
}

/* Once everything queued on <c> is out: the close or the shutdown of the
 * write side that waited for it. */
static void out_done(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (ring_sending(c) || (c->flags & CONN_F_CLOSING))
		return;
	if (c->flags & CONN_F_CLOSE_AFTER) {
		if (x->open && !x->notified) {
			notify(w, c);
			if (c->out.head)
				return;
		}
		ring_close(w, c);
	} else if (x->shut) {
		x->shut = false;
		shutdown(c->fd, SHUT_WR);
	}
}

static int tls_shut_write(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	notify(w, c);
	if (ring_sending(c)) {
		x->shut = true; /* once close_notify is out */
		return 0;
	}
	if (shutdown(c->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -errno;
	return 0;
}

static int tls_write_now(int fd, const struct iovec *iov, int n)
{
	return -ENOTSUP; /* no record without a session */
}

/* Buffers may be had again: what is held is sealed (the connection
 * waits again if a reservation is still refused), then a read that waited
 * goes on. */
static void tls_wake(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (x->open && (c->flags & CONN_F_XHELD)) {
		int r = pend_seal(w, c);

		if (r < 0) {
			seal_failed(w, c);
			return;
		}
		if (r == 0) {
			ring_bufwait(w, c);
			return;
		}
		if (x->notify_wanted) {
			x->notify_wanted = false;
			notify(w, c);
		} else {
			ring_send(w, c);
		}
		out_done(w, c);
	}
	if (!x->rwait || (c->flags & CONN_F_CLOSING))
		return;
	x->rwait = false;
	if (x->open)
		proto_of(c)->resume(w, c);
	else
		ring_recv(w, c); /* the handshake reads on */
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
    .queue = tls_queue,
    .queue_ref = tls_queue_ref,
    .flush = tls_flush,
    .on_sent = tls_on_sent,
    .shut_write = tls_shut_write,
    .write_now = tls_write_now,
    .release = tls_release,
    .wake = tls_wake,
};
