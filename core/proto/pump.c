/* The byte pump (pump.h): buffers with backpressure, and the splice path.
 *
 * Splice: a spliced socket is read once PUMP_LOWAT bytes are queued
 * (SO_RCVLOWAT), not at every segment: the worker then sleeps and is woken
 * far less often, which is what a wake-up costs the sender's CPU. The poll
 * for readable carries a linked timeout of pump_wait, so fewer bytes than
 * that (a transfer's tail, an interactive peer) wait at most that long; FIN
 * and errors wake it at once.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "core/loop/bufq.h"
#include "core/base/log.h"
#include "core/loop/ops.h"
#include "core/mem/pool.h"
#include "core/proto/pump.h"
#include "core/loop/ring.h"

#define PUMP_SPLICE_ROUNDS 16          /* splice rounds before yielding to other connections */
#define PUMP_LOWAT         (64u << 10) /* SO_RCVLOWAT of a spliced socket */
static const struct __kernel_timespec pump_wait = {.tv_nsec = 1000000}; /* 1 ms */

static uint64_t maxbuf(struct worker *w)
{
	return w->cfg->memory_tuning.max_buffer_size;
}

/* A client side can always be written; an upstream once connected. */
static bool writable(const struct conn *p)
{
	return p->backend < 0 || (p->flags & CONN_F_CONNECTED);
}

void pump_close_pair(struct worker *w, struct conn *x)
{
	struct conn *p = ring_peer(w, x);

	x->peer = CONN_NONE;
	if (p) {
		p->peer = CONN_NONE;
		ring_close(w, p);
	}
	ring_close(w, x);
}

static void pump_abort(struct worker *w, struct conn *x, int err)
{
	static __thread struct log_ratelimit rl;

	WSTAT_INC(w, aborts);
	if (err && err != -ECONNRESET && err != -EPIPE && log_ratelimit(&rl, 5))
		log_debug("pump: connection aborted: %s", strerror(-err));
	proto_abort(w, x);
}

void pump_pause_if_full(struct worker *w, struct conn *x, struct conn *p)
{
	if (p->out_bytes >= maxbuf(w) && !(x->flags & CONN_F_PAUSED)) {
		x->flags |= CONN_F_PAUSED;
		xprt_stop_read(w, x);
		ring_watch(w, x); /* a reset while paused still ends the pair */
	}
}

void pump_unpause(struct worker *w, struct conn *x, struct conn *p)
{
	if ((x->flags & CONN_F_PAUSED) && p->out_bytes <= maxbuf(w) / 2) {
		x->flags &= ~CONN_F_PAUSED;
		proto_of(x)->resume(w, x);
	}
}

bool pump_data(struct worker *w, struct conn *x, char *buf, uint32_t len)
{
	struct conn *p = ring_peer(w, x);

	if (!p) {
		pool_put(w->pc, buf, len);
		return false;
	}
	if (xprt_queue(w, p, buf, len, len) < 0)
		return false;
	if (writable(p))
		xprt_flush(w, p);
	pump_pause_if_full(w, x, p);
	return true;
}

void pump_drained(struct worker *w, struct conn *p)
{
	struct conn *x = ring_peer(w, p);

	if (!x)
		return;
	if (x->flags & CONN_F_PAUSED)
		pump_unpause(w, x, p);
	else if ((x->flags & CONN_F_SPLICE) && !p->out.head)
		pump_resume(w, x);
	pump_eof(w, x);
}

void pump_resume(struct worker *w, struct conn *x)
{
	struct conn *p = ring_peer(w, x);

	if ((x->flags & (CONN_F_CLOSING | CONN_F_RD_EOF | CONN_F_RECV)) || !p)
		return;
	if (x->flags & CONN_F_SPLICE) {
		if (!ring_sending(p) && writable(p))
			pump_splice(w, x);
		return;
	}
	if (!(x->flags & CONN_F_PAUSED))
		xprt_read(w, x);
}

void pump_eof(struct worker *w, struct conn *x)
{
	struct conn *p = ring_peer(w, x);
	uint32_t done = CONN_F_RD_EOF | CONN_F_WR_SHUT;

	if (!p || !(x->flags & CONN_F_RD_EOF) || (p->flags & CONN_F_WR_SHUT) || !writable(p))
		return;
	/* Every byte read from <x> must be written first, from the queue or
	 * (splice) from its pipe. */
	if (ring_sending(p) || pump_pipe_bytes(w, x))
		return;
	if (xprt_shut_write(w, p) < 0) {
		WSTAT_INC(w, aborts);
		proto_abort(w, x);
		return;
	}
	p->flags |= CONN_F_WR_SHUT;
	if ((x->flags & done) == done && (p->flags & done) == done)
		proto_abort(w, x); /* both directions are done: close the pair */
}

/* A splicing connection's pipe: the raw transport's state of the slot,
 * beside the table rather than in every record (conn_xctx()). */
static struct pipe_pair *pipe_of(struct worker *w, const struct conn *c)
{
	return (c->flags & CONN_F_SPLICE) ? conn_xctx(&w->ct, c) : NULL;
}

