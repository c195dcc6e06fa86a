/* The worker: its ring, its provided buffers, its event loop and the
 * completion dispatch. Protocol logic lives in l4.c and static.c, accept
 * and backpressure in listen.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/acct.h"
#include "core/lb.h"
#include "core/log.h"
#include "core/pool.h"
#include "config/publish.h"
#include "core/worker-int.h"
#include "numa/nodemem.h"
#include "numa/place.h"

#define WORKER_SQ_ENTRIES 1024
#define WORKER_CQE_BATCH  256
#define WORKER_MAX_WAIT   1000 /* ms: the longest sleep in the ring */
#define WORKER_BGID       0

void worker__sq_reserve(struct worker *w, unsigned n)
{
	if (io_uring_sq_space_left(&w->ring) < n)
		io_uring_submit(&w->ring);
}

struct io_uring_sqe *worker__sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* ---- provided buffers ---- */

static int buf_spare(struct worker *w);

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
	char *buf;

	if (buf_spare(w) < 0)
		return NULL;
	buf = pool_get(w->pc, pool_class_of(w->buf_size));
	return buf;
}

char *worker__take_buffer(struct worker *w, unsigned bid)
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

/* Refills ring slots the pool refused earlier, then lets as many waiting
 * connections read again as there are buffers in the ring. */
static void br_refill(struct worker *w)
{
	unsigned refilled = 0;

	while (w->nholes) {
		char *buf = br_fresh(w);

		if (!buf)
			break;
		br_add(w, buf, w->holes[--w->nholes]);
		refilled++;
	}
	if (w->nholes == w->br_n)
		return;
	while (w->wait_head != CONN_NONE) {
		struct conn *c = &w->ct.c[w->wait_head];

		w->wait_head = c->wait_next;
		if (w->wait_head == CONN_NONE)
			w->wait_tail = CONN_NONE;
		c->wait_next = CONN_NONE;
		c->flags &= ~CONN_F_BUFWAIT;
		if (c->kind == CONN_K_FREE || (c->flags & CONN_F_CLOSING))
			continue;
		if (c->kind == CONN_K_STATIC)
			worker__arm_recv(w, c);
		else if (conn_is_http(c))
			http_resume(w, c);
		else
			l4_resume(w, c);
		if (refilled && !--refilled)
			break;
	}
}

void worker__bufwait(struct worker *w, struct conn *c)
{
	uint32_t slot = worker__slot(w, c);

	if (c->flags & CONN_F_BUFWAIT)
		return;
	c->flags |= CONN_F_BUFWAIT;
	c->wait_next = CONN_NONE;
	if (w->wait_tail == CONN_NONE)
		w->wait_head = slot;
	else
		w->ct.c[w->wait_tail].wait_next = slot;
	w->wait_tail = slot;
	WSTAT_INC(w, buffer_waits);
}

static int br_init(struct worker *w)
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
	reg.bgid = WORKER_BGID;
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

static void br_deinit(struct worker *w)
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
		io_uring_unregister_buf_ring(&w->ring, WORKER_BGID);
		nodemem_free(w->br, w->br_bytes);
	}
	free(w->br_buf);
	free(w->holes);
}

/* ---- buffer descriptors and queues ---- */

/* Descriptors are allocated one by one, charged to ACCT_BUF with the
 * allocator's header, and kept on a free list of at most the ring's size
 * plus WORKER_BUF_SLACK: after a burst the surplus goes back at once, so
 * memory returns to its idle value with the load. */
#define WORKER_BUF_COST  (sizeof(struct buf) + 16)
#define WORKER_BUF_SLACK 64

/* Makes sure a descriptor is free for every buffer in the ring plus one.
 * Returns 0 or -ENOMEM. */
static int buf_spare(struct worker *w)
{
	while (w->nbuf_free <= w->br_n - w->nholes) {
		struct buf *b;

		if (acct_charge(w->acct, ACCT_BUF, w->real_node, WORKER_BUF_COST) < 0)
			return -ENOMEM;
		b = malloc(sizeof(*b));
		if (!b) {
			acct_release(w->acct, ACCT_BUF, w->real_node, WORKER_BUF_COST);
			return -ENOMEM;
		}
		b->next = w->buf_free;
		w->buf_free = b;
		w->nbuf_free++;
	}
	return 0;
}

