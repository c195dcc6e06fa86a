/* The TLS transport's writing side (tls.c has the handshake and reading):
 * what a protocol queues is sealed into records in pool buffers reserved
 * before each write is encrypted, held as plaintext while the pool refuses
 * them, and sent through the connection's out queue, one send in flight;
 * close_notify and the write side's shutdown follow what is queued. Also
 * the bookkeeping both sides share (tls-int.h): the session's memory
 * charged to ssl, failures counted and logged. One
 * reason to change: how plaintext leaves a TLS connection.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/log.h"
#include "core/lb/snapshot.h"
#include "core/loop/bufq.h"
#include "core/loop/ops.h"
#include "core/loop/ring.h"
#include "core/mem/acct.h"
#include "core/mem/pool.h"
#include "core/xprt/tls-int.h"
#include "tls/tls.h"

/* The worker a session's records are queued by: tls_conn_*() calls back
 * into tls__tx_out() on the thread that called it; and, while seal() writes,
 * the buffers reserved for the records. */
__thread struct worker *tls__cur_w;
__thread struct bufq *tls__cur_rsv;

/* What tls/ allocated (or freed) on this thread since <before>, charged to
 * (or released from) the ssl component for <c>'s session. A refused charge
 * marks the connection to end: its memory stays within the limit but for
 * what one call took. */
void tls__settle(struct worker *w, struct conn *c, int64_t before)
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
int tls__tx_out(void *arg, const char *data, size_t len)
{
	struct conn *c = arg;
	struct worker *w = tls__cur_w;

	/* Records packed into buffers of the ring's class: a 16 KiB record
	 * would otherwise take a 64 KiB buffer of its own. */
	return bufq_append(w, c, data, len, pool_class_of(w->buf_size), tls__cur_rsv);
}

void tls__count_failure(struct worker *w, struct conn *c, bool in_handshake)
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

/* ---- writing ----
 *
 * A record, once made, must go out: the session's sequence numbers have
 * moved on. So the buffers for the records of a write are reserved before
 * it is encrypted; when the pool refuses them, the plaintext is held
 * (pend), counted as queued (the protocol's backpressure sees it), and the
 * connection waits in the buffer FIFO as a read without a buffer does,
 * instead of ending. What is written meanwhile goes behind it; tls__wake()
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
	tls__cur_w = w;
	tls__cur_rsv = &rsv;
	before = tls_mem_thread();
	n = tls_conn_write(x->t, data, len);
	tls__settle(w, c, before);
	tls__cur_rsv = NULL;
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
	int ret = ref ? bufq_queue_ref_to(w, &x->pend, data, len, 0)
	              : bufq_queue_to(w, &x->pend, data, len, used);

	if (ret == 0) {
		x->pend_bytes += len;
		c->out_bytes += len; /* counted as queued for the connection */
		c->flags |= CONN_F_XHELD;
	}
	return ret;
}

/* Seals what <c> holds, in order: 1 when all of it is sealed, 0 when a
 * reservation was refused (the rest stays held), -ENOMEM as seal(). */
int tls__pend_seal(struct worker *w, struct conn *c)
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
			bufq_pop(w, &x->pend);
	}
	c->flags &= ~CONN_F_XHELD;
	return 1;
}

/* Sealing what was held failed: the connection fails, counted. */
void tls__seal_failed(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (tls_conn_reason(x->t) == TLS_R_NONE)
		tls_conn_fail(x->t, TLS_R_NOMEM);
	tls__count_failure(w, c, false);
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

int tls__queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used)
{
	if (!txc_of(w, c)) /* an upstream before its connect: moved to pend then */
		return bufq_queue(w, c, data, len, used);
	return tls_write(w, c, data, len, used, false);
}

int tls__queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len, bool more)
{
	if (!txc_of(w, c))
		return bufq_queue_ref(w, c, data, len, more ? BUF_F_MORE : 0);
	return tls_write(w, c, (char *)data, len, 0, true);
}

static void notify(struct worker *w, struct conn *c);

void tls__flush(struct worker *w, struct conn *c)
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
	if (c->flags & CONN_F_XHELD) { /* behind what is held: tls__wake() */
		x->notify_wanted = true;
		ring_send(w, c);
		return;
	}
	int64_t before = tls_mem_thread();

	x->notified = true;
	tls__cur_w = w;
	tls_conn_shutdown(x->t);
	tls__settle(w, c, before);
	ring_send(w, c);
}

static void out_done(struct worker *w, struct conn *c);

void tls__on_sent(struct worker *w, struct conn *c, int res)
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

int tls__shut_write(struct worker *w, struct conn *c)
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

int tls__write_now(int fd, const struct iovec *iov, int n)
{
	return -ENOTSUP; /* no record without a session */
}

/* Buffers may be had again: what is held is sealed (the connection
 * waits again if a reservation is still refused), then a read that waited
 * goes on. */
void tls__wake(struct worker *w, struct conn *c)
{
	struct txc *x = txc_of(w, c);

	if (x->open && (c->flags & CONN_F_XHELD)) {
		int r = tls__pend_seal(w, c);

		if (r < 0) {
			tls__seal_failed(w, c);
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
