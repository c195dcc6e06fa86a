/* The L4 TCP proxy: a client record and an upstream record, and a byte
 * pump in each direction.
 *
 * A direction (socket X read, its peer P written) runs in one of two modes:
 * - buffers: X's multishot recv fills provided buffers which queue on P's
 *   out queue; one send at a time drains it. When P's queue reaches
 *   max_buffer_size, X's recv is cancelled (X stops being read) until the
 *   queue is down to half.
 * - splice: non-blocking splice(2) X -> pipe -> P whenever the ring reports
 *   X readable or P writable (poll); the pipe comes from a per-worker pool.
 *   `splice: auto` switches after the first 64 KiB of a direction, once
 *   the bytes already queued are sent, so order is kept.
 * EOF on X is forwarded as shutdown(P, SHUT_WR) once everything read from
 * X is written; the pair closes when both directions are done.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lb.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/worker-int.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define L4_SPLICE_ROUNDS              16 /* splice rounds before yielding to other connections */

static void l4_splice(struct worker *w, struct conn *x);

static struct wlistener *listener_of(struct worker *w, struct conn *c)
{
	return worker__listener(w, c);
}

static struct cfg_pool *pool_of(struct wlistener *ls)
{
	return &ls->gen->cfg->pools[ls->cfg->pool_idx];
}

static struct lb *lb_of(struct wlistener *ls)
{
	return snapshot_lb(ls->gen->cfg, ls->cfg->pool_idx);
}

static bool writable(const struct conn *p)
{
	return p->kind == CONN_K_CLIENT || (p->flags & CONN_F_CONNECTED);
}

/* Tears down both sides of the pair <x> belongs to. */
void l4_close_pair(struct worker *w, struct conn *x)
{
	struct conn *p = worker__peer(w, x);

	x->peer = CONN_NONE;
	if (p) {
		p->peer = CONN_NONE;
		worker__close(w, p);
	}
	worker__close(w, x);
}

static void l4_abort(struct worker *w, struct conn *x, int err)
{
	static __thread struct log_ratelimit rl;

	WSTAT_INC(w, aborts);
	if (err && err != -ECONNRESET && err != -EPIPE && log_ratelimit(&rl, 5))
		log_debug("l4: connection aborted: %s", strerror(-err));
	l4_close_pair(w, x);
}

/* ---- pipes ---- */

static struct pipe_pair *pipe_get(struct worker *w)
{
	struct pipe_pair *pp = w->pipe_free;
	int fds[2];