static struct buf *buf_new(struct worker *w)
{
	struct buf *b;

	if (!w->buf_free && buf_spare(w) < 0)
		return NULL;
	b = w->buf_free;
	w->buf_free = b->next;
	w->nbuf_free--;
	memset(b, 0, sizeof(*b));
	return b;
}

static void buf_free(struct worker *w, struct buf *b)
{
	if (b->flags & BUF_F_POOL)
		pool_put(w->pc, b->data, b->used);
	if (w->nbuf_free > w->br_n + WORKER_BUF_SLACK) {
		free(b);
		acct_release(w->acct, ACCT_BUF, w->real_node, WORKER_BUF_COST);
		return;
	}
	b->next = w->buf_free;
	w->buf_free = b;
	w->nbuf_free++;
}

/* memory_cleanup_interval: descriptors beyond what the ring needs go back. */
static void worker_cleanup(struct timer *t, void *arg)
{
	struct worker *w = arg;

	while (w->buf_free && w->nbuf_free > w->br_n - w->nholes + 1) {
		struct buf *b = w->buf_free;

		w->buf_free = b->next;
		w->nbuf_free--;
		free(b);
		acct_release(w->acct, ACCT_BUF, w->real_node, WORKER_BUF_COST);
	}
	timer_arm(w->tw, t, w->now + w->cfg->memory_tuning.memory_cleanup_interval);
}

/* Small writes are copied into the room left in the queue's last buffer
 * instead of being queued on their own: an HTTP head and a small body, or
 * a run of small L4 reads, then leave in one send and one segment. The
 * last buffer may be the one in flight: only its bytes past what that
 * send was given are added, and the next send takes them. */
#define WORKER_COALESCE_MAX 4096u

int worker__queue_used(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used)
{
	struct buf *t = c->out.tail, *b;

	if (t && (t->flags & BUF_F_POOL) && len <= WORKER_COALESCE_MAX &&
	    t->len + len <= pool_buf_size(w->pc, t->data)) {
		memcpy(t->data + t->len, data, len);
		t->len += len;
		if (t->used < t->len)
			t->used = t->len;
		c->out_bytes += len;
		pool_put(w->pc, data, used);
		return 0;
	}
	b = buf_new(w);
	if (!b) {
		pool_put(w->pc, data, used);
		return -ENOMEM;
	}
	b->data = data;
	b->len = len;
	b->used = used;
	b->flags = BUF_F_POOL;
	if (c->out.tail)
		c->out.tail->next = b;
	else
		c->out.head = b;
	c->out.tail = b;
	c->out_bytes += len;
	return 0;
}

int worker__queue(struct worker *w, struct conn *c, char *data, uint32_t len)
{
	return worker__queue_used(w, c, data, len, len);
}

void worker__drop_out(struct worker *w, struct conn *c)
{
	struct buf *b = c->out.head, *next;

	for (; b; b = next) {
		next = b->next;
		buf_free(w, b);
	}
	c->out.head = c->out.tail = NULL;
	c->out_bytes = 0;
}

void worker__send_next(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;
	struct buf *b = c->out.head;

	if (!b || (c->flags & (CONN_F_SEND | CONN_F_CLOSING)))
		return;
	sqe = worker__sqe(w);
	io_uring_prep_send(sqe, c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_SEND));
	c->flags |= CONN_F_SEND;
	c->inflight++;
}

void worker__sent(struct worker *w, struct conn *c, uint32_t res)
{
	struct buf *b;

	c->out_bytes -= res;
	WSTAT_ADD(w, bytes_out, res);
	while (res && (b = c->out.head)) {
		uint32_t n = b->len - b->off < res ? b->len - b->off : res;

		b->off += n;
		res -= n;
		if (b->off < b->len)
			break;
		c->out.head = b->next;
		if (!c->out.head)
			c->out.tail = NULL;
		buf_free(w, b);
	}
}

