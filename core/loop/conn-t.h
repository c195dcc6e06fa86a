/* Connections: types only.
 *
 * A proxied TCP connection is two records in the worker's table, the client
 * side and the upstream side, linked by <peer>. A record is the compact hot
 * part (about 100 bytes); it holds no buffer while no data is in flight:
 * bytes waiting to be written to a record's socket sit in its <out> queue as
 * pool buffers, and go back to the pool as soon as they are sent.
 */
#ifndef RINGLB_CORE_CONN_T_H
#define RINGLB_CORE_CONN_T_H

#include <stdint.h>
#include <stddef.h>
#include "core/base/timer-t.h"

struct acct;

#define CONN_NONE     UINT32_MAX
#define CONN_GEN_MASK 0xffffffu /* 24 bits of generation in user_data */

#define CONN_P_FREE 0 /* <proto> of a free slot; other ids come from ops.c */

/* Record flags. */
#define CONN_F_CLOSING   (1u << 0)  /* teardown started: waiting for in-flight ops */
#define CONN_F_RECV      (1u << 1)  /* multishot recv armed */
#define CONN_F_SEND      (1u << 2)  /* a send (or splice poll-out) in flight */
#define CONN_F_CONNECTED (1u << 3)  /* upstream: connect completed */
#define CONN_F_RD_EOF    (1u << 4)  /* read side saw EOF */
#define CONN_F_WR_SHUT   (1u << 5)  /* our write side is shut down */
#define CONN_F_PAUSED    (1u << 6)  /* not reading: the peer's queue is full */
#define CONN_F_BUFWAIT   (1u << 7)  /* in the worker's buffer-wait FIFO */
#define CONN_F_SPLICE    (1u << 8)  /* this socket's bytes move by splice */
#define CONN_F_POLL_IN   (1u << 9)  /* splice: poll for readable armed */
#define CONN_F_CANCELING (1u << 10) /* cancel of the recv requested */
#define CONN_F_CLOSE_AFTER                                                                         \
	(1u << 11)                 /* close once everything queued is sent (the transport does) */
#define CONN_F_COUNTED  (1u << 12) /* counted in its listener's active connections */
#define CONN_F_NOSPLICE (1u << 13) /* no pipe was available: stay on buffers */
#define CONN_F_WATCH    (1u << 14) /* a poll for reset/hangup is armed (not reading) */
#define CONN_F_IDLE     (1u << 15) /* upstream: in the worker's idle list (upstream.c) */
#define CONN_F_LBACTIVE (1u << 16) /* upstream: counted active by its balancer */
#define CONN_F_LOWAT    (1u << 17) /* splice: SO_RCVLOWAT raised, polls carry a wait */
#define CONN_F_PROXIED                                                                             \
	(1u << 18) /* proxyp.c: client: addresses from a PROXY header; upstream: a header sent */
#define CONN_F_XHELD                                                                               \
	(1u << 19) /* the transport holds bytes not in the out queue yet (TLS: plaintext) */
#define CONN_F_RECVCAP (1u << 20) /* the armed recv carries a byte cap (ring.c) */
/* Flags of the protocol's own: each protocol names them in its file. */
#define CONN_F_P0      (1u << 24)
#define CONN_F_P1      (1u << 25)
#define CONN_F_P2      (1u << 26)
#define CONN_F_P3      (1u << 27)

/* A chunk of bytes waiting to be written: [off, len) of <data>. */
struct buf {
	struct buf *next;
	char *data;
	uint32_t off;
	uint32_t len;
	uint32_t used; /* how far the buffer was written: its zeroing prefix */
	uint32_t flags;
};

#define BUF_F_POOL 1u /* <data> is a pool buffer to give back */
#define BUF_F_MORE 2u /* more follows at once: sent with MSG_MORE */
#define BUF_F_OWN  4u /* the descriptor is its owner's memory (bufq_queue_own()) */

struct bufq {
	struct buf *head;
	struct buf *tail;
};

struct pipe_pair;

/* One side of a connection. What runs on it is its protocol, how its bytes
 * meet the socket its transport (ops-t.h); the generic fields below mean
 * the same for every protocol, and <pword>, <pctx> and CONN_F_P0..P3 are
 * the protocol's own (its head comment says what they hold). */
struct conn {
	int fd;
	uint32_t gen;  /* bumped at every reuse of the slot */
	uint32_t peer; /* slot of the other side, CONN_NONE */
	uint32_t flags;
	uint8_t proto;      /* protocol id (ops.h), CONN_P_FREE */
	uint8_t inflight;   /* ring operations not yet completed */
	uint8_t ntried;     /* client: backends tried (upstream.c) */
	uint8_t xprt;       /* transport id (ops.h) */
	uint16_t listener;  /* slot in the worker's listeners: its config snapshot */
	int16_t backend;    /* upstream: backend index in its pool, -1 */
	int16_t pool;       /* upstream: pool index in its listener's snapshot */
	uint32_t pword;     /* the protocol's word (an upstream's: upstream.c's, its connect's
	                     * start in µs until connected) */
	uint32_t rx_bytes;  /* bytes read from this socket, saturating (splice auto) */
	uint32_t out_bytes; /* bytes queued in <out> */
	uint64_t last_ms;   /* last activity, for the idle timer */
	struct bufq out;    /* to write to this socket (the transport's own state, a TLS
	                     * session or a splice pipe, is beside the table: conn_xctx()) */
	union {
		void *pctx;         /* the protocol's context, attached on demand */
		uint32_t idle_next; /* upstream.c: idle-list link (an idle upstream has no
		                     * context) */
	};
	struct timer tm;
	uint32_t wait_next; /* buffer-wait FIFO link */
	int8_t tried[4];    /* client: backends tried (LB_MAX_TRIES) */
};

/* The per-worker table of records (conn.h). */
struct conn_table {
	struct conn *c;
	uint32_t size;
	uint32_t used;
	uint32_t free_head; /* LIFO: recently used slots stay warm in cache */
	uint32_t fresh;     /* slots from here on were never used */
	size_t bytes;       /* charged to ACCT_CONN */
	void **xctx;    /* per slot: its transport's state (conn_xctx()); NULL until first set */
	uint32_t nxctx; /* slots with one set */
	int node;
	struct acct *acct;
};

#endif
