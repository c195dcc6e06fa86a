/* The TLS transport's internals, shared by its two files:
 *
 *	tls.c      the handshake (client and upstream side), reading, the
 *	           ops table, release
 *	tls_out.c  writing (records sealed into reserved buffers, plaintext
 *	           held while the pool refuses them, close_notify), and the
 *	           bookkeeping both share
 *
 * tls.c calls tls_out.c, never the other way.
 */
#ifndef RINGLB_CORE_XPRT_TLS_INT_H
#define RINGLB_CORE_XPRT_TLS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/loop/conn.h"
#include "core/loop/worker-t.h"

struct tls_conn;

/* A connection's TLS state (conn_xctx()). */
struct txc {
	struct tls_conn *t;
	/* Plaintext not made into records yet: an upstream's before its
	 * handshake ends, and any connection's while the buffers for its
	 * records cannot be reserved (CONN_F_XHELD while there is some). */
	struct bufq pend;
	uint32_t pend_bytes; /* its bytes (still counted in the record's out_bytes) */
	uint64_t charged;    /* of ACCT_SSL: what tls/ allocated for <t> */
	bool over;           /* a charge was refused: the connection ends */
	bool open;           /* the handshake is done: the protocol runs */
	bool shut;           /* close_notify sent: shut the write side once it is out */
	bool notified;       /* close_notify queued */
	bool stalled;        /* no plaintext buffer: what is held is read before any receive */
	bool held_eof;       /* the peer's end of stream came behind the held bytes */
	bool draining;       /* drain() runs: a read the protocol asks for meanwhile is its */
	bool rwait;          /* in the buffer FIFO to read: the protocol resumes on wake */
	bool notify_wanted;  /* close_notify goes out once what is pending is sealed */
	struct bufq held;    /* stalled: received ciphertext not decrypted yet, in order */
};

static inline struct txc *txc_of(const struct worker *w, const struct conn *c)
{
	return conn_xctx(&w->ct, c);
}

/* The worker a session's records are queued by (tls_conn_*() calls back
 * into tls__tx_out() on the thread that called it), and while a write is
 * sealed the buffers reserved for its records. */
extern __thread struct worker *tls__cur_w;
extern __thread struct bufq *tls__cur_rsv;

/* The session's send callback: <len> bytes of records onto <arg>'s queue. */
int tls__tx_out(void *arg, const char *data, size_t len);
/* Charges to (releases from) ssl what tls/ allocated (freed) on this thread
 * since <before> (tls_mem_thread()); a refused charge sets <over>. */
void tls__settle(struct worker *w, struct conn *c, int64_t before);
/* Counts <c>'s failure by its session's reason, logged (rate-limited). */
void tls__count_failure(struct worker *w, struct conn *c, bool in_handshake);

/* Seals what <c> holds: 1 all of it, 0 a reservation was refused (the rest
 * stays held), -ENOMEM the session failed. */
int tls__pend_seal(struct worker *w, struct conn *c);
/* Sealing failed: the connection fails, counted. */
void tls__seal_failed(struct worker *w, struct conn *c);

/* The writing side's transport ops (xprt_ops, ops-t.h). */
int tls__queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used);
int tls__queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len, bool more);
void tls__flush(struct worker *w, struct conn *c);
void tls__on_sent(struct worker *w, struct conn *c, int res);
int tls__shut_write(struct worker *w, struct conn *c);
int tls__write_now(int fd, const struct iovec *iov, int n);
void tls__wake(struct worker *w, struct conn *c);

#endif
