/* The connection seam: transports under protocols. Types only.
 *
 * Every connection record has a transport and a protocol (struct conn's
 * <xprt> and <proto>: ids into the tables of ops.c). The worker hands each
 * ring completion to one of them and knows neither by name:
 *
 *   ring CQE --recv/send--> transport --plaintext--> protocol
 *            --connect, poll------------------------> protocol
 *
 * A transport moves bytes between the socket and the protocol: it arms and
 * stops reads, turns a receive completion into plaintext for the protocol's
 * data() (the protocol owns the pool buffer it is given), queues what the
 * protocol sends and sends it, one send in flight, and shuts the write side.
 * `raw` is plain TCP; TLS is the next one. Splice is a raw-only fast path
 * (can_splice).
 *
 * A protocol is what runs on a connection: l4's byte pump, the static
 * responder, the HTTP client and upstream sides. The listener side of a
 * protocol (prepare, accept, reject, retire) is called by listen.c and
 * wconf.c through the same table.
 */
#ifndef RINGLB_CORE_OPS_T_H
#define RINGLB_CORE_OPS_T_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define OPS_MAX 16 /* protocols (and transports) that can be registered, id 0 unused */

struct worker;
struct wlistener;
struct conn;

struct xprt_ops {
	const char *name;
	bool can_splice; /* the socket's bytes may bypass the transport (splice(2)) */
	/* A client connection was accepted: start the transport (a handshake)
	 * and call the protocol's accept() when bytes can flow. */
	void (*accept)(struct worker *w, struct conn *c);
	/* An upstream's connect completed with <res>: start the transport and
	 * call the protocol's connected() when bytes can flow (or with the
	 * error that ended it: to the protocol, a failed connect). */
	void (*connected)(struct worker *w, struct conn *c, int res);
	/* Reads <c> (idempotent): data() follows for each piece of plaintext. */
	void (*read)(struct worker *w, struct conn *c);
	/* Stops reading <c>: the read in flight ends (its completion follows). */
	void (*stop_read)(struct worker *w, struct conn *c);
	/* A receive completion for <c>. */
	void (*on_recv)(struct worker *w, struct conn *c, int res, uint32_t flags);
	/* Queues <len> bytes of pool buffer <data>, written up to <used> (its
	 * zeroing prefix), to be sent on <c>; the transport owns the buffer
	 * from here, whatever it returns. 0 or -ENOMEM. */
	int (*queue)(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used);
	/* Queues <len> bytes at <data>, memory the caller keeps alive and
	 * unchanged until they are sent (a listener's fixed responses). <more>:
	 * more follows at once (MSG_MORE). 0 or -ENOMEM. */
	int (*queue_ref)(struct worker *w, struct conn *c, const char *data, uint32_t len,
	                 bool more);
	/* Sends what is queued on <c>, if no send is in flight. */
	void (*flush)(struct worker *w, struct conn *c);
	/* A send completion for <c>: drained() follows for the bytes sent. */
	void (*on_sent)(struct worker *w, struct conn *c, int res);
	/* Shuts the write side of <c> (queue empty). 0 or -errno. */
	int (*shut_write)(struct worker *w, struct conn *c);
	/* Writes a short answer on a socket that has no record (accept-time
	 * refusal); returns -ENOTSUP when the transport cannot (TLS). */
	int (*write_now)(int fd, const struct iovec *iov, int n);
	/* <c> is being released: give back what the transport holds. */
	void (*release)(struct worker *w, struct conn *c);
	/* <c> waited in the buffer FIFO (ring_bufwait()) and buffers may be
	 * had again; NULL: the protocol's resume() (a receive that found no
	 * buffer). */
	void (*wake)(struct worker *w, struct conn *c);
};

struct proto_ops {
	const char *name;
	/* Records a client connection of a listener of this protocol takes in
	 * the worker's table: 1, or 2 with its upstream. */
	uint8_t records;
	/* Per worker: state of the protocol's own (w->pstate[id]). Optional. */
	int (*worker_init)(struct worker *w);
	void (*worker_deinit)(struct worker *w);
	/* Optional, every memory_cleanup_interval: give back what the
	 * protocol keeps for reuse (its slabs' empty spans). */
	void (*trim)(struct worker *w);
	/* Listener side (optional but accept). prepare() may set ls->pctx
	 * and say why it failed in w->start_msg. */
	int (*prepare)(struct worker *w, struct wlistener *ls);
	void (*unprepare)(struct worker *w, struct wlistener *ls);
	/* A connection accepted on its listener (c->listener), once its
	 * transport is ready (after a TLS handshake): the protocol sets its
	 * timer and starts reading. */
	void (*accept)(struct worker *w, struct conn *c);
	/* Refused under pressure: answer (or not) and close <fd>. */
	void (*reject)(struct worker *w, struct wlistener *ls, int fd);
	/* <ls> stopped accepting (a reload replaced or removed it). */
	void (*retire)(struct worker *w, struct wlistener *ls);

	/* Connection side. data() owns <buf> (a pool buffer of <len> bytes). */
	void (*data)(struct worker *w, struct conn *c, char *buf, uint32_t len);
	void (*eof)(struct worker *w, struct conn *c); /* read side ended (CONN_F_RD_EOF set) */
	void (*error)(struct worker *w, struct conn *c, int err); /* recv or send failed */
	void (*drained)(struct worker *w, struct conn *c);        /* bytes of c's queue went out */
	void (*connected)(struct worker *w, struct conn *c, int res); /* optional: upstreams */
	void (*polled)(struct worker *w, struct conn *c, uint8_t op, int res); /* optional */
	/* Reading may go on: called when a read ended without error, or a
	 * buffer became free for a connection waiting for one. */
	void (*resume)(struct worker *w, struct conn *c);
	/* Optional: the receive ring had no buffer for <c>. True when the
	 * protocol reads the socket itself, into memory of its own; false (or
	 * no hook) and <c> waits for a pool buffer in the worker's FIFO. */
	bool (*nobufs)(struct worker *w, struct conn *c);
	/* The worker is stopping: close <c> if it is idle. Optional. */
	void (*drain)(struct worker *w, struct conn *c);
	/* Tears down <c> and whatever it is paired with. */
	void (*abort)(struct worker *w, struct conn *c);
	/* Every operation of <c> completed: give back what the protocol holds. */
	void (*release)(struct worker *w, struct conn *c);
};

#endif