/* ---- ring operations on connections ---- */

static void worker__connect(struct worker *w, struct wlistener *ls, struct conn *u,
                            const struct cfg_backend *be)
{
	struct io_uring_sqe *sqe;

	worker__sq_reserve(w, 2); /* connect and its linked timeout together */
	sqe = worker__sqe(w);
	io_uring_prep_connect(sqe, u->fd, (const struct sockaddr *)&be->address.ss,
	                      be->address.len);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, worker__ud(w, u, OP_CONNECT));
	sqe = worker__sqe(w);
	io_uring_prep_link_timeout(sqe, &ls->connect_ts, 0);
	io_uring_sqe_set_data64(sqe, worker__ud(w, u, OP_LINK_TIMEOUT));
	u->inflight += 2;
}

struct conn *worker__client(struct worker *w, struct wlistener *ls, int fd, uint8_t kind,
                            timer_fn fn)
{
	struct conn *c = conn_get(&w->ct);

	if (!c) {
		close(fd);
		WSTAT_INC(w, table_full);
		listen_conn_closed(w, ls);
		return NULL;
	}
	c->kind = kind;
	c->fd = fd;
	c->listener = ls->idx;
	ls->conns++;
	c->flags |= CONN_F_COUNTED;
	c->last_ms = w->now;
	timer_init(&c->tm, fn);
	return c;
}

int worker__pick(struct worker *w, struct wlistener *ls, int pi, struct conn *c, uint64_t key)
{
	struct cfg_pool *pool = &ls->gen->cfg->pools[pi];
	unsigned max = pool->nbackends < LB_MAX_TRIES ? pool->nbackends : LB_MAX_TRIES;
	int tried[LB_MAX_TRIES], b;

	if (c->ntried >= max)
		return -1;
	for (unsigned i = 0; i < c->ntried; i++)
		tried[i] = c->tried[i];
	b = lb_pick(snapshot_lb(ls->gen->cfg, pi), &ls->gen->cur[pi], key, tried, c->ntried);
	if (b >= 0)
		c->tried[c->ntried++] = (int8_t)b;
	return b;
}

struct conn *worker__upstream(struct worker *w, struct wlistener *ls, int pi, struct conn *c, int b,
                              uint8_t kind, int *err)
{
	struct cfg_pool *pool = &ls->gen->cfg->pools[pi];
	const struct cfg_backend *be = &pool->backends[b];
	int fd = socket(be->address.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct conn *u;

	if (fd < 0) {
		WSTAT_INC(w, connect_fail);
		*err = -EAGAIN;
		return NULL;
	}
	u = conn_get(&w->ct);
	if (!u) {
		close(fd);
		WSTAT_INC(w, table_full);
		*err = -ENOSPC;
		return NULL;
	}
	listen_set_sockopts(w, fd);
	u->kind = kind;
	u->fd = fd;
	u->backend = (int16_t)b;
	u->hpool = (int16_t)pi;
	u->listener = c->listener;
	u->last_ms = w->now;
	ls->conns++;
	u->peer = worker__slot(w, c);
	c->peer = worker__slot(w, u);
	lb_conn_start(snapshot_lb(ls->gen->cfg, pi), b);
	worker__connect(w, ls, u, be);
	return u;
}

void worker__fwd_eof(struct worker *w, struct conn *x)
{
	struct conn *p = worker__peer(w, x);
	uint32_t done = CONN_F_RD_EOF | CONN_F_WR_SHUT;
	bool upstream = p && (p->kind == CONN_K_UPSTREAM || p->kind == CONN_K_HUP);

	if (!p || !(x->flags & CONN_F_RD_EOF) || (p->flags & CONN_F_WR_SHUT) ||
	    (upstream && !(p->flags & CONN_F_CONNECTED)))
		return;
	/* Every byte read from <x> must be written first, from the queue or
	 * (L4 splice only) from its pipe. */
	if (p->out.head || (p->flags & CONN_F_SEND) ||
	    ((x->flags & CONN_F_SPLICE) && x->pipe && x->pipe->bytes))
		return;
	if (shutdown(p->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
		WSTAT_INC(w, aborts);
		worker__abort(w, x);
		return;
	}
	p->flags |= CONN_F_WR_SHUT;
	if ((x->flags & done) == done && (p->flags & done) == done)
		worker__abort(w, x); /* both directions are done: close the pair */
}

void worker__arm_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->flags & (CONN_F_RECV | CONN_F_CLOSING | CONN_F_RD_EOF))
		return;
	sqe = worker__sqe(w);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = WORKER_BGID;
	io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_RECV));
	c->flags |= CONN_F_RECV;
	c->inflight++;
}

