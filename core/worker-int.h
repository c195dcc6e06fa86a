/* Worker internals shared by worker.c, listen.c, l4.c and static.c. */
#ifndef RINGLB_CORE_WORKER_INT_H
#define RINGLB_CORE_WORKER_INT_H

#include "core/snapshot.h"
#include "core/worker.h"

#define L4_SPLICE_AFTER (64u << 10) /* splice: auto switches after this many bytes */

/* Makes room for <n> SQEs, submitting pending ones first if needed, so a
 * linked chain is never split across two submissions (its first request
 * would run unlinked and a lone link timeout fail). */
void worker__sq_reserve(struct worker *w, unsigned n);
/* A free SQE; submits pending ones first when the SQ is full. */
struct io_uring_sqe *worker__sqe(struct worker *w);

/* Picks a backend of pool <pi> of <ls>'s snapshot that client <c> has not
 * tried yet (at most LB_MAX_TRIES), and records it in c->tried. <key> is
 * the maglev hash key. Returns its index, or -1 when none is left. */
int worker__pick(struct worker *w, struct wlistener *ls, int pi, struct conn *c, uint64_t key);
/* Opens a socket to backend <b> of pool <pi>, takes a record of <kind> for
 * it linked to client <c>, counts it active in the balancer and starts the
 * connect (timeouts.connect as a linked timeout: OP_CONNECT completes with
 * 0, an error, or -ECANCELED). Returns the record, or NULL with *err
 * -EAGAIN (no socket: counted connect_fail, another backend may do) or
 * -ENOSPC (table full: counted table_full). */
/* A slot for the client socket <fd> just accepted on <ls>, counted in the
 * listener's connections, its timer set to <fn> (not armed); NULL (fd
 * closed, table_full counted) when the table is full. */
struct conn *worker__client(struct worker *w, struct wlistener *ls, int fd, uint8_t kind,
                            timer_fn fn);
struct conn *worker__upstream(struct worker *w, struct wlistener *ls, int pi, struct conn *c, int b,
                              uint8_t kind, int *err);
/* <x> of a byte pump (L4, or an HTTP tunnel) read EOF: once every byte
 * read from it is written, its peer's write side is shut; when both
 * directions are done the pair closes. */
void worker__fwd_eof(struct worker *w, struct conn *x);
/* Arms the multishot recv of <c> on the worker's provided buffer ring. */
void worker__arm_recv(struct worker *w, struct conn *c);
/* Asks the armed recv of <c> to end (its final completion follows). */
void worker__cancel_recv(struct worker *w, struct conn *c);
/* A one-shot poll for a reset of <x> while it is not read; watched() is its
 * completion: true when the peer reset (the caller closes the pair). */
void worker__watch(struct worker *w, struct conn *x);
bool worker__watched(struct worker *w, struct conn *x, int res);
/* Submits a send of the head of <c>'s out queue if none is in flight. */
void worker__send_next(struct worker *w, struct conn *c);
/* Accounts <res> bytes sent from the head of <c>'s queue, freeing buffers
 * that are done. */
void worker__sent(struct worker *w, struct conn *c, uint32_t res);
/* Starts the teardown of <c>: cancels its operations and closes its
 * socket; the slot is released once every operation has completed. */
void worker__close(struct worker *w, struct conn *c);

/* Takes the filled buffer <bid> from the provided ring (refilling the slot
 * from the pool) and returns it; the caller owns it (pool_put). */
char *worker__take_buffer(struct worker *w, unsigned bid);
/* Queues <len> bytes of pool buffer <data> on <c>'s out queue. Returns 0
 * or -ENOMEM (no descriptor: the buffer was given back). */
int worker__queue(struct worker *w, struct conn *c, char *data, uint32_t len);
/* The same for a buffer written up to <used> (its zeroing prefix) of
 * which the first <len> bytes are to be sent. */
int worker__queue_used(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used);
/* Frees every queued buffer of <c>. */
void worker__drop_out(struct worker *w, struct conn *c);
/* Puts <c> in the FIFO of connections waiting for a provided buffer. */
void worker__bufwait(struct worker *w, struct conn *c);

static inline uint32_t worker__slot(struct worker *w, struct conn *c)
{
	return conn_slot(&w->ct, c);
}

static inline uint64_t worker__ud(struct worker *w, struct conn *c, uint8_t op)
{
	return conn_ud(op, c->gen, conn_slot(&w->ct, c));
}

static inline struct wlistener *worker__listener(struct worker *w, const struct conn *c)
{
	return w->ls[c->listener];
}

static inline struct conn *worker__peer(struct worker *w, struct conn *c)
{
	return c->peer == CONN_NONE ? NULL : &w->ct.c[c->peer];
}

/* Tears down <c> and, for a proxied connection, its peer. */
void worker__abort(struct worker *w, struct conn *c);

/* wconf.c: config generations */
int wconf_start(struct worker *w, struct config *cfg, unsigned nworkers);
void wconf_switch(struct worker *w, struct config *cfg);
void wconf_stop(struct worker *w);
void wconf_gen_put(struct worker *w, struct wgen *g);
/* Frees a retired listener once nothing refers to it any more. */
void wconf_ls_done(struct worker *w, struct wlistener *ls);

/* listen.c */
int listen_open(struct worker *w, struct wlistener *ls);
/* Prepares <ls> around a socket taken over from an older generation. */
int listen_adopt(struct worker *w, struct wlistener *ls);
/* Ends the multishot accept of <ls> (its final completion follows). */
void listen_cancel(struct worker *w, struct wlistener *ls);
void listen_arm(struct worker *w, struct wlistener *ls);
void listen_on_accept(struct worker *w, struct wlistener *ls, int res, uint32_t flags);
void listen_conn_closed(struct worker *w, struct wlistener *ls);
void listen_stop(struct worker *w, struct wlistener *ls);
void listen_set_sockopts(struct worker *w, int fd);

/* l4.c: tcp listeners */
void l4_accept(struct worker *w, struct wlistener *ls, int fd);
void l4_dispatch(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags);
void l4_release(struct worker *w, struct conn *c);
void l4_resume(struct worker *w, struct conn *c);
void l4_close_pair(struct worker *w, struct conn *c);

/* http.c: http listeners */
void http_accept(struct worker *w, struct wlistener *ls, int fd);
void http_reject(struct worker *w, struct wlistener *ls, int fd);
void http_dispatch(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags);
void http_resume(struct worker *w, struct conn *c);
void http_release(struct worker *w, struct conn *c);
void http_drain(struct worker *w, struct conn *c);
void http_retire(struct worker *w, struct wlistener *ls);
void http_close_pair(struct worker *w, struct conn *c);

static inline bool conn_is_http(const struct conn *c)
{
	return c->kind == CONN_K_HCLIENT || c->kind == CONN_K_HUP;
}

/* static.c: static listeners */
int static_prepare(struct worker *w, struct wlistener *ls);
void static_unprepare(struct wlistener *ls);
void static_accept(struct worker *w, struct wlistener *ls, int fd);
void static_dispatch(struct worker *w, struct conn *c, uint8_t op, int res, uint32_t flags);
void static_release(struct worker *w, struct conn *c);
void static_drain(struct worker *w, struct conn *c);

#endif
