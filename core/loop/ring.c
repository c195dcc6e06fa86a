/* A worker's ring: submission helpers, the provided buffer ring and the
 * ring operations on a connection's socket.
 *
 * Provided buffers: one ring of br_n buffers of one size class, refilled
 * from the node's pool as they are taken. A slot the pool refuses stays a
 * hole until ring_refill() finds a buffer; a connection whose recv ended
 * with -ENOBUFS waits in a FIFO and is resumed when buffers are back.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/fault.h"
#include "core/base/log.h"
#include "core/loop/bufq.h"
#include "core/loop/ops.h"
#include "core/mem/pool.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"
#include "numa/nodemem.h"

int ring_submit(struct worker *w)
{
	int ret = fault_hit(FAULT_SUBMIT) ? -EAGAIN : io_uring_submit(&w->ring);

	if (ret < 0)
		WSTAT_INC(w, submit_errors);
	return ret;
}

void ring_reserve(struct worker *w, unsigned n)
{
	/* Until there is room, as ring_sqe() does: after a failed submit the
	 * queue is still full, and the chain's second SQE would flush the
	 * first alone (a connect without its deadline, a lone link timeout). */
	while (io_uring_sq_space_left(&w->ring) < n)
		ring_submit(w);
}

/* Whether the last SQE taken and not yet submitted links to the next: the
 * SQ must not be flushed between the two (fault injection asks). */
static bool ring_in_chain(const struct worker *w)
{
	const struct io_uring_sq *sq = &w->ring.sq;

	return sq->sqe_tail != sq->sqe_head &&
	       (sq->sqes[(sq->sqe_tail - 1) & *sq->kring_mask].flags &
	        (IOSQE_IO_LINK | IOSQE_IO_HARDLINK));
}