/* <x> is not being read (its peer's queue is full, or no buffer is free):
 * nothing would notice its peer resetting the connection, so a one-shot
 * poll watches for that. POLLERR and POLLHUP are always reported; only
 * POLLERR (a reset) ends the pair: the bytes before a FIN are still to be
 * read and forwarded. */
void worker__watch(struct worker *w, struct conn *x)
{
	struct io_uring_sqe *sqe;

	if (x->flags & (CONN_F_WATCH | CONN_F_CLOSING | CONN_F_RD_EOF))
		return;
	sqe = worker__sqe(w);
	io_uring_prep_poll_add(sqe, x->fd, POLLRDHUP);
	io_uring_sqe_set_data64(sqe, worker__ud(w, x, OP_WATCH));
	x->flags |= CONN_F_WATCH;
	x->inflight++;
}

bool worker__watched(struct worker *w, struct conn *x, int res)
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

void worker__cancel_recv(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!(c->flags & CONN_F_RECV) || (c->flags & CONN_F_CANCELING))
		return;
	sqe = worker__sqe(w);
	io_uring_prep_cancel64(sqe, worker__ud(w, c, OP_RECV), 0);
	io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_CANCEL));
	c->flags |= CONN_F_CANCELING;
	c->inflight++;
}

void worker__abort(struct worker *w, struct conn *c)
{
	if (c->kind == CONN_K_STATIC)
		worker__close(w, c);
	else if (conn_is_http(c))
		http_close_pair(w, c);
	else
		l4_close_pair(w, c);
}

void worker__close(struct worker *w, struct conn *c)
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
	worker__sq_reserve(w, 2); /* the linked pair goes in one submission */
	if ((c->flags & CONN_F_RECV) && c->inflight == 1) {
		sqe = worker__sqe(w);
		io_uring_prep_cancel64(sqe, worker__ud(w, c, OP_RECV), 0);
		sqe->flags |= IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_CANCEL));
		c->inflight++;
	} else if (c->inflight) {
		sqe = worker__sqe(w);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		sqe->flags |= IOSQE_IO_HARDLINK;
		io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_CANCEL));
		c->inflight++;
	}
	sqe = worker__sqe(w);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, worker__ud(w, c, OP_CLOSE));
	c->inflight++;
}

/* Every operation of a closing connection has completed: give back what it
 * holds and free its slot. */
static void conn_release(struct worker *w, struct conn *c)
{
	struct wlistener *ls = worker__listener(w, c);

	if (c->flags & CONN_F_BUFWAIT) {
		/* Unlinked lazily by br_refill(), which skips freed slots;
		 * the slot must not be reused before that, so unlink now. */
		uint32_t slot = worker__slot(w, c), *pp = &w->wait_head, prev = CONN_NONE;

		while (*pp != CONN_NONE && *pp != slot) {
			prev = *pp;
			pp = &w->ct.c[*pp].wait_next;
		}
		if (*pp == slot) {
			*pp = c->wait_next;
			if (w->wait_tail == slot)
				w->wait_tail = prev;
		}
	}
	worker__drop_out(w, c);
	if (c->kind == CONN_K_STATIC)
		static_release(w, c);
	else if (conn_is_http(c))
		http_release(w, c);
	else
		l4_release(w, c);
	conn_put(&w->ct, c);
	ls->conns--;
	wconf_ls_done(w, ls);
}

