/* The raw transport: a connection's bytes as they are on its TCP socket.
 *
 * Reads are the worker's multishot recv on the provided buffer ring: each
 * completion's buffer goes to the protocol as it is (no copy). Sends take
 * the head of the out queue, one send in flight to keep the byte order.
 * The socket may be spliced (can_splice): the pump then moves its bytes
 * itself, around the queue.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop/bufq.h"
#include "core/loop/ops.h"
#include "core/xprt/raw.h"
#include "core/loop/ring.h"

static void raw_accept(struct worker *w, struct conn *c)
{
	proto_of(c)->accept(w, c); /* nothing to set up */
}

static void raw_connected(struct worker *w, struct conn *c, int res)
{
	proto_of(c)->connected(w, c, res);
}

static void raw_read(struct worker *w, struct conn *c)
{
	ring_recv(w, c);
}

static void raw_stop_read(struct worker *w, struct conn *c)
{
	ring_cancel_recv(w, c);
}

static void raw_on_recv(struct worker *w, struct conn *c, int res, uint32_t flags)
{
	const struct proto_ops *p = proto_of(c);
	bool more = flags & IORING_CQE_F_MORE;

	if (!more)
		c->flags &= ~(CONN_F_RECV | CONN_F_CANCELING);
	if (res > 0) {
		char *buf = ring_take_buffer(w, flags >> IORING_CQE_BUFFER_SHIFT);

		WSTAT_ADD(w, bytes_in, res);
		c->rx_bytes = c->rx_bytes > UINT32_MAX - res ? UINT32_MAX : c->rx_bytes + res;
		p->data(w, c, buf, (uint32_t)res);
		if (!more && !(c->flags & CONN_F_CLOSING))
			p->resume(w, c);
		return;
	}
	if (res == 0) {
		c->flags |= CONN_F_RD_EOF;
		p->eof(w, c);
	} else if (res == -ENOBUFS) {
		/* The ring ran dry: wait for a buffer, and watch for a reset
		 * meanwhile (nothing reads the socket), unless the protocol
		 * reads without one. */
		if (p->nobufs && p->nobufs(w, c))
			return;
		ring_bufwait(w, c);
		ring_watch(w, c);
	} else if (res == -ECANCELED) {
		p->resume(w, c); /* we stopped it: read again unless held back */
	} else {
		p->error(w, c, res);
	}
}

static int raw_queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used)
{
	return bufq_queue(w, c, data, len, used);
}

static int raw_queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len,
                         bool more)
{
	return bufq_queue_ref(w, c, data, len, more ? BUF_F_MORE : 0);
}

static void raw_flush(struct worker *w, struct conn *c)
{
	ring_send(w, c);
}

static void raw_on_sent(struct worker *w, struct conn *c, int res)
{
	c->flags &= ~CONN_F_SEND;
	if (res < 0) {
		proto_of(c)->error(w, c, res);
		return;
	}
	bufq_sent(w, c, (uint32_t)res);
	raw_flush(w, c);
	proto_of(c)->drained(w, c);
	if ((c->flags & CONN_F_CLOSE_AFTER) && !ring_sending(c))
		ring_close(w, c);
}

static int raw_shut_write(struct worker *w, struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -errno;
	return 0;
}

static int raw_write_now(int fd, const struct iovec *iov, int n)
{
	return writev(fd, iov, n) < 0 ? -errno : 0;
}

static void raw_release(struct worker *w, struct conn *c)
{
}

const struct xprt_ops raw_xprt = {
    .name = "raw",
    .can_splice = true,
    .accept = raw_accept,
    .connected = raw_connected,
    .read = raw_read,
    .stop_read = raw_stop_read,
    .on_recv = raw_on_recv,
    .queue = raw_queue,
    .queue_ref = raw_queue_ref,
    .flush = raw_flush,
    .on_sent = raw_on_sent,
    .shut_write = raw_shut_write,
    .write_now = raw_write_now,
    .release = raw_release,
};