struct io_uring_sqe *ring_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = NULL;

	/* An injected full queue takes the path a real one takes; never
	 * inside a linked chain, which ring_reserve() made room for. */
	if (ring_in_chain(w) || !fault_hit(FAULT_SQE))
		sqe = io_uring_get_sqe(&w->ring);
	if (!sqe)
		WSTAT_INC(w, sq_full);
	while (!sqe) {
		ring_submit(w);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* ---- provided buffers ---- */

static void br_add(struct worker *w, char *buf, unsigned bid)
{
	w->br_buf[bid] = buf;
	pool_cache_standing(w->pc, pool_class_of(w->buf_size), 1);
	io_uring_buf_ring_add(w->br, buf, w->buf_size, bid, io_uring_buf_ring_mask(w->br_n),
	                      w->br_added++);
}

static void br_flush(struct worker *w)
{
	if (w->br_added) {
		io_uring_buf_ring_advance(w->br, w->br_added);
		w->br_added = 0;
	}
}

/* A buffer for the ring, with a descriptor set aside for when its data
 * is queued, so a received buffer can always be queued. */
static char *br_fresh(struct worker *w)
{
	if (bufq_spare(w) < 0)
		return NULL;
	return pool_get(w->pc, pool_class_of(w->buf_size));
}

char *ring_take_buffer(struct worker *w, unsigned bid)
{
	char *buf = w->br_buf[bid];
	char *fresh;

	pool_cache_standing(w->pc, pool_class_of(w->buf_size), -1);
	fresh = br_fresh(w);

	if (fresh) {
		br_add(w, fresh, bid);
	} else {
		w->br_buf[bid] = NULL;
		w->holes[w->nholes++] = bid;
		WSTAT_INC(w, buffer_fails);
	}
	return buf;
}

void ring_refill(struct worker *w)
{
	unsigned refilled = 0, waiting;

	while (w->nholes) {
		char *buf = br_fresh(w);

		if (!buf)
			break;
		br_add(w, buf, w->holes[--w->nholes]);
		refilled++;
	}
	if (w->nholes == w->br_n)
		goto out;
	/* Each waiter once: a TLS connection that still finds no plaintext
	 * buffer queues itself again at once (core/xprt/tls.c). */
	waiting = w->nwait;
	while (waiting-- && w->wait_head != CONN_NONE) {
		struct conn *c = &w->ct.c[w->wait_head];

		w->wait_head = c->wait_next;
		if (w->wait_head == CONN_NONE)
			w->wait_tail = CONN_NONE;
		w->nwait--;
		c->wait_next = CONN_NONE;
		c->flags &= ~CONN_F_BUFWAIT;
		if (c->proto == CONN_P_FREE || (c->flags & CONN_F_CLOSING))
			continue;
		if (xprt_of(c)->wake)
			xprt_of(c)->wake(w, c);
		else
			proto_of(c)->resume(w, c);
		if (refilled && !--refilled)
			break;
	}
out:
	br_flush(w);
}

void ring_bufwait(struct worker *w, struct conn *c)
{
	uint32_t slot = ring_slot(w, c);

	if (c->flags & CONN_F_BUFWAIT)
		return;
	c->flags |= CONN_F_BUFWAIT;
	c->wait_next = CONN_NONE;
	if (w->wait_tail == CONN_NONE)
		w->wait_head = slot;
	else
		w->ct.c[w->wait_tail].wait_next = slot;
	w->wait_tail = slot;
	w->nwait++;
	WSTAT_INC(w, buffer_waits);
}

void ring_bufwait_drop(struct worker *w, struct conn *c)
{
	uint32_t slot = ring_slot(w, c), *pp = &w->wait_head, prev = CONN_NONE;

	if (!(c->flags & CONN_F_BUFWAIT))
		return;
	while (*pp != CONN_NONE && *pp != slot) {
		prev = *pp;
		pp = &w->ct.c[*pp].wait_next;
	}
	if (*pp == slot) {
		*pp = c->wait_next;
		if (w->wait_tail == slot)
			w->wait_tail = prev;
		w->nwait--;
	}
	c->flags &= ~CONN_F_BUFWAIT;
}

int ring_buffers_init(struct worker *w)
{
	const struct cfg_memory_tuning *mt = &w->cfg->memory_tuning;
	struct io_uring_buf_reg reg = {0};
	unsigned i, added = 0;
	int cls, ret;

	cls = pool_class_of(mt->initial_buffer_size);
	if (cls < 0)
		cls = BUF_MEDIUM;
	w->buf_size = pool_class_size(cls);
	/* Enough ring entries for a busy worker, within its share of the class. */
	w->br_n = 256;
	while (w->br_n > 16 && w->br_n * 2 > w->cfg->buffer_pools[cls].max_count)
		w->br_n /= 2;
	w->br_bytes = w->br_n * sizeof(struct io_uring_buf);
	w->br = nodemem_alloc(w->br_bytes, w->real_node);
	w->br_buf = calloc(w->br_n, sizeof(*w->br_buf));
	w->holes = calloc(w->br_n, sizeof(*w->holes));
	if (!w->br || !w->br_buf || !w->holes)
		return -ENOMEM;
	reg.ring_addr = (unsigned long)w->br;
	reg.ring_entries = w->br_n;
	reg.bgid = RING_BGID;
	ret = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (ret < 0) {
		snprintf(
		    w->start_msg, sizeof(w->start_msg),
		    "worker %u: provided buffer ring: %s (kernel too old, or RLIMIT_MEMLOCK too low: raise it with ulimit -l)",
		    w->id, strerror(-ret));
		return ret;
	}
	io_uring_buf_ring_init(w->br);
	for (i = 0; i < w->br_n; i++) {
		char *buf = br_fresh(w);

		if (!buf) {
			w->holes[w->nholes++] = i;
			continue;
		}
		br_add(w, buf, i);
		added++;
	}
	br_flush(w);
	if (!added) {
		snprintf(
		    w->start_msg, sizeof(w->start_msg),
		    "worker %u: no %zu-byte buffer available for the receive ring (buffer_pools or memory_limits too small)",
		    w->id, (size_t)w->buf_size);
		return -ENOBUFS;
	}
	return 0;
}

void ring_buffers_deinit(struct worker *w)
{
	unsigned i;

	if (w->br_buf) {
		for (i = 0; i < w->br_n; i++)
			if (w->br_buf[i]) {
				pool_cache_standing(w->pc, pool_class_of(w->buf_size), -1);
				pool_put(w->pc, w->br_buf[i], 0);
			}
	}
	if (w->br) {
		io_uring_unregister_buf_ring(&w->ring, RING_BGID);
		nodemem_free(w->br, w->br_bytes);
	}
	free(w->br_buf);
	free(w->holes);
}

/* ---- ring operations on a connection's socket ---- */

/* The most a multishot recv of <c> reads before it ends: the room its
 * peer's queue has under max_buffer_size, but at least half of that limit
 * and one buffer (the last receive is not cut to the cap). A protocol
 * stops reading a connection whose peer has max_buffer_size queued
 * (pump.c), but a cancel only takes effect at the next submission, and
 * until then the kernel goes on receiving for as long as the sender keeps
 * up: without a cap one wait could take in megabytes past the limit, as
 * many as the buffer ring holds. With it, an armed recv ends on its own,
 * and the protocol's resume() arms the next one if it may: a peer's queue
 * holds at most 1.5 x max_buffer_size. The floor keeps the re-arms few
 * (a cap of just the room, often a buffer or two when the peer's sends
 * lag, cost 31 more SQEs per MiB each way of L4 than no cap, and 12 % of
 * splice: never CPU per GB; half the limit costs 10). */
static uint32_t recv_cap(struct worker *w, const struct conn *c)
{
	const struct conn *p = ring_peer(w, c);
	uint64_t max = w->cfg->memory_tuning.max_buffer_size;
	uint64_t used = p ? p->out_bytes : 0;
	uint64_t room = used < max ? max - used : 0;

	if (room < max / 2)
		room = max / 2;
	if (room < w->buf_size)
		room = w->buf_size;
	return room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
}

void ring_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->flags & (CONN_F_RECV | CONN_F_CLOSING | CONN_F_RD_EOF))
		return;
	sqe = ring_sqe(w);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RING_BGID;
	c->flags &= ~CONN_F_RECVCAP;
	if (w->recv_cap) {
		/* sqe->optlen, which liburing 2.3's header calls file_index */
		sqe->file_index = recv_cap(w, c);
		c->flags |= CONN_F_RECVCAP;
		if (fault_hit(FAULT_RECVCAP))
			sqe->addr2 = 1; /* refused as a kernel without the cap refuses it */
	}
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_RECV));
	c->flags |= CONN_F_RECV;
	c->inflight++;
}