/* ---- dispatch ---- */

static void on_msg(struct worker *w, uint32_t cmd)
{
	unsigned i;
	uint64_t drain = 0;

	if (cmd != WMSG_STOP || w->stopping)
		return; /* WMSG_RELOAD only wakes the loop, which switches */
	w->stopping = true;
	for (i = 0; i < w->nls; i++) {
		if (!w->ls[i])
			continue;
		listen_stop(w, w->ls[i]);
		if (w->ls[i]->cfg->timeouts.drain > drain)
			drain = w->ls[i]->cfg->timeouts.drain;
	}
	w->drain_deadline = w->now + drain;
	/* Idle keep-alive connections close now, as nginx does. */
	for (i = 0; i < w->ct.fresh; i++) {
		struct conn *c = &w->ct.c[i];

		if (c->kind == CONN_K_STATIC)
			static_drain(w, c);
		else if (conn_is_http(c))
			http_drain(w, c);
	}
}

static void dispatch(struct worker *w, uint64_t ud, int res, uint32_t flags)
{
	uint8_t op = conn_ud_op(ud);
	struct conn *c;

	switch (op) {
	case OP_MSG:
		on_msg(w, conn_ud_slot(ud));
		return;
	case OP_ACCEPT:
		if (conn_ud_slot(ud) < w->nls && w->ls[conn_ud_slot(ud)])
			listen_on_accept(w, w->ls[conn_ud_slot(ud)], res, flags);
		return;
	case OP_TICK:
		w->tick_due = UINT64_MAX; /* fired (or cancelled at exit) */
		return;
	case OP_TICK_UPD:
	case OP_LCLOSE:
	case OP_NONE:
		return;
	}
	c = conn_of_ud(&w->ct, ud);
	if (!c) {
		WSTAT_INC(w, stale_cqes);
		return;
	}
	if (op != OP_RECV || !(flags & IORING_CQE_F_MORE))
		c->inflight--;
	if (c->flags & CONN_F_CLOSING) {
		if (op == OP_RECV && (flags & IORING_CQE_F_BUFFER))
			pool_put(w->pc, worker__take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT),
			         res > 0 ? res : 0);
	} else {
		c->last_ms = w->now;
		if (c->kind == CONN_K_STATIC)
			static_dispatch(w, c, op, res, flags);
		else if (conn_is_http(c))
			http_dispatch(w, c, op, res, flags);
		else
			l4_dispatch(w, c, op, res, flags);
	}
	if ((c->flags & CONN_F_CLOSING) && !c->inflight && c->kind != CONN_K_FREE)
		conn_release(w, c);
}

/* ---- the loop ---- */

/* Makes sure the ring wakes the worker by <due> (ms): arms the tick, or
 * moves the armed one earlier. A tick that fires early (its timer was
 * cancelled) only costs a turn of the loop. An update that finds the tick
 * already fired fails harmlessly: that tick's completion clears tick_due
 * and the next turn arms a new one. */
static void worker_tick(struct worker *w, uint64_t due)
{
	struct io_uring_sqe *sqe;

	if (w->tick_due <= due)
		return;
	w->tick_ts.tv_sec = (long long)(due / 1000);
	w->tick_ts.tv_nsec = (long long)(due % 1000) * 1000000;
	sqe = worker__sqe(w);
	if (w->tick_due == UINT64_MAX) {
		io_uring_prep_timeout(sqe, &w->tick_ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, conn_ud(OP_TICK, 0, 0));
	} else {
		io_uring_prep_timeout_update(sqe, &w->tick_ts, conn_ud(OP_TICK, 0, 0),
		                             IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, conn_ud(OP_TICK_UPD, 0, 0));
	}
	w->tick_due = due;
}

