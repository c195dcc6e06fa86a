/* Listen sockets, accept and the accept-time backpressure of DESIGN.md's
 * "Contracts": under Normal pressure a multishot accept takes connections
 * as they come; from Warning on, each connection is decided before it is
 * taken out of the kernel backlog (accept, defer for defer_delay, or
 * reject), one accept at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/mem/acct.h"
#include "core/base/fault.h"
#include "core/base/macros.h"
#include "core/lb/snapshot.h"
#include "core/loop/gen.h"
#include "core/loop/listen.h"
#include "core/loop/lsock.h"
#include "core/loop/lstat.h"
#include "core/base/log.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/loop/ring.h"
#include "core/base/timer.h"

#define LISTEN_MAX_SLOTS UINT16_MAX

static void listen_defer_fire(struct timer *t, void *arg)
{
	struct wlistener *ls = container_of(t, struct wlistener, defer_tm);

	ls->deferring = false;
	listen_arm(arg, ls);
}

/* steering: cpu. A classic BPF reuseport program returns the index, in
 * the listener's SO_REUSEPORT group, of the worker pinned to the CPU that
 * received the packet. That index is only known at start-up, where the
 * workers open their sockets one at a time in worker order (index =
 * worker id). A CPU without a worker returns an index past the group, and
 * the kernel falls back to its hash. */
