/* The worker: its event loop, the completion dispatch, start and stop.
 *
 * A completion on a connection goes to its transport (recv, send) or its
 * protocol (connect, polls), through the tables of ops.h: the worker names
 * no protocol. Accept and backpressure are listen.c's, config generations
 * wconf.c's, the ring's buffers and socket operations ring.c's.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/publish.h"
#include "core/base/fault.h"
#include "core/loop/bufq.h"
#include "core/loop/listen.h"
#include "core/base/log.h"
#include "core/loop/ops.h"
#include "core/mem/pool.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"
#include "core/loop/wconf.h"
#include "core/loop/worker.h"
#include "numa/place.h"

#define WORKER_SQ_ENTRIES  1024
#define WORKER_CQE_BATCH   256
#define WORKER_MAX_WAIT    1000 /* ms: the longest sleep in the ring */
#define WORKER_REFILL_WAIT 10   /* ms: the longest while connections wait for ring buffers */
#define WORKER_WAKE_BATCH  32   /* completions that end a coalesced wait early */

#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

/* Every operation of a closing connection has completed: give back what it
 * holds and free its slot. */
static void conn_release(struct worker *w, struct conn *c)
{
	struct wlistener *ls = ring_listener(w, c);

	/* Unlinked lazily by ring_refill(), which skips freed slots; the
	 * slot must not be reused before that, so unlink now. */
	ring_bufwait_drop(w, c);
	if (c->peer != CONN_NONE) {
		/* Still paired: its peer must not outlive it pointing at a slot
		 * the next connection takes (it would get this one's bytes). */
		struct conn *p = &w->ct.c[c->peer];

		p->peer = CONN_NONE;
		c->peer = CONN_NONE;
		ring_close(w, p);
	}
	bufq_drop(w, c);
	xprt_of(c)->release(w, c);
	proto_of(c)->release(w, c);
	if (c->flags & CONN_F_COUNTED)
		listen_conn_closed(w, ls);
	conn_put(&w->ct, c);
	ls->conns--;
	listen_done(w, ls);
}

/* ---- dispatch ---- */

static void on_msg(struct worker *w, uint32_t cmd)
{
	unsigned i;
	uint64_t drain = 0;

	if (cmd == WMSG_ARM)
		wconf_arm(w);
	if ((cmd != WMSG_STOP && cmd != WMSG_HANDOVER) || w->stopping)
		return; /* WMSG_RELOAD only wakes the loop, which switches */
	w->stopping = true;
	/* A handover stops every accept, the admin endpoint's too: the new
	 * process answers on the same sockets. */
	w->handover = cmd == WMSG_HANDOVER;
	for (i = 0; i < w->nls; i++) {
		if (!w->ls[i])
			continue;
		if (w->ls[i]->serves_stop && !w->handover)
			continue; /* it answers that we are stopping (the admin endpoint) */
		listen_stop(w, w->ls[i]);
		if (w->ls[i]->cfg->timeouts.drain > drain)
			drain = w->ls[i]->cfg->timeouts.drain;
	}
	w->drain_deadline = w->now + drain;
	/* Idle keep-alive connections close now, as nginx does (in a
	 * handover, after WORKER_HANDOVER_IDLE_MS or their next answer); one
	 * that has sent nothing yet gets WORKER_HANDOVER_IDLE_MS for its
	 * first request. */
	for (i = 0; i < w->ct.fresh; i++) {
		struct conn *c = &w->ct.c[i];

		if (c->proto != CONN_P_FREE && proto_of(c)->drain)
			proto_of(c)->drain(w, c);
	}
}

/* Fault injection (fault.h): the completion <op> of <c> turned into the
 * failure the kernel could have reported, so every transport and protocol
 * sees a real-looking one. A receive's buffer goes back to the pool; a
 * multishot receive stays armed (its flags keep F_MORE), as the close that
 * follows cancels it. A connect is refused, or (every second fault) timed
 * out. Without RINGLB_FAULT this is `return res`. */
static int fault_cqe(struct worker *w, uint8_t op, int res, uint32_t *flags)
{
	switch (op) {
	case OP_RECV:
		if (res < 0 || !fault_hit(FAULT_RECV))
			return res;
		if (*flags & IORING_CQE_F_BUFFER) {
			pool_put(w->pc, ring_take_buffer(w, *flags >> IORING_CQE_BUFFER_SHIFT),
			         (size_t)res);
			*flags &= ~IORING_CQE_F_BUFFER;
		}
		return -ECONNRESET;
	case OP_SEND:
		return res >= 0 && fault_hit(FAULT_SEND) ? -EPIPE : res;
	case OP_CONNECT:
		if (res != 0 || !fault_hit(FAULT_CONNECT))
			return res;
		/* refused, or every second one timed out: what the linked
		 * timeout's firing makes of a connect */
		return fault_injected(FAULT_CONNECT) % 2 ? -ECONNREFUSED : -ECANCELED;
	default:
		return res;
	}
}