static void worker_loop(struct worker *w)
{
	struct io_uring_cqe *cqes[WORKER_CQE_BATCH];
	unsigned i, n;

	while (!w->done) {
		struct config *cfg = publish_get();
		int64_t next;

		if (cfg && cfg != w->cfg)
			wconf_switch(w, cfg);
		publish_reader_quiescent();
		w->now = clock_ms();
		timer_wheel_advance(w->tw, w->now, w);
		br_refill(w);
		br_flush(w);
		if (w->stopping && (!w->ct.used || w->now >= w->drain_deadline)) {
			if (!w->ct.used)
				break;
			/* Drain time is over: close what is left, then wait
			 * for the completions of that. */
			for (i = 0; i < w->ct.fresh; i++)
				if (w->ct.c[i].kind != CONN_K_FREE)
					worker__close(w, &w->ct.c[i]);
			w->drain_deadline = UINT64_MAX;
		}
		next = timer_wheel_next(w->tw, w->now);
		if (next < 0 || next > WORKER_MAX_WAIT)
			next = WORKER_MAX_WAIT;
		publish_reader_offline();
		if (next == 0) {
			io_uring_submit_and_get_events(&w->ring); /* timers due: no sleep */
		} else {
			worker_tick(w, w->now + (uint64_t)next);
			io_uring_submit_and_wait(&w->ring, 1);
		}
		publish_reader_online();
		w->now = clock_ms();
		while ((n = io_uring_peek_batch_cqe(&w->ring, cqes, WORKER_CQE_BATCH))) {
			uint64_t ud[WORKER_CQE_BATCH];
			int res[WORKER_CQE_BATCH];
			uint32_t fl[WORKER_CQE_BATCH];

			for (i = 0; i < n; i++) {
				ud[i] = cqes[i]->user_data;
				res[i] = cqes[i]->res;
				fl[i] = cqes[i]->flags;
			}
			io_uring_cq_advance(&w->ring, n);
			for (i = 0; i < n; i++)
				dispatch(w, ud[i], res[i], fl[i]);
			if (n < WORKER_CQE_BATCH)
				break;
		}
	}
}

/* ---- start and stop ---- */

static int ring_init(struct worker *w)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = WORKER_SQ_ENTRIES * 16;
	ret = io_uring_queue_init_params(WORKER_SQ_ENTRIES, &w->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = WORKER_SQ_ENTRIES * 16;
		ret = io_uring_queue_init_params(WORKER_SQ_ENTRIES, &w->ring, &p);
	}
	if (ret < 0) {
		snprintf(w->start_msg, sizeof(w->start_msg), "worker %u: io_uring setup: %s", w->id,
		         strerror(-ret));
		return ret;
	}
	w->ring_fd = w->ring.ring_fd;
	io_uring_register_ring_fd(&w->ring);
	return 0;
}

static uint32_t table_size(const struct worker *w, unsigned nworkers)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < w->cfg->nlisteners; i++) {
		const struct cfg_listener *l = &w->cfg->listeners[i];
		uint64_t share = (l->max_connections + nworkers - 1) / nworkers;

		n += l->mode == LMODE_STATIC ? share : 2 * share;
	}
	return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
}

static int worker_setup(struct worker *w, unsigned nworkers)
{
	int ret;

	ret = place_pin_self(w->cpu);
	if (ret < 0) {
		snprintf(w->start_msg, sizeof(w->start_msg), "worker %u: pin to cpu %d: %s", w->id,
		         w->cpu, strerror(-ret));
		return ret;
	}
	ret = ring_init(w);
	if (ret < 0)
		return ret;
	w->tick_due = UINT64_MAX;
	w->tw = timer_wheel_new(clock_ms());
	w->pc = pool_cache_new(w->pool);
	if (!w->tw || !w->pc)
		return -ENOMEM;
	timer_init(&w->cleanup_tm, worker_cleanup);
	timer_arm(w->tw, &w->cleanup_tm,
	          clock_ms() + w->cfg->memory_tuning.memory_cleanup_interval);
	ret = conn_table_init(&w->ct, table_size(w, nworkers), w->real_node, w->acct);
	if (ret < 0) {
		snprintf(
		    w->start_msg, sizeof(w->start_msg),
		    "worker %u: connection table of %u records: %s (memory_limits.connection_memory too small for max_connections?)",
		    w->id, table_size(w, nworkers), strerror(-ret));
		return ret;
	}
	w->wait_head = w->wait_tail = CONN_NONE;
	ret = br_init(w);
	if (ret < 0)
		return ret;
	w->pipes_max = 256;
	ret = wconf_start(w, w->cfg, nworkers);
	if (ret < 0)
		return ret;
	io_uring_submit(&w->ring);
	return 0;
}