void ring_send(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;
	struct buf *b = c->out.head;
	uint32_t len;

	if (!b || (c->flags & (CONN_F_SEND | CONN_F_CLOSING)))
		return;
	len = b->len - b->off;
	if (len > 1 && fault_hit(FAULT_SHORT))
		len /= 2; /* a short write: the rest goes in the next send */
	sqe = ring_sqe(w);
	io_uring_prep_send(sqe, c->fd, b->data + b->off, len,
	                   MSG_NOSIGNAL | ((b->flags & BUF_F_MORE) ? MSG_MORE : 0));
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_SEND));
	c->flags |= CONN_F_SEND;
	c->inflight++;
}

bool ring_recv_refused(struct worker *w, struct conn *c, int res, uint32_t flags)
{
	if (res != -EINVAL || !(c->flags & CONN_F_RECVCAP) || (flags & IORING_CQE_F_MORE))
		return false;
	c->flags &= ~CONN_F_RECVCAP;
	WSTAT_INC(w, recv_uncapped);
	if (w->recv_cap) { /* else: armed before the first refusal was seen */
		w->recv_cap = false;
		log_warn("worker %u: the kernel refuses a byte cap on a multishot receive (before "
		         "Linux 6.17): receives go on without it, and a connection whose peer is "
		         "slow may take in more than max_buffer_size before its reading stops",
		         w->id);
	}
	/* Armed again without the cap; unless the protocol stopped reading
	 * meanwhile: then this is the end its cancel asked for. */
	if (c->flags & CONN_F_CANCELING) {
		xprt_of(c)->on_recv(w, c, -ECANCELED, 0);
	} else {
		c->flags &= ~CONN_F_RECV;
		ring_recv(w, c);
	}
	return true;
}

