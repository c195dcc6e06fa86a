/* Workers: types only (core/worker.h). */
#ifndef RINGLB_CORE_WORKER_T_H
#define RINGLB_CORE_WORKER_T_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config-t.h"
#include "core/loop/conn-t.h"
#include "core/loop/lstat-t.h"
#include "core/lb/lb-t.h"
#include "core/loop/ops-t.h"
#include "core/base/timer-t.h"

/* Operations, the top byte of user_data. */
enum op {
	OP_NONE,
	OP_ACCEPT, /* slot = listener index */
	OP_RECV,
	OP_SEND,
	OP_CONNECT,
	OP_LINK_TIMEOUT,
	OP_CANCEL,
	OP_CLOSE,
	OP_POLL_IN,
	OP_POLL_OUT,
	OP_MSG,      /* from the control thread; slot = enum worker_msg */
	OP_LCLOSE,   /* listener close/cancel; slot = listener index */
	OP_WATCH,    /* poll for the peer's reset while a socket is not read */
	OP_TICK,     /* the worker's wake-up for its timer wheel (one armed at most) */
	OP_TICK_UPD, /* moving that wake-up earlier */
};

enum worker_msg {
	WMSG_STOP = 1, /* stop accepting, drain, exit */
	WMSG_RELOAD,   /* a new snapshot is published: switch to it */
	WMSG_HANDOVER, /* a binary upgrade: stop accepting (the sockets stay open for the
	                  new process), drain gracefully, exit */
	WMSG_ARM,      /* start accepting (a process started by an upgrade holds off until
	                  it is ready) */
};

/* In a handover, a keep-alive connection that has no request in progress
 * for this long is closed; one that gets a request first is answered with
 * Connection: close, then closed (so a client never sees a keep-alive
 * connection close under the request it just sent). */
#define WORKER_HANDOVER_IDLE_MS 2000

/* Counters of one worker: written by the worker alone (relaxed stores),
 * read by the control thread for snapshots and the exit summary; one
 * exception, log_unwritten (access log records of this worker that the log
 * thread could not write), is written by the log thread alone. */
/* clang-format 14 does not settle on a layout for this list. */
/* clang-format off */
#define WORKER_STATS(X)                                                                            \
	X(accepted) X(rejected) X(deferred) X(closed) X(active) X(connect_ok) X(connect_fail)      \
	X(connect_timeout) X(no_backend) X(bytes_in) X(bytes_out) X(splice_bytes) X(splices)       \
	X(buffer_waits) X(buffer_fails) X(static_requests) X(idle_timeouts) X(aborts)             \
	X(pipe_exhausted) X(table_full) X(stale_cqes) X(http_requests) X(http_errors)     \
	X(http_reused) X(tls_handshakes) X(tls_resumed) X(tls_failed) X(tls_timeouts)      \
	X(log_dropped) X(log_unwritten) X(proxy_ok) X(proxy_local) X(proxy_untrusted)     \
	X(proxy_bad) X(proxy_oversized) X(proxy_truncated) X(proxy_timeouts) X(proxy_sent)     \
	X(http_head_waits) \
	X(accept_errors) X(recv_errors) X(send_errors) X(short_sends) X(sq_full) X(submit_errors) \
	X(recv_uncapped)
/* clang-format on */

struct worker_stats {
#define WORKER_STAT_FIELD(name) _Atomic uint64_t name;
	WORKER_STATS(WORKER_STAT_FIELD)
#undef WORKER_STAT_FIELD
};

#define WORKER_XPRT_REASONS 16 /* failure reasons a transport counts (tls: enum tls_reason) */

struct pipe_pair {
	int rd, wr;
	uint32_t bytes; /* in the pipe */
	struct pipe_pair *next;
};

enum accept_mode {
	ACCEPT_OFF,    /* not accepting: stopped, or at max connections */
	ACCEPT_MULTI,  /* multishot: Normal pressure */
	ACCEPT_SINGLE, /* one at a time, decided before each (Warning, Critical) */
};

/* One config snapshot as a worker uses it: it pins the snapshot (one
 * reference per worker, not per connection) while a listener of that
 * generation lives, and holds the worker's balancing cursors for its pools. */
struct upstream_idle;
struct alog_sink;
struct alog_ring;

struct wgen {
	struct config *cfg;
	struct lb_cursor *cur; /* one per pool of cfg */
	unsigned ncur;
	struct upstream_idle *idle; /* upstream.c: this worker's idle upstreams per backend */
	unsigned refs;              /* listeners of this generation */
};
/* One listener of one config generation as a worker runs it. A reload
 * makes new ones (taking over the socket when name, bind and mode are
 * unchanged); the old ones stop accepting, and live on while their
 * connections finish, so a connection keeps the snapshot it started on. */