/* A completion for a live connection. */
static void on_conn(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags)
{
	res = fault_cqe(w, op, res, &flags);
	switch (op) {
	case OP_RECV:
		if (ring_recv_refused(w, c, res, flags))
			break;
		if (res < 0 && res != -ENOBUFS && res != -ECANCELED)
			WSTAT_INC(w, recv_errors);
		xprt_of(c)->on_recv(w, c, res, flags);
		break;
	case OP_SEND:
		if (res < 0 && res != -ECANCELED)
			WSTAT_INC(w, send_errors);
		xprt_of(c)->on_sent(w, c, res);
		break;
	case OP_CONNECT:
		if (proto_of(c)->connected)
			xprt_of(c)->connected(w, c, res);
		break;
	case OP_WATCH:
		if (ring_watched(w, c, res))
			proto_abort(w, c);
		break;
	case OP_POLL_IN:
	case OP_POLL_OUT:
		if (proto_of(c)->polled)
			proto_of(c)->polled(w, c, op, res);
		break;
	default: /* link timeouts, cancels, close */
		break;
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
			pool_put(w->pc, ring_take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT),
			         res > 0 ? res : 0);
	} else {
		c->last_ms = w->now;
		on_conn(w, c, op, res, flags);
	}
	if ((c->flags & CONN_F_CLOSING) && !c->inflight && c->proto != CONN_P_FREE)
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
	sqe = ring_sqe(w);
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

/* Whether a stopping worker with no connection left may leave its loop: a
 * worker that serves a listener while the others drain (the admin
 * endpoint, whose /health says 503 then) leaves last. */
static bool worker_may_leave(struct worker *w)
{
	for (unsigned i = 0; i < w->nls; i++)
		if (w->ls[i] && w->ls[i]->serves_stop && !w->ls[i]->closed)
			return !w->group || atomic_load(&w->group->looping) <= 1;
	return true;
}

/* Whether the ring has completions posted, or deferred task work queued
 * (a peer's packet seen, not yet turned into a completion), or an
 * overflow to flush. */
static bool worker_has_work(struct worker *w)
{
	return io_uring_cq_ready(&w->ring) || (IO_URING_READ_ONCE(*w->ring.sq.kflags) &
	                                       (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW));
}

/* Submits and sleeps until there is a completion to handle.
 *
 * With wake_coalesce_us and the kernel's min-wait, a worker with nothing
 * pending sleeps until WORKER_WAKE_BATCH completions, or until
 * wake_coalesce_us have passed with at least one (the first completion
 * after that much quiet wakes it at once). Until then a peer's packet only
 * queues the worker's task work: the sender's CPU pays no wake-up of this
 * one (an IPI, and on a VM an exit), and the worker answers a burst with
 * one wake-up, so its sends reach the peers in bursts too. A worker with
 * work pending never sleeps on it: a busy worker waits as before.
 *
 * Prepared SQEs go first, on their own: sends complete inline, and their
 * completions, if left for the sleep, would end it at wake_coalesce_us. */
static int worker_wait(struct worker *w)
{
	struct __kernel_timespec ts = {.tv_sec = WORKER_MAX_WAIT / 1000 + 1};
	struct io_uring_getevents_arg arg = {0};
	uint32_t us = w->cfg->wake_coalesce_us;

	if (!us || !w->min_wait || worker_has_work(w))
		return io_uring_submit_and_wait(&w->ring, 1);
	if (io_uring_sq_ready(&w->ring))
		return io_uring_submit(&w->ring);
	/* The timer wheel's tick stays a ring timeout (worker_tick()); this
	 * timeout, past the longest sleep, only makes the kernel go on
	 * waiting for one completion once the min-wait is over. */
	arg.pad = us; /* min_wait_usec: liburing 2.3's header predates it */
	arg.ts = (uint64_t)(uintptr_t)&ts;
	if (syscall(__NR_io_uring_enter, w->enter_fd, 0, WORKER_WAKE_BATCH,
	            IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | w->enter_reg, &arg,
	            sizeof(arg)) < 0 &&
	    errno != ETIME && errno != EINTR && errno != EAGAIN && errno != EBUSY) {
		log_warn("worker %u: coalesced wait: %s: waking at the first completion from now",
		         w->id, strerror(errno));
		w->min_wait = false;
	}
	return 0; /* what failed here is not a submission: the next turn waits plainly */
}

/* Counts a failed submission of the loop (a signal or a timeout is none). */
static void submitted(struct worker *w, int ret)
{
	if (ret < 0 && ret != -EINTR && ret != -ETIME)
		WSTAT_INC(w, submit_errors);
}