	if (pp) {
		w->pipe_free = pp->next;
		return pp;
	}
	if (w->pipes >= w->pipes_max || pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return NULL;
	pp = calloc(1, sizeof(*pp));
	if (!pp) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	/* A pipe as large as one direction may hold in flight. */
	fcntl(fds[1], F_SETPIPE_SZ, (int)w->cfg->memory_tuning.max_buffer_size);
	pp->rd = fds[0];
	pp->wr = fds[1];
	w->pipes++;
	return pp;
}

static void pipe_put(struct worker *w, struct pipe_pair *pp)
{
	if (pp->bytes) {
		/* Bytes of a dead connection are still inside: drop the pipe. */
		close(pp->rd);
		close(pp->wr);
		free(pp);
		w->pipes--;
		return;
	}
	pp->next = w->pipe_free;
	w->pipe_free = pp;
}

/* ---- connect ---- */

static uint64_t client_key(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return lb_hash(&((struct sockaddr_in *)&ss)->sin_addr, 4);
	return lb_hash(&((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
}

/* Picks a backend not tried yet for client <c> and starts connecting to
 * it. Returns 0, or -1 after closing <c> when no backend is left. */
static int l4_connect(struct worker *w, struct conn *c)
{
	struct wlistener *ls = listener_of(w, c);
	int pi = ls->cfg->pool_idx, b, err;
	uint64_t key = pool_of(ls)->algorithm == CFG_ALGO_MAGLEV ? client_key(c) : 0;

	while ((b = worker__pick(w, ls, pi, c, key)) >= 0) {
		if (worker__upstream(w, ls, pi, c, b, CONN_K_UPSTREAM, &err))
			return 0;
		if (err == -ENOSPC)
			break;
	}
	WSTAT_INC(w, no_backend);
	worker__close(w, c);
	return -1;
}

static void l4_on_connect(struct worker *w, struct conn *u, int res)
{
	struct conn *c = worker__peer(w, u);
	struct wlistener *ls = listener_of(w, u);
	struct cfg_pool *pool = pool_of(ls);
	struct lb *lb = lb_of(ls);
	static __thread struct log_ratelimit rl;

	if (res == 0) {
		WSTAT_INC(w, connect_ok);
		lb_connect_ok(lb, u->backend);
		u->flags |= CONN_F_CONNECTED;
		if (!c) {
			worker__close(w, u);
			return;
		}
		if (ls->cfg->splice == SPLICE_ALWAYS) {
			u->flags |= CONN_F_SPLICE;
			c->flags |= CONN_F_SPLICE;
			l4_splice(w, c);
			if (!(u->flags & CONN_F_CLOSING))
				l4_splice(w, u);
			return;
		}
		worker__arm_recv(w, u);
		worker__send_next(w, u);
		worker__fwd_eof(w, c);
		return;
	}
	WSTAT_INC(w, connect_fail);
	if (res == -ECANCELED)
		WSTAT_INC(w, connect_timeout);
	lb_connect_fail(lb, u->backend);
	if (log_ratelimit(&rl, 5))
		log_warn("pool %s: connect %s: %s", pool->name,
		         pool->backends[u->backend].address.text,
		         res == -ECANCELED ? "timed out" : strerror(-res));
	u->peer = CONN_NONE;
	worker__close(w, u);
	if (!c)
		return;
	c->peer = CONN_NONE;
	/* Client bytes already read wait on <u>'s queue: park them on the
	 * client's own (empty until a backend answers) and hand them over. */
	c->out = u->out;
	c->out_bytes = u->out_bytes;
	u->out.head = u->out.tail = NULL;
	u->out_bytes = 0;
	if (l4_connect(w, c) == 0) {
		struct conn *nu = worker__peer(w, c);

		nu->out = c->out;
		nu->out_bytes = c->out_bytes;
		c->out.head = c->out.tail = NULL;
		c->out_bytes = 0;
	}
}

/* ---- the buffer pump ---- */

/* Reading <x> may go on (or switch to splice): called whenever its recv is
 * not armed and something that held it back changed. */
void l4_resume(struct worker *w, struct conn *x)
{
	struct conn *p = worker__peer(w, x);

	if ((x->flags & (CONN_F_CLOSING | CONN_F_RD_EOF | CONN_F_RECV)) || !p)
		return;
	if (x->flags & CONN_F_SPLICE) {
		if (!p->out.head && !(p->flags & CONN_F_SEND) && writable(p))
			l4_splice(w, x);
		return;
	}
	if (!(x->flags & CONN_F_PAUSED))
		worker__arm_recv(w, x);
}

static void l4_on_recv(struct worker *w, struct conn *x, int res, uint32_t flags)
{
	const struct cfg_listener *l = listener_of(w, x)->cfg;
	struct conn *p = worker__peer(w, x);

	if (!(flags & IORING_CQE_F_MORE))
		x->flags &= ~(CONN_F_RECV | CONN_F_CANCELING);
	if (res > 0) {
		char *buf = worker__take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);

		WSTAT_ADD(w, bytes_in, res);
		x->rx_bytes = x->rx_bytes > UINT32_MAX - res ? UINT32_MAX : x->rx_bytes + res;
		if (!p) {
			pool_put(w->pc, buf, res);
			return;
		}
		if (worker__queue(w, p, buf, res) < 0) {
			l4_abort(w, x, -ENOMEM);
			return;
		}
		if (writable(p))
			worker__send_next(w, p);
		if (p->out_bytes >= w->cfg->memory_tuning.max_buffer_size &&
		    !(x->flags & CONN_F_PAUSED)) {
			x->flags |= CONN_F_PAUSED;
			worker__cancel_recv(w, x);
			worker__watch(w, x);
		}
		if (l->splice == SPLICE_AUTO && x->rx_bytes >= L4_SPLICE_AFTER &&
		    !(x->flags & (CONN_F_SPLICE | CONN_F_NOSPLICE))) {
			x->flags |= CONN_F_SPLICE;
			WSTAT_INC(w, splices);
			worker__cancel_recv(w, x);
		}
		if (!(flags & IORING_CQE_F_MORE))
			l4_resume(w, x);
		return;
	}
	if (res == 0) {
		x->flags |= CONN_F_RD_EOF;
		worker__fwd_eof(w, x);
		return;
	}
	if (res == -ENOBUFS) {
		worker__bufwait(w, x);
		worker__watch(w, x);
		return;
	}
	if (res == -ECANCELED) {
		l4_resume(w, x);
		return;
	}
	l4_abort(w, x, res);
}

static void l4_on_send(struct worker *w, struct conn *p, int res)
{
	struct conn *x = worker__peer(w, p);

	p->flags &= ~CONN_F_SEND;
	if (res < 0) {
		l4_abort(w, p, res);
		return;
	}
	worker__sent(w, p, res);
	worker__send_next(w, p);
	if (!x)
		return;
	if ((x->flags & CONN_F_PAUSED) &&
	    p->out_bytes <= w->cfg->memory_tuning.max_buffer_size / 2) {
		x->flags &= ~CONN_F_PAUSED;
		l4_resume(w, x);
	} else if ((x->flags & CONN_F_SPLICE) && !p->out.head) {
		l4_resume(w, x);
	}
	worker__fwd_eof(w, x);
}

/* ---- the splice pump ---- */

/* A spliced socket is read once L4_SPLICE_LOWAT bytes are queued
 * (SO_RCVLOWAT), not at every segment: the worker then sleeps and is woken
 * far less often, which is what a wake-up costs the sender's CPU. The
 * poll for readable carries a linked timeout of L4_SPLICE_WAIT, so fewer
 * bytes than that (a transfer's tail, an interactive peer) wait at most
 * that long; FIN and errors wake it at once. */
#define L4_SPLICE_LOWAT (64u << 10)
static const struct __kernel_timespec l4_splice_wait = {.tv_nsec = 1000000}; /* 1 ms */

static void arm_poll(struct worker *w, struct conn *c, uint8_t op, unsigned events)
{
	bool lowat = op == OP_POLL_IN && (c->flags & CONN_F_LOWAT);
	struct io_uring_sqe *sqe;

	worker__sq_reserve(w, lowat ? 2 : 1);
	sqe = worker__sqe(w);

	io_uring_prep_poll_add(sqe, c->fd, events);
	io_uring_sqe_set_data64(sqe, worker__ud(w, c, op));
	c->flags |= op == OP_POLL_IN ? CONN_F_POLL_IN : CONN_F_SEND;
	c->inflight++;
	if (lowat) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = worker__sqe(w);
		io_uring_prep_link_timeout(sqe, (struct __kernel_timespec *)&l4_splice_wait, 0);
		io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_LINK_TIMEOUT));
		c->inflight++;
	}
}