static void attach_cpu_steering(struct worker *w, struct wlistener *ls)
{
	const struct worker_group *g = w->group;
	struct sock_filter code[2 + 2 * g->n];
	struct sock_fprog prog = {.len = 2 + 2 * g->n, .filter = code};
	unsigned i;

	code[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_CPU);
	for (i = 0; i < g->n; i++) {
		code[1 + 2 * i] =
		    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, g->w[i].cpu, 0, 1);
		code[2 + 2 * i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, i);
	}
	code[1 + 2 * g->n] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	if (setsockopt(ls->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_warn("listener %s: steering cpu: %s; using the kernel's hash", ls->cfg->name,
		         strerror(errno));
}

/* Applies the listener's steering to the worker's socket. Every socket of
 * a cpu-steered group says which CPU it serves (SO_INCOMING_CPU): the
 * kernel's hash (6.1 and up) then prefers the socket of the receiving CPU,
 * whatever the order of the group. The BPF program needs worker order,
 * which only start-up gives (<ordered>): a listener a reload adds joins in
 * any order, and a program there would send connections to the wrong
 * worker, so a socket opened later detaches any. A socket a reload takes
 * over (<fresh> false) keeps its group and so its program, unless the
 * listener now uses the hash. */
static void listen_steer(struct worker *w, struct wlistener *ls, bool fresh, bool ordered)
{
	bool cpu = ls->cfg->steering == STEER_CPU;
	int v = cpu ? w->cpu : -1;

	if (setsockopt(ls->fd, SOL_SOCKET, SO_INCOMING_CPU, &v, sizeof(v)) < 0 && cpu)
		log_warn("listener %s: SO_INCOMING_CPU: %s", ls->cfg->name, strerror(errno));
	if (w->id != 0)
		return;
	if (cpu && fresh && ordered)
		attach_cpu_steering(w, ls);
	else if (!cpu || (fresh && !ordered))
		setsockopt(ls->fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &v, sizeof(v));
}

/* What a listener needs beside its socket: timers, and what its protocol
 * prepares (the static responder's fixed responses). */
static int listen_prepare(struct worker *w, struct wlistener *ls)
{
	const struct cfg_listener *l = ls->cfg;
	const struct proto_ops *p = proto_of_ls(ls);
	int ret;

	timer_init(&ls->defer_tm, listen_defer_fire);
	ls->connect_ts.tv_sec = l->timeouts.connect / 1000;
	ls->connect_ts.tv_nsec = (l->timeouts.connect % 1000) * 1000000;
	if (!p->prepare)
		return 0;
	ret = p->prepare(w, ls);
	if (ret < 0)
		snprintf(w->start_msg, sizeof(w->start_msg), "listener %s: %s", l->name,
		         strerror(-ret));
	return ret;
}

/* HTTP clients speak first: the kernel hands a connection over once its
 * first bytes are in, so accepting it and reading the request take one
 * wake-up, not two. A client that sends nothing is accepted all the same
 * once the time is over, which the kernel rounds up to its SYN-ACK
 * retransmissions (1, 3, 7, 15, 31 s...: 15 s for timeouts.header 10s), and
 * closed at its first-head deadline. On a TLS listener the first bytes are
 * a ClientHello held to timeouts.handshake, so that is the time waited (a
 * silent client is closed about twice it after its connect, not the header
 * timeout's rounding plus it). Set again when a reload adopts the socket:
 * the timeout may have changed. */
static void listen_defer(const struct cfg_listener *l, int fd)
{
	uint64_t ms = l->timeouts.header;
	int secs;

	if (l->tls.enabled && l->timeouts.handshake < ms)
		ms = l->timeouts.handshake;
	secs = l->mode == LMODE_HTTP ? (int)((ms + 999) / 1000) : 0;

	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

/* A new stream socket for <l> with the options every listen socket has,
 * bound. Returns the descriptor or -errno. */
static int listen_bind(const struct cfg_listener *l)
{
	int one = 1, fd, ret;

	fd = socket(l->bind.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (l->bind.ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)&l->bind.ss, l->bind.len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int listen_reserve(const struct cfg_listener *l, char *msg, size_t len)
{
	int fd = listen_bind(l);

	if (fd < 0)
		snprintf(msg, len, "listener %s: bind %s: %s", l->name, l->bind.text,
		         strerror(-fd));
	return fd;
}

int listen_open(struct worker *w, struct wlistener *ls)
{
	const struct cfg_listener *l = ls->cfg;
	int fd, ret;
	/* Taken over from the process this one replaces: listen() again only
	 * sets the backlog; the group and its steering program stay. Among a
	 * process's sockets of one address, the old workers' ranks were
	 * their ids (workers open one at a time), and so are ours. */
	bool taken = (fd = lsock_take(w->id, &l->bind)) >= 0;

	if (!taken && (fd = listen_bind(l)) < 0) {
		errno = -fd;
		goto err;
	}
	/* Accepted sockets inherit TCP_NODELAY and the buffer sizes from
	 * here: one setsockopt per listener, none per connection. */
	ring_sockopts(w, fd);
	listen_defer(l, fd);
	if (listen(fd, l->backlog ? (int)l->backlog : 1024) < 0)
		goto err;
	ls->fd = fd;
	lsock_add(w->id, fd, &l->bind);
	/* At start-up the generation being opened is already the worker's
	 * current one; a reload opens the next one before switching. */
	listen_steer(w, ls, !taken, ls->gen == w->gen);
	return listen_prepare(w, ls);
err:
	ret = -errno;
	snprintf(w->start_msg, sizeof(w->start_msg), "listener %s: bind %s: %s", l->name,
	         l->bind.text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

int listen_adopt(struct worker *w, struct wlistener *ls)
{
	listen_defer(ls->cfg, ls->fd);
	listen_steer(w, ls, false, false);
	return listen_prepare(w, ls);
}

static void arm_accept(struct worker *w, struct wlistener *ls, bool multi)
{
	struct io_uring_sqe *sqe = ring_sqe(w);

	if (multi)
		io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL,
		                               SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, conn_ud(OP_ACCEPT, 0, ls->idx));
	ls->armed = true;
	ls->mode = multi ? ACCEPT_MULTI : ACCEPT_SINGLE;
}

void listen_cancel(struct worker *w, struct wlistener *ls)
{
	struct io_uring_sqe *sqe;

	if (!ls->armed)
		return;
	sqe = ring_sqe(w);
	io_uring_prep_cancel64(sqe, conn_ud(OP_ACCEPT, 0, ls->idx), 0);
	io_uring_sqe_set_data64(sqe, conn_ud(OP_LCLOSE, 0, ls->idx));
}

static void cancel_accept(struct worker *w, struct wlistener *ls)
{
	struct io_uring_sqe *sqe;

	if (!ls->armed || ls->mode != ACCEPT_MULTI)
		return;
	sqe = ring_sqe(w);
	io_uring_prep_cancel64(sqe, conn_ud(OP_ACCEPT, 0, ls->idx), 0);
	io_uring_sqe_set_data64(sqe, conn_ud(OP_LCLOSE, 0, ls->idx));
	ls->mode = ACCEPT_SINGLE; /* the accept in flight ends; decide each next one */
}

/* Whether the accept of an older listener whose socket <ls> took over is
 * still armed. Two accepts on one socket, one of them being cancelled,
 * lose wakeups: <ls> arms when the old one has ended. */
static bool predecessor_armed(struct worker *w, struct wlistener *ls)
{
	unsigned i;

	for (i = 0; i < w->nls; i++)
		if (w->ls[i] && w->ls[i]->successor == ls->idx && w->ls[i]->armed)
			return true;
	return false;
}

void listen_arm(struct worker *w, struct wlistener *ls)
{
	const struct cfg_memory_tuning *mt = &w->cfg->memory_tuning;

	if (ls->closed || ls->retired || (w->stopping && !ls->serves_stop) || ls->armed ||
	    ls->deferring || ls->fd < 0)
		return;
	if (predecessor_armed(w, ls))
		return;
	if (ls->active >= ls->max_active) {
		ls->mode = ACCEPT_OFF; /* re-armed when one of ours closes */
		return;
	}
	if (acct_level(w->acct) == ACCT_NORMAL || ls->unpressured) {
		arm_accept(w, ls, true);
		return;
	}
	switch (acct_decide(w->acct, &w->rng)) {
	case ACCT_ACCEPT:
		ls->reject_next = false;
		arm_accept(w, ls, false);
		break;
	case ACCT_REJECT:
		ls->reject_next = true;
		arm_accept(w, ls, false);
		break;
	case ACCT_DEFER:
		ls->deferring = true;
		WSTAT_INC(w, deferred);
		LSTAT_INC(&ls->st->deferred);
		timer_arm(w->tw, &ls->defer_tm, w->now + (mt->defer_delay ? mt->defer_delay : 1));
		break;
	}
}

static void accept_error(struct worker *w, struct wlistener *ls, int err)
{
	static __thread struct log_ratelimit rl;

	WSTAT_INC(w, accept_errors);
	if (log_ratelimit(&rl, 5))
		log_warn("listener %s: accept: %s", ls->cfg->name, strerror(-err));
	if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
		/* Out of descriptors or kernel memory: back off like a defer. */
		ls->deferring = true;
		timer_arm(w->tw, &ls->defer_tm, w->now + 100);
	}
}

void listen_on_accept(struct worker *w, struct wlistener *ls, int res, uint32_t flags)
{
	struct conn *c;
	bool more = flags & IORING_CQE_F_MORE;
	bool reject = false;

	if (res >= 0 && !ls->retired && fault_hit(FAULT_ACCEPT)) {
		/* Out of descriptors, as the kernel says it: the connection is
		 * lost (it was taken already), and a multishot accept ends. */
		close(res);
		res = -EMFILE;
		if (more)
			cancel_accept(w, ls);
	}
	if (!more)
		ls->armed = false;
	if (ls->retired) {
		/* A reload handed the socket to <successor>: what the old
		 * accept still took is the new generation's. */
		struct wlistener *next = ls->successor < w->nls ? w->ls[ls->successor] : NULL;

		if (!more) {
			listen_done(w, ls);
			if (next && !next->armed)
				listen_arm(w, next); /* held back until now: see below */
		}
		if (res < 0)
			return;
		if (!next) {
			close(res);
			return;
		}
		ls = next;
	}
	if (res < 0) {
		if (res != -ECANCELED && !ls->closed)
			accept_error(w, ls, res);
		goto rearm;
	}
	if ((ls->closed || (w->stopping && !ls->serves_stop)) && !w->handover) {
		close(res);
		return;
	}
	/* In a handover, a connection our accept took before it ended is
	 * served (and drained) here: it left the queue the new process
	 * accepts from, so closing it would lose it. */
	if (!more && ls->mode == ACCEPT_SINGLE) {
		/* Decided when the accept was armed; the connection may come
		 * long after, when the pressure is gone: then it is accepted. */
		reject = ls->reject_next && acct_level(w->acct) != ACCT_NORMAL;
		ls->reject_next = false;
	} else if (acct_level(w->acct) != ACCT_NORMAL && !ls->unpressured) {
		/* Pressure rose while the multishot accept was armed: decide
		 * this one now and the next ones before accepting them. */
		enum acct_decision d = acct_decide(w->acct, &w->rng);

		reject = d == ACCT_REJECT;
		cancel_accept(w, ls);
		if (d == ACCT_DEFER && !ls->deferring) {
			/* This one is already accepted and goes on; the
			 * listener pauses for defer_delay, so the next ones
			 * wait in the kernel backlog. */
			ls->deferring = true;
			WSTAT_INC(w, deferred);
			LSTAT_INC(&ls->st->deferred);
			timer_arm(w->tw, &ls->defer_tm,
			          w->now + (w->cfg->memory_tuning.defer_delay
			                        ? w->cfg->memory_tuning.defer_delay
			                        : 1));
		}
	}
	if (reject) {
		/* Counted first: the client may read the answer (and a test
		 * the counters) before the close returns. */
		WSTAT_INC(w, rejected);
		LSTAT_INC(&ls->st->rejected[LSTAT_REJ_PRESSURE]);
		if (proto_of_ls(ls)->reject)
			proto_of_ls(ls)->reject(w, ls, res);
		else
			close(res);
		goto rearm;
	}
	ls->active++;
	WSTAT_INC(w, accepted);
	WSTAT_INC(w, active);
	LSTAT_INC(&ls->st->accepted);
	LSTAT_INC(&ls->st->active);
	c = listen_conn(w, ls, res);
	if (c && proxyp_accepts(ls))
		proxyp_start(w, c); /* the PROXY header first, then the transport's accept() */
	else if (c)
		ops_xprt[c->xprt]->accept(w, c); /* then the protocol's accept() */
	if (ls->active >= ls->max_active)
		cancel_accept(w, ls);
rearm:
	if (!ls->armed)
		listen_arm(w, ls);
}

void listen_conn_closed(struct worker *w, struct wlistener *ls)
{
	ls->active--;
	WSTAT_INC(w, closed);
	LSTAT_DEC(&ls->st->active);
	atomic_store_explicit(&w->st.active, WSTAT_GET(w, active) - 1, memory_order_relaxed);
	if (!ls->retired && !ls->armed)
		listen_arm(w, ls);
}

void listen_stop(struct worker *w, struct wlistener *ls)
{
	struct io_uring_sqe *sqe;

	if (ls->closed)
		return;
	ls->closed = true;
	timer_cancel(w->tw, &ls->defer_tm);
	if (ls->fd < 0)
		return;
	lsock_del(ls->fd);
	/* Stop listening now, not when the ring gets to the close below: the
	 * reload's "ok" line follows this call, and a connection after it
	 * must be refused, not queued on a socket about to go. (Closing the
	 * descriptor alone would not do: the armed accept holds the file.)
	 * Not in a handover: the socket is the new process's too, and goes on
	 * listening there; only our accept on it ends. */
	if (!w->handover)
		shutdown(ls->fd, SHUT_RDWR);
	ring_reserve(w, 2);
	sqe = ring_sqe(w);
	io_uring_prep_cancel_fd(sqe, ls->fd, IORING_ASYNC_CANCEL_ALL);
	sqe->flags |= IOSQE_IO_HARDLINK;
	io_uring_sqe_set_data64(sqe, conn_ud(OP_LCLOSE, 0, ls->idx));
	sqe = ring_sqe(w);
	io_uring_prep_close(sqe, ls->fd);
	io_uring_sqe_set_data64(sqe, conn_ud(OP_LCLOSE, 0, ls->idx));
	ls->fd = -1;
}

/* ---- listener records ---- */

struct wlistener *listen_new(struct worker *w, struct wgen *g, const struct cfg_listener *l,
                             unsigned nworkers)
{
	struct wlistener *ls;
	unsigned i;

	for (i = 0; i < w->nls && w->ls[i]; i++)
		;
	if (i == w->nls) {
		unsigned n = w->nls ? w->nls * 2 : 8;
		struct wlistener **grown;

		if (n > LISTEN_MAX_SLOTS)
			return NULL;
		grown = realloc(w->ls, n * sizeof(*grown));
		if (!grown)
			return NULL;
		memset(grown + w->nls, 0, (n - w->nls) * sizeof(*grown));
		w->ls = grown;
		w->nls = n;
	}
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return NULL;
	ls->fd = -1;
	ls->idx = i;
	ls->successor = UINT16_MAX;
	ls->cfg = l;
	ls->gen = g;
	ls->proto = ops_mode_proto(l->mode);
	ls->xprt = l->tls.enabled ? ops_tls_xprt() : ops_default_xprt();
	ls->max_active = (l->max_connections + nworkers - 1) / nworkers;
	ls->st = lstat_listener(l->name, w->id);
	ls->alog = snapshot_alog(g->cfg, (unsigned)(l - g->cfg->listeners));
	g->refs++;
	w->ls[i] = ls;
	return ls;
}

void listen_free(struct worker *w, struct wlistener *ls)
{
	const struct proto_ops *p = proto_of_ls(ls);
	unsigned i;

	/* An older listener whose accept has not ended yet hands what it
	 * takes to <ls>'s successor, not to a free or reused slot. */
	for (i = 0; i < w->nls; i++)
		if (w->ls[i] && w->ls[i]->successor == ls->idx)
			w->ls[i]->successor = ls->successor;
	timer_cancel(w->tw, &ls->defer_tm);
	if (ls->fd >= 0) {
		lsock_del(ls->fd);
		close(ls->fd);
	}
	if (p && p->unprepare)
		p->unprepare(w, ls);
	w->ls[ls->idx] = NULL;
	gen_put(w, ls->gen);
	free(ls);
}

void listen_done(struct worker *w, struct wlistener *ls)
{
	if (ls->retired && !ls->conns && !ls->armed && ls->fd < 0)
		listen_free(w, ls);
}

struct conn *listen_conn(struct worker *w, struct wlistener *ls, int fd)
{
	struct conn *c = conn_get(&w->ct);

	if (!c) {
		close(fd);
		WSTAT_INC(w, table_full);
		LSTAT_INC(&ls->st->rejected[LSTAT_REJ_TABLE_FULL]);
		listen_conn_closed(w, ls);
		return NULL;
	}
	c->proto = ls->proto;
	c->xprt = ls->xprt;
	c->fd = fd;
	c->listener = ls->idx;
	ls->conns++;
	c->flags |= CONN_F_COUNTED;
	c->last_ms = w->now;
	return c;
}