struct wlistener {
	int fd;
	uint16_t idx;       /* slot in worker.ls */
	bool retired;       /* no longer accepting: a newer generation took over */
	uint16_t successor; /* slot that took the socket over, or UINT16_MAX */
	struct wgen *gen;
	uint8_t mode;     /* enum accept_mode wanted */
	bool armed;       /* an accept is in flight */
	bool reject_next; /* the armed single accept is to be rejected */
	bool deferring;   /* waiting for defer_delay */
	bool closed;
	uint32_t active;     /* client connections of this listener on this worker */
	uint32_t conns;      /* records (client, upstream) referring to it */
	uint32_t max_active; /* this worker's share of max_connections */
	const struct cfg_listener *cfg;
	struct timer defer_tm;
	struct __kernel_timespec connect_ts;
	uint8_t proto;          /* the protocol its connections run (ops.h) */
	uint8_t xprt;           /* the transport they use */
	bool serves_stop;       /* keeps accepting while the worker drains (set by prepare()) */
	bool unpressured;       /* accepts whatever the memory pressure (set by prepare()) */
	void *pctx;             /* the protocol's own state for this listener (prepare()) */
	struct alog_sink *alog; /* its access log (the generation's), NULL = none */
	struct lstat_w *st;     /* this worker's counters of the listener's name (lstat.h) */
};

struct worker {
	unsigned id;
	int cpu;
	int node;
	int real_node;
	pthread_t thread;
	struct io_uring ring;
	int ring_fd;        /* for MSG_RING from the control thread */
	struct config *cfg; /* current snapshot: gen->cfg */
	struct acct *acct;
	struct pool *pool; /* this worker's node's pools */
	struct pool_cache *pc;
	struct conn_table ct;
	struct timer_wheel *tw;
	struct wlistener **ls;     /* slots; NULL = free */
	unsigned nls;              /* slots allocated */
	struct wgen *gen;          /* the current generation */
	_Atomic uint64_t seen_gen; /* generation of the snapshot in use (control reads) */

	/* provided buffer ring */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint32_t br_n;
	uint32_t buf_size;
	char **br_buf;   /* bid -> buffer */
	uint16_t *holes; /* bids with no buffer (the pool refused) */
	uint32_t nholes;
	uint32_t br_added; /* added since the last advance */

	/* struct buf descriptors */
	struct timer cleanup_tm; /* every memory_cleanup_interval: give back idle memory */
	struct buf *buf_free;
	uint32_t nbuf_free; /* kept >= buffers in the ring: taking one never fails */

	uint32_t up_nidle;     /* upstream.c: idle upstream connections, all generations */
	void *pstate[OPS_MAX]; /* each protocol's own per-worker state (worker_init()) */

	/* The ring's timeout for the timer wheel: an IORING_OP_TIMEOUT kept
	 * armed across waits (a wait with a timeout arms and cancels an
	 * hrtimer each time it sleeps, which costs as much as the sleep). */
	uint64_t tick_due; /* ms, CLOCK_MONOTONIC; UINT64_MAX when none is armed */
	struct __kernel_timespec tick_ts;

	/* Coalesced waits (worker.c, wake_coalesce_us): the kernel has
	 * io_uring's min-wait and the ring shows pending task work. */
	bool min_wait;
	/* Multishot receives carry a byte cap (ring_recv()): Linux 6.17 has
	 * it; cleared when the kernel refuses one. */
	bool recv_cap;
	int enter_fd;       /* the ring's fd for io_uring_enter (registered or not) */
	unsigned enter_reg; /* IORING_ENTER_REGISTERED_RING when enter_fd is registered */

	/* connections waiting for a provided buffer, FIFO by slot */
	uint32_t wait_head, wait_tail;
	uint32_t nwait; /* connections on that list */

	/* splice pipes */
	struct pipe_pair *pipe_free;
	uint32_t pipes, pipes_max;
	uint32_t npipe_free, pipe_free_low; /* pooled; the fewest since the last cleanup */

	struct alog_ring *alog; /* this worker's access log ring */

	uint64_t rng;
	uint64_t now;
	bool stopping;
	bool handover;          /* stopping for a binary upgrade (WMSG_HANDOVER) */
	_Atomic bool accepting; /* its listeners are armed (WMSG_ARM, or at start) */
	uint64_t drain_deadline;
	bool done;

	/* start-up handshake with the control thread */
	struct worker_group *group;
	int start_err;
	char start_msg[256];

	struct worker_stats st;
	/* a transport's failures by reason (tls: handshakes and sessions) */
	_Atomic uint64_t xprt_fail[WORKER_XPRT_REASONS];
};

/* The workers the control thread started (worker.h). */
struct worker_group {
	struct worker *w;
	unsigned n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned started;         /* workers that finished start-up (ok or not) */
	bool hold;                /* open the listeners but accept only at WMSG_ARM */
	_Atomic unsigned looping; /* workers in their event loop */
};

#define WSTAT_INC(w, f) WSTAT_ADD(w, f, 1)
#define WSTAT_ADD(w, f, n)                                                                         \
	atomic_store_explicit(&(w)->st.f,                                                          \
	                      atomic_load_explicit(&(w)->st.f, memory_order_relaxed) + (n),        \
	                      memory_order_relaxed)
#define WSTAT_GET(w, f) atomic_load_explicit(&(w)->st.f, memory_order_relaxed)

#endif