bool pump_pipe_bytes(struct worker *w, const struct conn *c)
{
	const struct pipe_pair *pp = pipe_of(w, c);

	return pp && pp->bytes;
}

void pump_release(struct worker *w, struct conn *c)
{
	struct pipe_pair *pp = pipe_of(w, c);

	if (pp) {
		bufq_pipe_put(w, pp);
		conn_xctx_set(&w->ct, c, NULL);
	}
}

/* ---- splice ---- */

static void arm_poll(struct worker *w, struct conn *c, uint8_t op, unsigned events)
{
	bool lowat = op == OP_POLL_IN && (c->flags & CONN_F_LOWAT);
	struct io_uring_sqe *sqe;

	ring_reserve(w, lowat ? 2 : 1);
	sqe = ring_sqe(w);
	io_uring_prep_poll_add(sqe, c->fd, events);
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, op));
	c->flags |= op == OP_POLL_IN ? CONN_F_POLL_IN : CONN_F_SEND;
	c->inflight++;
	if (lowat) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = ring_sqe(w);
		io_uring_prep_link_timeout(sqe, (struct __kernel_timespec *)&pump_wait, 0);
		io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_LINK_TIMEOUT));
		c->inflight++;
	}
}

/* Raises the read threshold of a socket that moves to splice. */
static void splice_lowat(struct conn *x)
{
	int v = PUMP_LOWAT;

	if (!(x->flags & CONN_F_LOWAT) &&
	    setsockopt(x->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
		x->flags |= CONN_F_LOWAT;
}

/* Nothing came in the wait: a quiet socket is read at its first byte again
 * and polled with no wait, or it would complete every 1 ms (and never reach
 * its idle timeout). The threshold is raised again when bytes come. */
static void splice_unlowat(struct conn *x)
{
	int v = 1;

	if ((x->flags & CONN_F_LOWAT) &&
	    setsockopt(x->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
		x->flags &= ~CONN_F_LOWAT;
}

/* Empties the pipe into <p>; false once the direction must wait (a poll
 * is armed) or was torn down. */
static bool splice_out(struct worker *w, struct conn *x, struct conn *p, struct pipe_pair *pp)
{
	while (pp->bytes) {
		ssize_t n =
		    splice(pp->rd, NULL, p->fd, NULL, pp->bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n > 0) {
			pp->bytes -= n;
			WSTAT_ADD(w, splice_bytes, n);
			WSTAT_ADD(w, bytes_out, n);
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			arm_poll(w, p, OP_POLL_OUT, POLLOUT);
		else
			pump_abort(w, x, n < 0 ? -errno : -EPIPE);
		return false;
	}
	return true;
}

/* Moves bytes X -> pipe -> P until one side would block. */
void pump_splice(struct worker *w, struct conn *x)
{
	struct conn *p = ring_peer(w, x);
	struct pipe_pair *pp;
	unsigned rounds = 0;
	bool got = false;
	ssize_t n;

	if (!p || (x->flags & (CONN_F_CLOSING | CONN_F_POLL_IN)) || (p->flags & CONN_F_SEND))
		return;
	pp = pipe_of(w, x);
	if (!pp) {
		pp = bufq_pipe_get(w);
		if (pp && conn_xctx_set(&w->ct, x, pp) < 0) {
			bufq_pipe_put(w, pp);
			pp = NULL;
		}
		if (!pp) {
			/* No pipe left: this direction stays on buffers. */
			WSTAT_INC(w, pipe_exhausted);
			x->flags = (x->flags & ~CONN_F_SPLICE) | CONN_F_NOSPLICE;
			xprt_read(w, x);
			return;
		}
	}
	splice_lowat(x);
	for (;;) {
		if (!splice_out(w, x, p, pp))
			return;
		if (x->flags & CONN_F_RD_EOF) {
			pump_eof(w, x);
			return;
		}
		if (++rounds > PUMP_SPLICE_ROUNDS) {
			arm_poll(w, x, OP_POLL_IN, POLLIN);
			return;
		}
		n = splice(x->fd, NULL, pp->wr, NULL, maxbuf(w), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			pp->bytes += n;
			got = true;
			WSTAT_ADD(w, bytes_in, n);
		} else if (n == 0) {
			x->flags |= CONN_F_RD_EOF;
		} else if (errno == EAGAIN) {
			if (!got)
				splice_unlowat(x);
			arm_poll(w, x, OP_POLL_IN, POLLIN);
			return;
		} else {
			pump_abort(w, x, -errno);
			return;
		}
	}
}

void pump_polled(struct worker *w, struct conn *c, uint8_t op, int res)
{
	struct conn *p;

	if (op == OP_POLL_IN) {
		c->flags &= ~CONN_F_POLL_IN;
		if (res < 0 && res != -ECANCELED)
			pump_abort(w, c, res);
		else
			pump_splice(w, c); /* readable, or the linked wait ran out */
		return;
	}
	c->flags &= ~CONN_F_SEND; /* OP_POLL_OUT */
	p = ring_peer(w, c);
	if (res < 0)
		pump_abort(w, c, res);
	else if (p)
		pump_splice(w, p);
}