void ring_cancel_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!(c->flags & CONN_F_RECV) || (c->flags & CONN_F_CANCELING))
		return;
	sqe = ring_sqe(w);
	io_uring_prep_cancel64(sqe, ring_ud(w, c, OP_RECV), 0);
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_CANCEL));
	c->flags |= CONN_F_CANCELING;
	c->inflight++;
}

/* <x> is not being read (its peer's queue is full, or no buffer is free):
 * nothing would notice its peer resetting the connection, so a one-shot
 * poll watches for that. POLLERR and POLLHUP are always reported; only
 * POLLERR (a reset) ends the pair: the bytes before a FIN are still to be
 * read and forwarded. */
void ring_watch(struct worker *w, struct conn *x)
{
	struct io_uring_sqe *sqe;

	if (x->flags & (CONN_F_WATCH | CONN_F_CLOSING | CONN_F_RD_EOF))
		return;
	sqe = ring_sqe(w);
	io_uring_prep_poll_add(sqe, x->fd, POLLRDHUP);
	io_uring_sqe_set_data64(sqe, ring_ud(w, x, OP_WATCH));
	x->flags |= CONN_F_WATCH;
	x->inflight++;
}

bool ring_watched(struct worker *w, struct conn *x, int res)
{
	x->flags &= ~CONN_F_WATCH;
	/* POLLHUP alone is no reset: it is also both directions shut with
	 * bytes still to read. A reset sets the socket error: POLLERR. */
	if (res > 0 && (res & POLLERR)) {
		WSTAT_INC(w, aborts);
		return true;
	}
	return false;
}

void ring_close_after(struct worker *w, struct conn *c)
{
	c->flags |= CONN_F_CLOSE_AFTER;
	if (!ring_sending(c))
		ring_close(w, c);
}

void ring_close(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->flags & CONN_F_CLOSING)
		return;
	c->flags |= CONN_F_CLOSING;
	timer_cancel(w->tw, &c->tm);
	if (c->fd < 0)
		return;
	/* Cancel whatever is armed on the socket, then close it: a close
	 * alone leaves an armed recv without a completion. A cancel by fd
	 * scans every armed request of the ring, so the two common cases go
	 * without it: nothing in flight (close only), or only the multishot
	 * recv (its flag is set exactly while it is in flight, so with one
	 * operation counted it is that one: cancelled by its user_data, a
	 * hash lookup). Anything else (a send, a poll, a cancel whose recv
	 * has not ended yet) gets the cancel by fd. */
	ring_reserve(w, 2); /* the linked pair goes in one submission */
	if ((c->flags & CONN_F_RECV) && c->inflight == 1) {
		sqe = ring_sqe(w);
		io_uring_prep_cancel64(sqe, ring_ud(w, c, OP_RECV), 0);
		sqe->flags |= IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_CANCEL));
		c->inflight++;
	} else if (c->inflight) {
		sqe = ring_sqe(w);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		sqe->flags |= IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_CANCEL));
		c->inflight++;
	}
	sqe = ring_sqe(w);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_CLOSE));
	c->inflight++;
}

void ring_sockopts(struct worker *w, int fd)
{
	const struct cfg_memory_tuning *mt = &w->cfg->memory_tuning;
	int one = 1, v;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (mt->socket_sndbuf) {
		v = (int)mt->socket_sndbuf;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	if (mt->socket_rcvbuf) {
		v = (int)mt->socket_rcvbuf;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	}
}