/* Raises the read threshold of a socket that moves to splice. */
static void splice_lowat(struct conn *x)
{
	int v = L4_SPLICE_LOWAT;

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

/* Moves bytes X -> pipe -> P until one side would block. */
static void l4_splice(struct worker *w, struct conn *x)
{
	struct conn *p = worker__peer(w, x);
	struct pipe_pair *pp;
	unsigned rounds = 0;
	bool got = false;
	ssize_t n;

	if (!p || (x->flags & (CONN_F_CLOSING | CONN_F_POLL_IN)) || (p->flags & CONN_F_SEND))
		return;
	if (!x->pipe) {
		x->pipe = pipe_get(w);
		if (!x->pipe) {
			/* No pipe left: this direction stays on buffers. */
			WSTAT_INC(w, pipe_exhausted);
			x->flags = (x->flags & ~CONN_F_SPLICE) | CONN_F_NOSPLICE;
			worker__arm_recv(w, x);
			return;
		}
	}
	pp = x->pipe;
	splice_lowat(x);
	for (;;) {
		if (pp->bytes) {
			n = splice(pp->rd, NULL, p->fd, NULL, pp->bytes,
			           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				pp->bytes -= n;
				WSTAT_ADD(w, splice_bytes, n);
				WSTAT_ADD(w, bytes_out, n);
				continue;
			}
			if (n < 0 && errno == EAGAIN)
				arm_poll(w, p, OP_POLL_OUT, POLLOUT);
			else
				l4_abort(w, x, n < 0 ? -errno : -EPIPE);
			return;
		}
		if (x->flags & CONN_F_RD_EOF) {
			worker__fwd_eof(w, x);
			return;
		}
		if (++rounds > L4_SPLICE_ROUNDS) {
			arm_poll(w, x, OP_POLL_IN, POLLIN);
			return;
		}
		n = splice(x->fd, NULL, pp->wr, NULL, w->cfg->memory_tuning.max_buffer_size,
		           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
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
			l4_abort(w, x, -errno);
			return;
		}
	}
}

/* ---- timers, accept, release ---- */

static void l4_timer(struct timer *t, void *arg)
{
	struct worker *w = arg;
	struct conn *c = container_of(t, struct conn, tm);
	struct conn *p = worker__peer(w, c);
	const struct cfg_timeouts *to = &listener_of(w, c)->cfg->timeouts;
	uint64_t last = c->last_ms, limit = to->idle;

	if (p && p->last_ms > last)
		last = p->last_ms;
	/* A transfer in progress (bytes waiting either way) is held to the
	 * client/server inactivity timeouts, a quiet session to idle. */
	if (c->out_bytes || (p && p->out_bytes) || (c->pipe && c->pipe->bytes) ||
	    (p && p->pipe && p->pipe->bytes))
		limit = to->client < to->server ? to->client : to->server;
	if (w->now >= last + limit) {
		WSTAT_INC(w, idle_timeouts);
		l4_close_pair(w, c);
		return;
	}
	timer_arm(w->tw, t, last + limit);
}

void l4_accept(struct worker *w, struct wlistener *ls, int fd)
{
	struct conn *c = worker__client(w, ls, fd, CONN_K_CLIENT, l4_timer);

	if (!c)
		return;
	timer_arm(w->tw, &c->tm, w->now + ls->cfg->timeouts.idle);
	if (l4_connect(w, c) < 0)
		return;
	if (ls->cfg->splice != SPLICE_ALWAYS)
		worker__arm_recv(w, c);
}

void l4_dispatch(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags)
{
	struct conn *p;

	switch (op) {
	case OP_RECV:
		l4_on_recv(w, c, res, flags);
		break;
	case OP_SEND:
		l4_on_send(w, c, res);
		break;
	case OP_CONNECT:
		l4_on_connect(w, c, res);
		break;
	case OP_POLL_IN:
		c->flags &= ~CONN_F_POLL_IN;
		if (res < 0 && res != -ECANCELED)
			l4_abort(w, c, res);
		else
			l4_splice(w, c); /* readable, or the linked wait ran out */
		break;
	case OP_WATCH:
		if (worker__watched(w, c, res))
			l4_close_pair(w, c);
		break;
	case OP_POLL_OUT:
		c->flags &= ~CONN_F_SEND;
		p = worker__peer(w, c);
		if (res < 0)
			l4_abort(w, c, res);
		else if (p)
			l4_splice(w, p);
		break;
	default:
		break;
	}
}

void l4_release(struct worker *w, struct conn *c)
{
	if (c->pipe) {
		pipe_put(w, c->pipe);
		c->pipe = NULL;
	}
	if (c->kind == CONN_K_UPSTREAM && c->backend >= 0)
		lb_conn_end(lb_of(listener_of(w, c)), c->backend);
	if (c->flags & CONN_F_COUNTED)
		listen_conn_closed(w, listener_of(w, c));
}
