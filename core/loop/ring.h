/* A worker's ring: submission helpers, the provided buffer ring and the
 * ring operations on a connection's socket (multishot recv, cancel, the
 * reset watch, close). Only the worker that owns the ring calls these.
 */
#ifndef RINGLB_CORE_RING_H
#define RINGLB_CORE_RING_H

#include "core/loop/conn.h"
#include "core/loop/worker-t.h"

#define RING_BGID 0 /* the worker's provided buffer group */

/* Submits what is queued; counts a failure (submit_errors). Returns what
 * io_uring_submit() does (an injected fault: -EAGAIN, nothing sent). */
int ring_submit(struct worker *w);
/* Makes room for <n> SQEs, submitting pending ones first if needed, so a
 * linked chain is never split across two submissions (its first request
 * would run unlinked and a lone link timeout fail). */
void ring_reserve(struct worker *w, unsigned n);
/* A free SQE; submits pending ones first when the SQ is full. */
struct io_uring_sqe *ring_sqe(struct worker *w);

/* Registers the provided buffer ring, filled from the worker's pool.
 * Returns 0 or -errno with the reason in w->start_msg. */
int ring_buffers_init(struct worker *w);
void ring_buffers_deinit(struct worker *w);
/* Takes the filled buffer <bid> from the provided ring (refilling the slot
 * from the pool) and returns it; the caller owns it (pool_put). */
char *ring_take_buffer(struct worker *w, unsigned bid);
/* Refills ring slots the pool refused earlier and resumes (protocol
 * resume()) as many waiting connections as there are buffers (all of them
 * when no slot was empty), each at most once; then makes the added buffers
 * visible to the kernel. Once per loop turn. */
void ring_refill(struct worker *w);
/* Puts <c> in the FIFO of connections waiting for a provided buffer (or,
 * TLS, a plaintext one); counted in buffer_waits unless it is there. */
void ring_bufwait(struct worker *w, struct conn *c);
/* Takes <c> out of that FIFO (it is being released). */
void ring_bufwait_drop(struct worker *w, struct conn *c);

/* Arms the multishot recv of <c> on the provided buffer ring; it ends by
 * itself once it has read what <c>'s peer has room for (ring.c). */
void ring_recv(struct worker *w, struct conn *c);
/* Sends the head of <c>'s out queue, if no send is in flight (one at a
 * time keeps the byte order). */
void ring_send(struct worker *w, struct conn *c);
/* Asks the armed recv of <c> to end (its final completion follows). */
void ring_cancel_recv(struct worker *w, struct conn *c);

/* Whether the completion (<res>, <flags>) of <c>'s recv is the kernel
 * refusing its byte cap (Linux before 6.17): then the worker's receives
 * go on without one (counted in recv_uncapped, logged once) and <c> is
 * armed again; the completion is not the connection's. */
bool ring_recv_refused(struct worker *w, struct conn *c, int res, uint32_t flags);
/* A one-shot poll for a reset of <x> while it is not read; watched() is its
 * completion: true when the peer reset (the caller tears the pair down). */
void ring_watch(struct worker *w, struct conn *x);
bool ring_watched(struct worker *w, struct conn *x, int res);
/* Starts the teardown of <c>: cancels its operations and closes its
 * socket; the slot is released once every operation has completed. */
void ring_close(struct worker *w, struct conn *c);

/* Closes <c> once everything queued on it is sent (the transport closes it
 * after its last send completes), or now when nothing is. */
void ring_close_after(struct worker *w, struct conn *c);

/* TCP_NODELAY and the configured socket buffer sizes on <fd> (a listen
 * socket passes them to what it accepts). */
void ring_sockopts(struct worker *w, int fd);

/* Whether bytes queued on <c> are still to go out. */
static inline bool ring_sending(const struct conn *c)
{
	return c->out.head || (c->flags & (CONN_F_SEND | CONN_F_XHELD));
}

static inline uint32_t ring_slot(struct worker *w, const struct conn *c)
{
	return conn_slot(&w->ct, c);
}

/* The user_data of operation <op> on <c>. */
static inline uint64_t ring_ud(struct worker *w, const struct conn *c, uint8_t op)
{
	return conn_ud(op, c->gen, conn_slot(&w->ct, c));
}

static inline struct conn *ring_peer(struct worker *w, const struct conn *c)
{
	return conn_peer(&w->ct, c);
}

static inline struct wlistener *ring_listener(struct worker *w, const struct conn *c)
{
	return w->ls[c->listener];
}

#endif