static void worker_loop(struct worker *w)
{
	struct io_uring_cqe *cqes[WORKER_CQE_BATCH];
	unsigned i, n;

	if (w->group)
		atomic_fetch_add(&w->group->looping, 1);
	while (!w->done) {
		struct config *cfg = publish_get();
		int64_t next;

		if (cfg && cfg != w->cfg)
			wconf_switch(w, cfg);
		publish_reader_quiescent();
		w->now = clock_ms();
		timer_wheel_advance(w->tw, w->now, w);
		ring_refill(w);
		if (w->stopping && (!w->ct.used || w->now >= w->drain_deadline)) {
			if (!w->ct.used && worker_may_leave(w))
				break;
			if (!w->ct.used)
				goto wait; /* the others are draining: keep answering */
			/* Drain time is over: close what is left, then wait
			 * for the completions of that. */
			for (i = 0; i < w->ct.fresh; i++)
				if (w->ct.c[i].proto != CONN_P_FREE)
					ring_close(w, &w->ct.c[i]);
			w->drain_deadline = UINT64_MAX;
		}
wait:
		next = timer_wheel_next(w->tw, w->now);
		if (next < 0 || next > WORKER_MAX_WAIT)
			next = WORKER_MAX_WAIT;
		/* Connections wait for a buffer the pool refused the ring (or a
		 * TLS connection its plaintext): no completion may come to wake
		 * the loop (another worker's puts do not), so ring_refill()
		 * tries again soon, not in a second. */
		if (w->wait_head != CONN_NONE && next > WORKER_REFILL_WAIT)
			next = WORKER_REFILL_WAIT;
		publish_reader_offline();
		if (fault_hit(FAULT_SUBMIT)) {
			WSTAT_INC(w, submit_errors); /* the SQEs stay queued for the next turn */
		} else if (next == 0) {
			submitted(w, io_uring_submit_and_get_events(&w->ring)); /* timers due */
		} else {
			worker_tick(w, w->now + (uint64_t)next);
			submitted(w, worker_wait(w));
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
	if (w->group)
		atomic_fetch_sub(&w->group->looping, 1);
}

/* ---- start and stop ---- */

static int ring_init(struct worker *w)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
	          IORING_SETUP_TASKRUN_FLAG;
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
	w->enter_fd = w->ring.ring_fd;
	w->enter_reg = 0;
	if (io_uring_register_ring_fd(&w->ring) == 1) {
		w->enter_fd = w->ring.enter_ring_fd;
		w->enter_reg = IORING_ENTER_REGISTERED_RING;
	}
	/* Coalesced waits need the kernel's min-wait (6.12) and the task
	 * work flag (set up above, not by the fallback). */
	w->recv_cap = true; /* until the kernel refuses it (ring_recv_refused()) */
	w->min_wait =
	    (p.features & IORING_FEAT_MIN_TIMEOUT) && (p.flags & IORING_SETUP_TASKRUN_FLAG);
	if (!w->min_wait && w->id == 0 && w->cfg->wake_coalesce_us)
		log_info(
		    "wake_coalesce_us: this kernel has no io_uring min-wait (Linux 6.12+): workers wake at the first completion");
	return 0;
}

static uint32_t table_size(const struct worker *w, unsigned nworkers)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < w->cfg->nlisteners; i++) {
		const struct cfg_listener *l = &w->cfg->listeners[i];
		uint64_t share = (l->max_connections + nworkers - 1) / nworkers;

		n += share * (ops_proto[ops_mode_proto(l->mode)]
		                  ? ops_proto[ops_mode_proto(l->mode)]->records
		                  : 2);
	}
	if (w->id == 0 && w->cfg->admin_enabled)
		n += w->cfg->admin.max_connections;
	return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
}

/* Each registered protocol's per-worker state. */
static int protos_init(struct worker *w)
{
	for (unsigned i = 1; i < OPS_MAX && ops_proto[i]; i++) {
		int ret = ops_proto[i]->worker_init ? ops_proto[i]->worker_init(w) : 0;

		if (ret < 0) {
			snprintf(w->start_msg, sizeof(w->start_msg), "worker %u: %s: %s", w->id,
			         ops_proto[i]->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void protos_deinit(struct worker *w)
{
	for (unsigned i = 1; i < OPS_MAX && ops_proto[i]; i++)
		if (ops_proto[i]->worker_deinit)
			ops_proto[i]->worker_deinit(w);
}

/* Every memory_cleanup_interval, what is kept for reuse goes back: buffer
 * descriptors, pipes and the pool cache, the table's side array when no
 * connection uses it, and each protocol's spare memory. An idle worker is
 * then at the figures it started with. */
static void worker_cleanup(struct timer *t, void *arg)
{
	struct worker *w = arg;

	bufq_trim(w);
	conn_table_trim(&w->ct);
	for (unsigned i = 1; i < OPS_MAX && ops_proto[i]; i++)
		if (ops_proto[i]->trim)
			ops_proto[i]->trim(w);
	timer_arm(w->tw, t, w->now + w->cfg->memory_tuning.memory_cleanup_interval);
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
	ret = ring_buffers_init(w);
	if (ret < 0)
		return ret;
	w->pipes_max = 256;
	ret = protos_init(w);
	if (ret < 0)
		return ret;
	ret = wconf_start(w, w->cfg, nworkers);
	if (ret < 0)
		return ret;
	io_uring_submit(&w->ring);
	return 0;
}

static void worker_teardown(struct worker *w)
{
	wconf_stop(w);
	protos_deinit(w);
	bufq_pipe_deinit(w);
	if (w->ring.ring_fd > 0)
		ring_buffers_deinit(w);
	bufq_deinit(w);
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