static void worker_teardown(struct worker *w)
{
	struct pipe_pair *p;

	wconf_stop(w);
	while ((p = w->pipe_free)) {
		w->pipe_free = p->next;
		close(p->rd);
		close(p->wr);
		free(p);
	}
	if (w->ring.ring_fd > 0)
		br_deinit(w);
	while (w->buf_free) {
		struct buf *b = w->buf_free;

		w->buf_free = b->next;
		free(b);
		acct_release(w->acct, ACCT_BUF, w->real_node, WORKER_BUF_COST);
	}
	conn_table_deinit(&w->ct);
	if (w->pc)
		pool_cache_free(w->pc);
	if (w->tw)
		timer_wheel_free(w->tw);
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker_group *g = w->group;
	int ret;

	publish_reader_register();
	ret = worker_setup(w, g->n);
	if (ret < 0 && !w->start_msg[0])
		snprintf(w->start_msg, sizeof(w->start_msg), "worker %u: start: %s", w->id,
		         strerror(-ret));
	pthread_mutex_lock(&g->lock);
	w->start_err = ret;
	g->started++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (ret == 0)
		worker_loop(w);
	worker_teardown(w);
	publish_reader_unregister();
	return NULL;
}

int worker_group_start(struct worker_group *g)
{
	unsigned i, launched = 0;
	int ret = 0;

	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	/* One at a time, so worker i's listen sockets are the i-th of their
	 * SO_REUSEPORT groups (cpu steering relies on it). */
	pthread_mutex_lock(&g->lock);
	for (i = 0; i < g->n; i++) {
		g->w[i].group = g;
		ret = -pthread_create(&g->w[i].thread, NULL, worker_main, &g->w[i]);
		if (ret < 0) {
			snprintf(g->w[i].start_msg, sizeof(g->w[i].start_msg),
			         "worker %u: thread: %s", i, strerror(-ret));
			g->w[i].start_err = ret;
			break;
		}
		launched++;
		while (g->started < launched)
			pthread_cond_wait(&g->cond, &g->lock);
		if (g->w[i].start_err < 0)
			break;
	}
	pthread_mutex_unlock(&g->lock);
	g->n = launched == g->n ? g->n : launched;
	for (i = 0; i < launched; i++)
		if (g->w[i].start_err < 0)
			return g->w[i].start_err;
	return ret;
}

void worker_group_stop(struct worker_group *g, struct io_uring *ring)
{
	worker_group_msg(g, ring, WMSG_STOP);
}

void worker_group_msg(struct worker_group *g, struct io_uring *ring, enum worker_msg msg)
{
	unsigned i;

	for (i = 0; i < g->n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (!sqe) {
			io_uring_submit(ring);
			sqe = io_uring_get_sqe(ring);
		}
		io_uring_prep_msg_ring(sqe, g->w[i].ring_fd, msg, conn_ud(OP_MSG, 0, msg), 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	io_uring_submit(ring);
}

void worker_group_join(struct worker_group *g)
{
	unsigned i;

	for (i = 0; i < g->n; i++)
		pthread_join(g->w[i].thread, NULL);
}

void worker_group_stats(const struct worker_group *g, struct worker_stats *sum)
{
	unsigned i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < g->n; i++) {
#define WORKER_STAT_SUM(f)                                                                         \
	atomic_store_explicit(                                                                     \
	    &sum->f, atomic_load_explicit(&sum->f, memory_order_relaxed) + WSTAT_GET(&g->w[i], f), \
	    memory_order_relaxed);
		WORKER_STATS(WORKER_STAT_SUM)
#undef WORKER_STAT_SUM
	}
}
