/* Unit tests for the protocols through the transport seam: the static
 * responder (core/proto/static.c), the HTTP proxy (core/http/) and the L4
 * pump (core/proto/l4.c, pump.c), each driven by a fake transport, with no
 * byte ever moving on a socket.
 *
 * The worker is what worker_setup() builds, minus the provided buffer ring
 * and the listen sockets: a real io_uring (ring_close(), the upstream
 * connect and the reset watch submit to it), the connection table, a timer
 * wheel that is never advanced, pool, cache and accountant, a config
 * snapshot (fx_yaml), its generation, and listener records prepared as
 * listen.c prepares them (their fd stays -1, so nothing ever arms an
 * accept). worker.c and listen.c are included for that: fx_loop()
 * dispatches the ring's completions with worker.c's own dispatch() and
 * conn_release(); static.c for STATIC_HEAD_MAX. The teardown closes what is
 * left, then checks that every record was released, every pool buffer
 * given back and the accountant is at 0.
 *
 * The fake transport (fake_xprt, the default transport) keeps what raw.c
 * keeps: queues are the real out queues (bufq.c), one send at a time
 * (CONN_F_SEND), CONN_F_CLOSE_AFTER closes once the queue is empty. What
 * goes to the ring in raw.c stays here: a read is a flag (never
 * CONN_F_RECV, which says a recv is counted in <inflight>), stop_read()
 * asks for the read's end, which fx_loop() delivers as raw_on_recv() does
 * a cancelled recv (resume()); a send is completed by fx_loop() (the whole
 * head buffer, or fx_chunk bytes) unless fx_hold says the test completes
 * them itself with fx_send(). Every byte sent is appended to the record's
 * wire (struct fake, by slot, reset when the slot is reused).
 *
 * Input comes as the ring would bring it, one completion at a time and from
 * the top of the loop, never from inside a protocol's call: fx_data() hands
 * a pool buffer to data(), fx_eof() sets CONN_F_RD_EOF and calls eof(),
 * fx_error() calls error(); fx_feed() and the others then run fx_loop().
 *
 * Sockets: a client record's fd is the accepted end of a loopback TCP pair
 * (getpeername() gives 127.0.0.1, for X-Forwarded-For), its other end kept
 * open until the teardown. Upstreams come from upstream_open() and connect
 * for real to a loopback socket that listens and never accepts: the kernel
 * completes the handshake into its backlog, fx_loop() delivers the connect
 * to the protocol's connected(). The pool "flaky" has first a port that
 * refuses connections (bound, not listening), then that one.
 *
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop/worker.c"
#include "core/loop/listen.c"
#include "core/proto/static.c"

#include "config/config.h"
#include "core/http/http-int.h"
#include "core/http/http.h"
#include "core/lb/snapshot.h"
#include "core/proto/l4.h"
#include "core/proto/static.h"
#include "test/unit/ck.h"

#define FX_SLOTS  256    /* records the fixture's table may hold */
#define FX_PEERS  512    /* client sockets a test may open */
#define FX_MAXBUF 16384u /* fx_yaml's memory_tuning.max_buffer_size */

/* The fixture's config: a listener per protocol and one more for tcp, the
 * pool "app" on the never-accepting socket (the first and last %d: its
 * port), "flaky" on the refusing port (the second %d) then on it. */
static const char fx_yaml[] = "listeners:\n"
			      "  - name: st\n"
			      "    bind: 127.0.0.1:18001\n"
			      "    mode: static\n"
			      "    body: \"hello from st\\n\"\n"
			      "    max_connections: 16\n"
			      "  - name: web\n"
			      "    bind: 127.0.0.1:18002\n"
			      "    mode: http\n"
			      "    pool: app\n"
			      "    routes:\n"
			      "      - { host: flaky, pool: flaky }\n"
			      "    max_connections: 16\n"
			      "  - name: tcp\n"
			      "    bind: 127.0.0.1:18003\n"
			      "    mode: tcp\n"
			      "    pool: app\n"
			      "    splice: never\n"
			      "    max_connections: 16\n"
			      "  - name: tcp-flaky\n"
			      "    bind: 127.0.0.1:18004\n"
			      "    mode: tcp\n"
			      "    pool: flaky\n"
			      "    splice: never\n"
			      "    max_connections: 16\n"
			      "pools:\n"
			      "  - name: app\n"
			      "    backends:\n"
			      "      - { address: 127.0.0.1:%d }\n"
			      "  - name: flaky\n"
			      "    backends:\n"
			      "      - { address: 127.0.0.1:%d }\n"
			      "      - { address: 127.0.0.1:%d }\n"
			      "buffer_pools:\n"
			      "  small_buffers: { initial_count: 16, max_count: 512 }\n"
			      "  medium_buffers: { initial_count: 8, max_count: 256 }\n"
			      "  large_buffers: { initial_count: 1, max_count: 16 }\n"
			      "  giant_buffers: { initial_count: 1, max_count: 4 }\n"
			      "memory_tuning:\n"
			      "  max_buffer_size: 16KB\n";

/* ---- the fake transport ---- */

/* What the fake transport knows of one record. */
struct fake {
	uint32_t gen;      /* the record's generation: the entry is reset on reuse */
	bool reading;      /* a read is armed */
	bool canceling;    /* stop_read() asked for its end: fx_loop() delivers it */
	unsigned reads;    /* reads armed */
	unsigned stops;    /* stop_read() calls that asked an armed read to end */
	unsigned shuts;    /* shut_write() calls */
	unsigned sends;    /* send completions */
	unsigned releases; /* release() calls */
	int shut_err;      /* what shut_write() answers */
	char *wire;        /* every byte sent, in order, NUL-terminated */
	size_t len, cap;
};

static struct worker wk;
static int fake_id;
static struct fake fakes[FX_SLOTS];
static uint32_t fx_chunk; /* a send takes at most this many bytes; 0: its whole buffer */
static bool fx_hold;      /* sends wait for fx_send() */
static char *now_wire;    /* what write_now() wrote */
static size_t now_len, now_cap;

static struct fake *fake_of(const struct conn *c)
{
	uint32_t slot = ring_slot(&wk, c);
	struct fake *f;

	ck_assert_uint_lt(slot, FX_SLOTS);
	f = &fakes[slot];
	if (f->gen != c->gen) {
		free(f->wire);
		memset(f, 0, sizeof(*f));
		f->gen = c->gen;
	}
	return f;
}

static void bytes_add(char **s, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*s = realloc(*s, *cap);
		ck_assert_ptr_nonnull(*s);
	}
	memcpy(*s + *len, p, n);
	*len += n;
	(*s)[*len] = '\0';
}

static void fake_read(struct worker *w, struct conn *c)
{
	struct fake *f = fake_of(c);

	if (f->reading || (c->flags & (CONN_F_CLOSING | CONN_F_RD_EOF)))
		return;
	f->reading = true;
	f->reads++;
}

static void fake_stop_read(struct worker *w, struct conn *c)
{
	struct fake *f = fake_of(c);

	if (!f->reading || f->canceling)
		return;
	f->canceling = true;
	f->stops++;
}

static void fake_on_recv(struct worker *w, struct conn *c, int res, uint32_t flags)
{
	ck_abort_msg("the fake transport submits no recv");
}

static int fake_queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used)
{
	return bufq_queue(w, c, data, len, used);
}

static int fake_queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len,
                          bool more)
{
	return bufq_queue_ref(w, c, data, len, more ? BUF_F_MORE : 0);
}

/* raw_flush(), with the send left for fx_loop() or fx_send(). */
static void fake_flush(struct worker *w, struct conn *c)
{
	if (!c->out.head || (c->flags & (CONN_F_SEND | CONN_F_CLOSING)))
		return;
	c->flags |= CONN_F_SEND;
}

/* raw_on_sent(), word for word but for the flush. */
static void fake_on_sent(struct worker *w, struct conn *c, int res)
{
	c->flags &= ~CONN_F_SEND;
	if (res < 0) {
		proto_of(c)->error(w, c, res);
		return;
	}
	bufq_sent(w, c, (uint32_t)res);
	fake_flush(w, c);
	proto_of(c)->drained(w, c);
	if ((c->flags & CONN_F_CLOSE_AFTER) && !c->out.head && !(c->flags & CONN_F_SEND))
		ring_close(w, c);
}

static int fake_shut_write(struct worker *w, struct conn *c)
{
	struct fake *f = fake_of(c);

	f->shuts++;
	return f->shut_err;
}

static void fake_accept(struct worker *w, struct conn *c)
{
	proto_of(c)->accept(w, c);
}

static int fake_write_now(int fd, const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		bytes_add(&now_wire, &now_len, &now_cap, iov[i].iov_base, iov[i].iov_len);
	return 0;
}

static void fake_release(struct worker *w, struct conn *c)
{
	fake_of(c)->releases++;
}

/* As raw.c: nothing between the connect and the protocol. */
static void fake_connected(struct worker *w, struct conn *c, int res)
{
	proto_of(c)->connected(w, c, res);
}

static const struct xprt_ops fake_xprt = {
    .name = "fake",
    .can_splice = false,
    .read = fake_read,
    .stop_read = fake_stop_read,
    .on_recv = fake_on_recv,
    .queue = fake_queue,
    .queue_ref = fake_queue_ref,
    .flush = fake_flush,
    .on_sent = fake_on_sent,
    .shut_write = fake_shut_write,
    .write_now = fake_write_now,
    .accept = fake_accept,
    .connected = fake_connected,
    .release = fake_release,
};

/* ---- the worker ---- */

static struct config *cfg;
static struct pool *pool;
static struct acct *fx_acct;
static int backend_lfd = -1, client_lfd = -1, dead_fd = -1;
static int peers[FX_PEERS];
static unsigned npeers;
static struct wlistener *ls_static, *ls_http, *ls_tcp, *ls_flaky;

/* A loopback socket bound to a port of the kernel's choice, listening
 * when <backlog> > 0 (else a connect to it is refused). */
static int fx_socket(int *port, int backlog)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (backlog > 0)
		ck_assert_int_eq(listen(fd, backlog), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (port)
		*port = ntohs(sa.sin_port);
	return fd;
}

static struct config *fx_config(int port, int dead)
{
	struct cfg_errors errs;
	struct config *c;
	char yaml[sizeof(fx_yaml) + 32];

	snprintf(yaml, sizeof(yaml), fx_yaml, port, dead, port);
	config_errors_init(&errs);
	c = config_load_string("t.yaml", yaml, &errs);
	ck_assert_msg(c && config_validate(c, &errs) == 0, "%s",
	              errs.n ? errs.lines[0] : "config_load_string");
	config_errors_deinit(&errs);
	ck_assert_int_eq(snapshot_build(c), 0);
	return c;
}

static struct wlistener *fx_listener(const char *name)
{
	for (unsigned i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_listener *l = &cfg->listeners[i];
		struct wlistener *ls;

		if (strcmp(l->name, name))
			continue;
		ls = listen_new(&wk, wk.gen, l, 1);
		ck_assert_ptr_nonnull(ls);
		ck_assert_int_eq(listen_prepare(&wk, ls), 0);
		return ls;
	}
	ck_abort_msg("no listener %s", name);
	return NULL;
}

static void setup(void)
{
	int port, dead;

	backend_lfd = fx_socket(&port, 1024);
	client_lfd = fx_socket(NULL, 64);
	dead_fd = fx_socket(&dead, 0);
	cfg = fx_config(port, dead);
	ops_reset();
	fake_id = ops_xprt_add(&fake_xprt);
	ck_assert_int_gt(fake_id, 0);
	ops_default_xprt_set(fake_id);
	ck_assert_int_eq(static_register(), 0);
	ck_assert_int_eq(http_register(), 0);
	ck_assert_int_eq(l4_register(), 0);

	fx_acct = acct_new(&cfg->memory_limits, &cfg->memory_tuning);
	ck_assert_ptr_nonnull(fx_acct);
	pool = pool_new(-1, cfg->buffer_pools, fx_acct);
	ck_assert_ptr_nonnull(pool);
	memset(&wk, 0, sizeof(wk));
	wk.cpu = -1;
	wk.real_node = -1;
	wk.rng = 1;
	wk.cfg = cfg;
	wk.acct = fx_acct;
	wk.pool = pool;
	ck_assert_int_eq(ring_init(&wk), 0);
	wk.tick_due = UINT64_MAX;
	wk.now = clock_ms();
	wk.tw = timer_wheel_new(wk.now);
	wk.pc = pool_cache_new(pool);
	ck_assert(wk.tw && wk.pc);
	timer_init(&wk.cleanup_tm, worker_cleanup); /* never armed: the wheel never turns */
	ck_assert_uint_le(table_size(&wk, 1), FX_SLOTS);
	ck_assert_int_eq(conn_table_init(&wk.ct, table_size(&wk, 1), wk.real_node, fx_acct), 0);
	wk.wait_head = wk.wait_tail = CONN_NONE;
	ck_assert_int_eq(protos_init(&wk), 0);
	wk.gen = gen_new(&wk, cfg);
	ck_assert_ptr_nonnull(wk.gen);
	ls_static = fx_listener("st");
	ls_http = fx_listener("web");
	ls_tcp = fx_listener("tcp");
	ls_flaky = fx_listener("tcp-flaky");
	fx_chunk = 0;
	fx_hold = false;
}

/* ---- the loop ---- */

/* A record whose every operation completed after its close: released, as
 * dispatch() does after a completion. */
static void fx_settle(struct conn *c)
{
	if (c->proto != CONN_P_FREE && (c->flags & CONN_F_CLOSING) && !c->inflight)
		conn_release(&wk, c);
}

/* Completes the send in flight on <c>: the head buffer, at most <max>
 * bytes of it (0: all of it). */
static void fake_complete(struct conn *c, uint32_t max)
{
	struct fake *f = fake_of(c);
	struct buf *b = c->out.head;
	uint32_t n;

	ck_assert(c->flags & CONN_F_SEND);
	ck_assert_ptr_nonnull(b);
	n = b->len - b->off;
	if (max && n > max)
		n = max;
	bytes_add(&f->wire, &f->len, &f->cap, b->data + b->off, n);
	f->sends++;
	c->last_ms = wk.now;
	fake_on_sent(&wk, c, (int)n);
}

/* One turn of the fake transport: reads that were asked to stop end, and
 * one send completes on each record that has one in flight. */
static bool fx_transport_turn(void)
{
	bool moved = false;

	for (uint32_t i = 0; i < wk.ct.fresh; i++) {
		struct conn *c = &wk.ct.c[i];
		struct fake *f;

		if (c->proto == CONN_P_FREE || c->xprt != fake_id)
			continue;
		f = fake_of(c);
		if (f->canceling) {
			f->canceling = f->reading = false;
			if (!(c->flags & CONN_F_CLOSING))
				proto_of(c)->resume(&wk, c);
			moved = true;
		}
		if (c->proto != CONN_P_FREE && !(c->flags & CONN_F_CLOSING) &&
		    (c->flags & CONN_F_SEND) && !fx_hold) {
			fake_complete(c, fx_chunk);
			moved = true;
		}
		fx_settle(c);
	}
	return moved;
}

/* Ring operations in flight that complete on their own: all but the reset
 * watch of a record that is not closing (it waits for its peer). */
static unsigned fx_due(void)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < wk.ct.fresh; i++) {
		const struct conn *c = &wk.ct.c[i];

		if (c->proto == CONN_P_FREE)
			continue;
		n += c->inflight;
		if ((c->flags & CONN_F_WATCH) && !(c->flags & CONN_F_CLOSING))
			n--;
	}
	return n;
}

/* Submits what the protocols prepared and dispatches the completions there
 * are, waiting up to 10 ms for one when <wait>. */
static unsigned fx_ring_turn(bool wait)
{
	struct __kernel_timespec ts = {.tv_nsec = 10 * 1000000};
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	if (wait)
		io_uring_submit_and_wait_timeout(&wk.ring, &cqe, 1, &ts, NULL);
	else
		io_uring_submit_and_get_events(&wk.ring);
	while (io_uring_peek_cqe(&wk.ring, &cqe) == 0) {
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		uint32_t fl = cqe->flags;

		io_uring_cqe_seen(&wk.ring, cqe);
		dispatch(&wk, ud, res, fl);
		n++;
	}
	return n;
}

/* Runs the loop until nothing moves: sends complete (unless fx_hold), the
 * ring's operations complete, records are released. */
static void fx_loop(void)
{
	uint64_t deadline = clock_ms() + 5000;

	for (;;) {
		bool moved = fx_transport_turn();
		unsigned got = fx_ring_turn(!moved && fx_due());

		if (!moved && !got && !fx_due())
			return;
		ck_assert_msg(clock_ms() < deadline, "the ring did not settle: %u due", fx_due());
	}
}

/* ---- input, as the ring brings it ---- */

/* A receive completion of <len> bytes on <c> (not running the loop). */
static void fx_data(struct conn *c, const void *data, size_t len)
{
	int cls = pool_class_of(len);
	char *buf;

	ck_assert_int_ge(cls, 0);
	ck_assert_msg(fake_of(c)->reading, "bytes for a record that is not read");
	buf = pool_get(wk.pc, cls);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, data, len);
	if (c->flags & CONN_F_CLOSING) { /* dispatch() drops it */
		pool_put(wk.pc, buf, len);
		return;
	}
	c->last_ms = wk.now;
	WSTAT_ADD(&wk, bytes_in, len);
	c->rx_bytes += (uint32_t)len;
	proto_of(c)->data(&wk, c, buf, (uint32_t)len);
	fx_settle(c);
}

static void fx_feed(struct conn *c, const void *data, size_t len)
{
	fx_data(c, data, len);
	fx_loop();
}

static void fx_feeds(struct conn *c, const char *s)
{
	fx_feed(c, s, strlen(s));
}

/* The read side of <c> ended: a recv of 0 bytes. */
static void fx_eof(struct conn *c)
{
	struct fake *f = fake_of(c);

	ck_assert_msg(f->reading, "EOF for a record that is not read");
	f->reading = f->canceling = false;
	if (!(c->flags & CONN_F_CLOSING)) {
		c->flags |= CONN_F_RD_EOF;
		proto_of(c)->eof(&wk, c);
	}
	fx_settle(c);
	fx_loop();
}

/* A recv of <c> failed with <err>. */
static void fx_error(struct conn *c, int err)
{
	struct fake *f = fake_of(c);

	ck_assert_msg(f->reading, "a recv error for a record that is not read");
	f->reading = f->canceling = false;
	if (!(c->flags & CONN_F_CLOSING))
		proto_of(c)->error(&wk, c, err);
	fx_settle(c);
	fx_loop();
}

/* Completes <n> bytes of the send in flight on <c> (fx_hold). */
static void fx_send(struct conn *c, uint32_t n)
{
	fake_complete(c, n);
	fx_settle(c);
	fx_loop();
}

/* The accepted end of a new loopback connection; its client end is kept
 * open until the teardown. */
static int fx_client_fd(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), afd;

	ck_assert_int_ge(cfd, 0);
	ck_assert_uint_lt(npeers, FX_PEERS);
	ck_assert_int_eq(getsockname(client_lfd, (struct sockaddr *)&sa, &len), 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sa, len), 0);
	afd = accept4(client_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ck_assert_int_ge(afd, 0);
	peers[npeers++] = cfd;
	return afd;
}

/* A connection accepted on <ls>, as listen_on_accept() hands it to the
 * protocol (not running the loop). */
static struct conn *fx_accept(struct wlistener *ls)
{
	int fd = fx_client_fd();
	struct conn *c;

	ls->active++;
	WSTAT_INC(&wk, accepted);
	WSTAT_INC(&wk, active);
	c = listen_conn(&wk, ls, fd);
	ck_assert_ptr_nonnull(c);
	ops_xprt[c->xprt]->accept(&wk, c);
	return c;
}

static bool fx_live(const struct conn *c)
{
	return c->proto != CONN_P_FREE;
}

static struct conn *fx_peer(const struct conn *c)
{
	return conn_peer(&wk.ct, c);
}

/* Everything still open closes; the loop then releases it. */
static void fx_close_all(void)
{
	fx_hold = false;
	for (uint32_t i = 0; i < wk.ct.fresh; i++)
		if (fx_live(&wk.ct.c[i]))
			ring_close(&wk, &wk.ct.c[i]);
	fx_loop();
}

static void teardown(void)
{
	struct acct_stats st;
	struct pool_stats ps;

	fx_close_all();
	ck_assert_uint_eq(wk.ct.used, 0);
	ck_assert_uint_eq(WSTAT_GET(&wk, stale_cqes), 0);
	ck_assert_uint_eq(WSTAT_GET(&wk, active), 0);
	worker_teardown(&wk);
	pool_stats(pool, &ps);
	for (unsigned i = 0; i < BUF_NCLASS; i++)
		ck_assert_msg(ps.cls[i].in_use == 0, "class %u: %llu buffers not given back", i,
		              (unsigned long long)ps.cls[i].in_use);
	pool_free(pool);
	acct_snapshot(fx_acct, &st);
	for (unsigned i = 0; i < ACCT_NCOMP; i++)
		ck_assert_uint_eq(st.comp[i].current, 0);
	ck_assert_uint_eq(st.total.current, 0);
	for (unsigned i = 0; i < ACCT_MAX_NODES; i++)
		ck_assert_uint_eq(st.node_current[i], 0);
	ck_assert(acct_idle(fx_acct));
	acct_free(fx_acct);
	config_unref(cfg);
	for (unsigned i = 0; i < npeers; i++)
		close(peers[i]);
	npeers = 0;
	close(backend_lfd);
	close(client_lfd);
	close(dead_fd);
	for (unsigned i = 0; i < FX_SLOTS; i++)
		free(fakes[i].wire);
	memset(fakes, 0, sizeof(fakes));
	free(now_wire);
	now_wire = NULL;
	now_len = now_cap = 0;
	ops_reset();
}

/* ---- assertions ---- */

static const char *wire(const struct conn *c)
{
	struct fake *f = fake_of(c);

	return f->wire ? f->wire : "";
}

#define ck_wire_eq(c, want)                                                                        \
	do {                                                                                       \
		ck_assert_uint_eq(fake_of(c)->len, sizeof(want) - 1);                              \
		ck_assert_str_eq(wire(c), want);                                                   \
	} while (0)

/* What <c> has queued and not sent yet, NUL-terminated (the caller frees). */
static char *queued(const struct conn *c)
{
	char *s = NULL;
	size_t len = 0, cap = 0;

	bytes_add(&s, &len, &cap, "", 0);
	for (const struct buf *b = c->out.head; b; b = b->next)
		bytes_add(&s, &len, &cap, b->data + b->off, b->len - b->off);
	return s;
}

/* ---- static ---- */

#define ST_BODY "hello from st\n"
#define ST_RESP(status, clen, extra)                                                               \
	"HTTP/1.1 " status "\r\nServer: ringlb\r\nX-Served-By: st\r\nContent-Type: text/plain\r\n" \
	"Content-Length: " clen "\r\n" extra "\r\n"
#define ST_HEAD      ST_RESP("200 OK", "14", "")
#define ST_GET       ST_HEAD ST_BODY
#define ST_GET_CLOSE ST_RESP("200 OK", "14", "Connection: close\r\n") ST_BODY
#define ST_400       ST_RESP("400 Bad Request", "12", "Connection: close\r\n") "bad request\n"
#define ST_405                                                                                     \
	ST_RESP("405 Method Not Allowed", "19", "Allow: GET, HEAD\r\nConnection: close\r\n")       \
	"method not allowed\n"
#define ST_431                                                                                     \
	ST_RESP("431 Request Header Fields Too Large", "25", "Connection: close\r\n")              \
	"request header too large\n"

#define GET_REQ  "GET / HTTP/1.1\r\nHost: st\r\nUser-Agent: t\r\n\r\n"
#define HEAD_REQ "HEAD /x HTTP/1.1\r\nHost: st\r\n\r\n"

/* <c> answered, kept open and reading for its next request. */
static void ck_kept_alive(const struct conn *c)
{
	ck_assert(fx_live(c));
	ck_assert(!(c->flags & (CONN_F_CLOSE_AFTER | CONN_F_CLOSING)));
	ck_assert(fake_of(c)->reading);
	ck_assert_ptr_null(c->out.head);
}

START_TEST(static_get_gets_the_listeners_200_with_its_body_and_keep_alive)
{
	struct conn *c = fx_accept(ls_static);

	ck_assert(fake_of(c)->reading);
	fx_feeds(c, GET_REQ);
	ck_wire_eq(c, ST_GET);
	ck_kept_alive(c);
	ck_assert_uint_eq(WSTAT_GET(&wk, static_requests), 1);
	fx_feeds(c, GET_REQ); /* and the next one on the same connection */
	ck_wire_eq(c, ST_GET ST_GET);
	ck_kept_alive(c);
}
END_TEST

START_TEST(static_head_gets_the_head_only)
{
	struct conn *c = fx_accept(ls_static);

	fx_feeds(c, HEAD_REQ);
	ck_wire_eq(c, ST_HEAD);
	ck_kept_alive(c);
}
END_TEST

START_TEST(static_head_split_across_two_reads_at_every_offset_gets_the_same_answer)
{
	static const char req[] = GET_REQ;

	for (size_t k = 1; k < sizeof(req) - 1; k++) {
		struct conn *c = fx_accept(ls_static);

		fx_feed(c, req, k);
		ck_assert_msg(fake_of(c)->len == 0, "split at %zu: answered early", k);
		fx_feed(c, req + k, sizeof(req) - 1 - k);
		ck_assert_msg(!strcmp(wire(c), ST_GET), "split at %zu: %s", k, wire(c));
		ck_kept_alive(c);
		fx_eof(c);
		ck_assert(!fx_live(c));
	}
	ck_assert_uint_eq(wk.ct.used, 0);
}
END_TEST

START_TEST(static_pipelined_requests_in_one_buffer_are_answered_in_order)
{
	struct conn *c = fx_accept(ls_static);

	fx_feeds(c, GET_REQ HEAD_REQ GET_REQ);
	ck_wire_eq(c, ST_GET ST_HEAD ST_GET);
	ck_kept_alive(c);
	ck_assert_uint_eq(WSTAT_GET(&wk, static_requests), 3);
}
END_TEST

START_TEST(static_post_with_a_body_gets_400_and_the_connection_closes_unread)
{
	struct conn *c = fx_accept(ls_static);

	fx_hold = true;
	fx_feeds(c, "POST / HTTP/1.1\r\nHost: st\r\nContent-Length: 3\r\n\r\nabc");
	ck_assert(c->flags & CONN_F_CLOSE_AFTER);
	ck_assert_uint_eq(fake_of(c)->stops, 1);
	ck_assert(!fake_of(c)->reading);
	ck_assert(fx_live(c) && !(c->flags & CONN_F_CLOSING)); /* the answer goes out first */
	fx_hold = false;
	fx_loop();
	ck_wire_eq(c, ST_400);
	ck_assert(!fx_live(c));
}
END_TEST

START_TEST(static_unknown_method_gets_405)
{
	struct conn *c = fx_accept(ls_static);

	fx_feeds(c, "BREW /pot HTTP/1.1\r\nHost: st\r\n\r\n");
	ck_wire_eq(c, ST_405);
	ck_assert(!fx_live(c));
}
END_TEST

START_TEST(static_http_1_0_gets_connection_close)
{
	struct conn *c = fx_accept(ls_static);

	fx_feeds(c, "GET / HTTP/1.0\r\n\r\n");
	ck_wire_eq(c, ST_GET_CLOSE);
	ck_assert(!fx_live(c));
}
END_TEST

/* A request whose head is <n> bytes long. */
static char *big_head(size_t n)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: st\r\nX-Pad: ";
	char *r = malloc(n + 1);

	ck_assert_uint_gt(n, sizeof(start) + 4);
	memcpy(r, start, sizeof(start) - 1);
	memset(r + sizeof(start) - 1, 'a', n - (sizeof(start) - 1) - 4);
	memcpy(r + n - 4, "\r\n\r\n", 5);
	return r;
}

START_TEST(static_head_over_4_kib_in_pieces_gets_431)
{
	char *req = big_head(5000);
	struct conn *c = fx_accept(ls_static);

	fx_feed(c, req, 1000);
	for (size_t off = 1000; off < 5000 && fake_of(c)->reading; off += 1000)
		fx_feed(c, req + off, 1000);
	ck_wire_eq(c, ST_431);
	ck_assert(!fx_live(c));
	free(req);
}
END_TEST

START_TEST(static_head_over_4_kib_in_one_read_gets_431)
{
	char *req = big_head(5000);
	struct conn *c = fx_accept(ls_static);

	fx_feed(c, req, 5000);
	ck_wire_eq(c, ST_431);
	ck_assert(!fx_live(c));
	free(req);
}
END_TEST

/* A head of STATIC_HEAD_MAX bytes (what one small pool buffer holds beside
 * its length) is the longest answered: one byte less, that many and one
 * more, in one read and split anywhere (every offset near the ends, every
 * 127th between). */
START_TEST(static_head_at_the_size_limit_gets_one_answer_in_one_read_or_split_anywhere)
{
	for (size_t n = STATIC_HEAD_MAX - 1; n <= STATIC_HEAD_MAX + 1; n++) {
		char *req = big_head(n);
		const char *want = n <= STATIC_HEAD_MAX ? ST_GET : ST_431;

		for (size_t k = 0; k < n; k += k < 8 || k + 8 > n ? 1 : 127) {
			struct conn *c = fx_accept(ls_static);

			if (k)
				fx_feed(c, req, k);
			if (fake_of(c)->reading)
				fx_feed(c, req + k, n - k);
			ck_assert_msg(!strcmp(wire(c), want), "%zu-byte head split at %zu: %.60s",
			              n, k, wire(c));
			if (fx_live(c))
				fx_eof(c);
			ck_assert(!fx_live(c));
		}
		free(req);
	}
}
END_TEST

START_TEST(static_eof_with_nothing_queued_closes)
{
	struct conn *c = fx_accept(ls_static);

	fx_eof(c);
	ck_assert(!fx_live(c));
	ck_assert_uint_eq(fake_of(c)->len, 0);
	ck_assert_uint_eq(fake_of(c)->releases, 1);
	ck_assert_uint_eq(wk.ct.used, 0);
	ck_assert_uint_eq(ls_static->active, 0);
}
END_TEST

START_TEST(static_eof_with_an_answer_queued_sends_it_then_closes)
{
	struct conn *c = fx_accept(ls_static);

	fx_hold = true;
	fx_feeds(c, GET_REQ);
	fx_eof(c);
	ck_assert(fx_live(c) && !(c->flags & CONN_F_CLOSING));
	fx_hold = false;
	fx_loop();
	ck_wire_eq(c, ST_GET);
	ck_assert(!fx_live(c));
}
END_TEST

START_TEST(static_partial_writes_deliver_the_same_bytes)
{
	struct conn *c = fx_accept(ls_static);

	fx_chunk = 10;
	fx_feeds(c, GET_REQ HEAD_REQ);
	ck_wire_eq(c, ST_GET ST_HEAD);
	ck_assert_uint_ge(fake_of(c)->sends, (sizeof(ST_GET ST_HEAD) - 1) / 10);
	ck_kept_alive(c);
}
END_TEST

START_TEST(static_partial_writes_held_by_hand_deliver_the_same_bytes)
{
	struct conn *c = fx_accept(ls_static);
	size_t want = sizeof(ST_GET) - 1;

	fx_hold = true;
	fx_feeds(c, GET_REQ);
	for (size_t sent = 0; sent < want; sent += 10) {
		ck_assert_uint_eq(c->out_bytes, want - sent);
		fx_send(c, 10);
	}
	ck_wire_eq(c, ST_GET);
	ck_kept_alive(c);
}
END_TEST

START_TEST(static_pipeline_deeper_than_eight_gets_eight_answers_and_a_close)
{
	static const char one[] = GET_REQ;
	char req[10 * (sizeof(one) - 1)];
	struct conn *c = fx_accept(ls_static);

	for (unsigned i = 0; i < 10; i++)
		memcpy(req + i * (sizeof(one) - 1), one, sizeof(one) - 1);
	fx_feed(c, req, sizeof(req));
	ck_wire_eq(c, ST_GET ST_GET ST_GET ST_GET ST_GET ST_GET ST_GET ST_GET);
	ck_assert(!fx_live(c));
}
END_TEST

START_TEST(static_eof_in_the_middle_of_a_head_closes_and_gives_its_buffer_back)
{
	struct conn *c = fx_accept(ls_static);

	fx_feeds(c, "GET / HT");
	ck_assert_ptr_nonnull(c->pctx); /* the start of the head, kept */
	fx_eof(c);
	ck_assert(!fx_live(c));
	ck_assert_uint_eq(fake_of(c)->len, 0);
}
END_TEST

/* ---- http ---- */

#define HTTP_ERR(code, text, blen)                                                                 \
	"HTTP/1.1 " code " " text "\r\nServer: ringlb\r\nContent-Type: text/plain\r\n"             \
	"Content-Length: " blen "\r\nConnection: close\r\n\r\n" code " " text "\n"

#define WEB_GET "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define WEB_GET_UP                                                                                 \
	"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 127.0.0.1\r\n"               \
	"X-Forwarded-Proto: http\r\nX-Real-IP: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
#define RESP_OK "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-B: 1\r\n\r\nhello"
#define RESP_OK_DOWN                                                                               \
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-B: 1\r\nConnection: keep-alive\r\n\r\nhello"

/* A client of the http listener whose request <req> went upstream: the
 * upstream connected and the head sent. */
static struct conn *web_request(const char *req, struct conn **up)
{
	struct conn *c = fx_accept(ls_http), *u;

	fx_feeds(c, req);
	u = fx_peer(c);
	ck_assert_ptr_nonnull(u);
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_assert(fake_of(u)->reading);
	*up = u;
	return c;
}

START_TEST(http_request_goes_up_rewritten_with_x_forwarded_for_and_no_hop_by_hop)
{
	static const char req[] =
	    "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Hop\r\n"
	    "X-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 10.0.0.1\r\n"
	    "Proxy-Connection: keep-alive\r\nTE: trailers\r\nUser-Agent: t\r\n\r\n";
	struct conn *c = fx_accept(ls_http), *u;
	char *q;

	fx_data(c, req, sizeof(req) - 1);
	u = fx_peer(c);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->proto, http__up_id);
	ck_assert(!(u->flags & CONN_F_CONNECTED));
	q = queued(u); /* waits there for the connect */
	ck_assert_str_eq(q, "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n"
	                    "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
	                    "X-Real-IP: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_uint_eq(fake_of(u)->len, 0);
	fx_loop(); /* connected: sent */
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_assert_str_eq(wire(u), q);
	ck_assert_ptr_null(u->out.head);
	ck_assert_uint_eq(WSTAT_GET(&wk, http_requests), 1);
	free(q);
}
END_TEST

START_TEST(http_stop_closes_an_idle_keep_alive_client_and_answers_one_yet_to_send_a_request)
{
	struct conn *u, *used = web_request(WEB_GET, &u), *fresh;

	fx_feeds(u, RESP_OK);
	ck_kept_alive(used);
	fresh = fx_accept(ls_http); /* its first request may be on its way */
	wk.stopping = true;
	proto_of(used)->drain(&wk, used);
	proto_of(fresh)->drain(&wk, fresh);
	fx_loop();
	ck_assert(!fx_live(used) || (used->flags & CONN_F_CLOSING));
	ck_kept_alive(fresh);
	fx_feeds(fresh, WEB_GET);
	u = fx_peer(fresh);
	ck_assert_ptr_nonnull(u);
	fx_feeds(u, RESP_OK);
	ck_wire_eq(fresh, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-B: 1\r\nConnection: "
	                  "close\r\n\r\nhello");
	wk.stopping = false;
}
END_TEST

START_TEST(http_malformed_request_gets_a_400_page_and_close)
{
	struct conn *c = fx_accept(ls_http);

	fx_feeds(c, "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
	ck_wire_eq(c, HTTP_ERR("400", "Bad Request", "16"));
	ck_assert(!fx_live(c));
	ck_assert_uint_eq(wk.ct.used, 0); /* no upstream was opened */
	ck_assert_uint_eq(WSTAT_GET(&wk, http_errors), 1);
}
END_TEST

START_TEST(http_over_long_request_line_gets_414)
{
	char line[9000];
	struct conn *c = fx_accept(ls_http);

	memcpy(line, "GET /", 5);
	memset(line + 5, 'a', sizeof(line) - 5);
	fx_feed(c, line, sizeof(line));
	ck_wire_eq(c, HTTP_ERR("414", "URI Too Long", "17"));
	ck_assert(!fx_live(c));
}
END_TEST

START_TEST(http_response_reaches_the_client_with_keep_alive)
{
	struct conn *u, *c = web_request(WEB_GET, &u), *u2;

	ck_wire_eq(u, WEB_GET_UP);
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, RESP_OK_DOWN);
	ck_kept_alive(c);
	ck_assert_uint_eq(c->peer, CONN_NONE);
	ck_assert(u->flags & CONN_F_IDLE); /* kept for the next request */
	ck_assert(fake_of(u)->reading);
	fx_feeds(c, WEB_GET); /* which reuses it */
	u2 = fx_peer(c);
	ck_assert_ptr_eq(u2, u);
	ck_assert_uint_eq(WSTAT_GET(&wk, http_reused), 1);
	ck_wire_eq(u, WEB_GET_UP WEB_GET_UP);
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, RESP_OK_DOWN RESP_OK_DOWN);
	ck_kept_alive(c);
}
END_TEST

START_TEST(http_chunked_response_split_anywhere_reaches_the_client_byte_identical)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
	static const char down[] =
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
	    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";

	for (size_t k = 0; k < sizeof(resp) - 1; k++) {
		struct conn *u, *c = web_request(WEB_GET, &u);

		if (k)
			fx_feed(u, resp, k);
		fx_feed(u, resp + k, sizeof(resp) - 1 - k);
		ck_assert_msg(!strcmp(wire(c), down), "split at %zu: %s", k, wire(c));
		ck_kept_alive(c);
		ck_assert_msg(u->flags & CONN_F_IDLE, "split at %zu: upstream not kept", k);
		fx_eof(c);
		ck_assert(!fx_live(c));
	}
	ck_assert_uint_eq(wk.ct.used, 1); /* the upstream, idle */
	ck_assert_uint_eq(WSTAT_GET(&wk, http_reused), sizeof(resp) - 2);
}
END_TEST

START_TEST(http_101_to_an_upgrade_turns_the_pair_into_a_tunnel)
{
	struct conn *u, *c = web_request("GET /ws HTTP/1.1\r\nHost: example.com\r\n"
	                                 "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	                                 &u);

	ck_assert_ptr_nonnull(strstr(wire(u), "\r\nUpgrade: websocket\r\n"));
	ck_assert_ptr_nonnull(strstr(wire(u), "\r\nConnection: upgrade\r\n\r\n"));
	fx_feeds(u, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	            "Connection: Upgrade\r\n\r\nsrv-hello");
	ck_assert_int_eq(hx_of(c)->state, HS_TUNNEL);
	ck_assert_str_eq(wire(c), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                          "Connection: upgrade\r\n\r\nsrv-hello");
	ck_assert(fake_of(c)->reading);
	fx_feeds(c, "ping");
	ck_assert_str_eq(wire(u) + strlen(wire(u)) - 4, "ping");
	fx_feeds(u, "pong");
	ck_assert_str_eq(wire(c) + strlen(wire(c)) - 4, "pong");
	fx_eof(c); /* each way ends on its own */
	ck_assert_uint_eq(fake_of(u)->shuts, 1);
	ck_assert(fx_live(c) && fx_live(u));
	fx_feeds(u, "bye");
	ck_assert_str_eq(wire(c) + strlen(wire(c)) - 3, "bye");
	fx_eof(u);
	ck_assert_uint_eq(fake_of(c)->shuts, 1);
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

START_TEST(http_backend_eof_before_a_response_head_gives_the_client_502)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_feeds(u, "HTTP/1.1 200 OK\r\nContent-Le");
	fx_eof(u);
	ck_wire_eq(c, HTTP_ERR("502", "Bad Gateway", "16"));
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

START_TEST(http_upstream_error_before_any_response_byte_gives_502)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_error(u, -ECONNRESET);
	ck_wire_eq(c, HTTP_ERR("502", "Bad Gateway", "16"));
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

START_TEST(http_upstream_error_after_some_response_bytes_just_closes)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_feeds(u, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel");
	ck_wire_eq(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\nhel");
	fx_error(u, -ECONNRESET);
	ck_wire_eq(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\nhel");
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

START_TEST(http_reject_writes_the_503_without_a_record)
{
	int fd = fx_client_fd();

	proto_of_ls(ls_http)->reject(&wk, ls_http, fd);
	ck_assert_str_eq(now_wire, "HTTP/1.1 503 Service Unavailable\r\nServer: ringlb\r\n"
	                           "Content-Type: text/plain\r\nContent-Length: 24\r\n"
	                           "Retry-After: 1\r\nConnection: close\r\n\r\n"
	                           "503 Service Unavailable\n");
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed */
	ck_assert_uint_eq(wk.ct.used, 0);
}
END_TEST

#define WEB_GET2 "GET /2 HTTP/1.1\r\nHost: example.com\r\n\r\n"
#define WEB_GET2_UP                                                                                \
	"GET /2 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 127.0.0.1\r\n"                   \
	"X-Forwarded-Proto: http\r\nX-Real-IP: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"

START_TEST(http_pipelined_requests_go_up_one_at_a_time_and_are_answered_in_order)
{
	struct conn *c = fx_accept(ls_http), *u;

	fx_feeds(c, WEB_GET WEB_GET2);
	u = fx_peer(c);
	ck_assert_ptr_nonnull(u);
	ck_wire_eq(u, WEB_GET_UP); /* the second waits for the first's answer */
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, RESP_OK_DOWN);
	ck_assert_ptr_eq(fx_peer(c), u); /* then goes up on the same connection */
	ck_wire_eq(u, WEB_GET_UP WEB_GET2_UP);
	fx_feeds(u, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
	ck_wire_eq(c, RESP_OK_DOWN
	           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\ntwo");
	ck_kept_alive(c);
	ck_assert_uint_eq(WSTAT_GET(&wk, http_requests), 2);
}
END_TEST

START_TEST(http_chunked_request_body_split_anywhere_goes_up_byte_identical)
{
	static const char req[] = "POST /up HTTP/1.1\r\nHost: example.com\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"
				  "4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
	static const char up[] = "POST /up HTTP/1.1\r\nHost: example.com\r\n"
				 "Transfer-Encoding: chunked\r\nX-Forwarded-For: 127.0.0.1\r\n"
				 "X-Forwarded-Proto: http\r\nX-Real-IP: 127.0.0.1\r\n"
				 "Connection: keep-alive\r\n\r\n"
				 "4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
	struct conn *u = NULL;

	for (size_t k = 0; k < sizeof(req) - 1; k++) {
		struct conn *c = fx_accept(ls_http);
		size_t before = u ? fake_of(u)->len : 0;

		if (k)
			fx_feed(c, req, k);
		fx_feed(c, req + k, sizeof(req) - 1 - k);
		ck_assert_ptr_nonnull(fx_peer(c));
		ck_assert_msg(!u || fx_peer(c) == u, "split at %zu: upstream not reused", k);
		u = fx_peer(c);
		ck_assert_msg(!strcmp(wire(u) + before, up), "split at %zu: %s", k,
		              wire(u) + before);
		ck_assert(hx_of(c)->req_done);
		fx_feeds(u, "HTTP/1.1 204 No Content\r\n\r\n");
		ck_wire_eq(c, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
		fx_eof(c);
		ck_assert(!fx_live(c));
	}
}
END_TEST

START_TEST(http_answer_to_head_ends_without_a_body)
{
	struct conn *u, *c = web_request("HEAD /h HTTP/1.1\r\nHost: example.com\r\n\r\n", &u);

	fx_feeds(u, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
	ck_wire_eq(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n");
	ck_kept_alive(c);
	ck_assert(u->flags & CONN_F_IDLE);
}
END_TEST

START_TEST(http_close_delimited_response_ends_at_the_backends_eof_and_closes_the_client)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_feeds(u, "HTTP/1.1 200 OK\r\n\r\nsome ");
	fx_feeds(u, "bytes");
	ck_assert(fx_live(c) && fx_live(u));
	fx_eof(u);
	ck_wire_eq(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome bytes");
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

START_TEST(http_100_continue_goes_to_the_client_before_the_final_answer)
{
	struct conn *u, *c = web_request("POST /c HTTP/1.1\r\nHost: example.com\r\n"
	                                 "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n",
	                                 &u);

	fx_feeds(u, "HTTP/1.1 100 Continue\r\n\r\n");
	ck_wire_eq(c, "HTTP/1.1 100 Continue\r\n\r\n");
	fx_feeds(c, "abc");
	ck_assert_str_eq(wire(u) + fake_of(u)->len - 7, "\r\n\r\nabc");
	fx_feeds(u, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	ck_wire_eq(c, "HTTP/1.1 100 Continue\r\n\r\n"
	              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
	ck_kept_alive(c);
}
END_TEST

START_TEST(http_client_half_close_after_a_request_gets_its_answer_then_close)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_eof(c);
	ck_assert(fx_live(c) && fx_live(u));
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-B: 1\r\nConnection: close\r\n\r\n"
	              "hello");
	ck_assert(!fx_live(c));
	ck_assert(fx_live(u) && (u->flags & CONN_F_IDLE)); /* the backend's keep-alive is its own */
}
END_TEST

START_TEST(http_idle_upstream_that_speaks_is_closed)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_feeds(u, RESP_OK);
	ck_assert(u->flags & CONN_F_IDLE);
	fx_feeds(u, "HTTP/1.1 200 OK\r\n");
	ck_assert(!fx_live(u));
	ck_wire_eq(c, RESP_OK_DOWN);
	ck_kept_alive(c);
}
END_TEST

START_TEST(http_full_client_queue_stops_reading_the_upstream_until_drained_below_half)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n";
	char block[4096];
	struct conn *u, *c = web_request(WEB_GET, &u);
	size_t body = 0;

	fx_hold = true;
	fx_feeds(u, head);
	memset(block, 'b', sizeof(block));
	while (fake_of(u)->reading) {
		fx_feed(u, block, sizeof(block));
		body += sizeof(block);
		ck_assert_uint_lt(body, 20000);
	}
	ck_assert(u->flags & CONN_F_PAUSED);
	ck_assert_uint_ge(c->out_bytes, FX_MAXBUF);
	while (!fake_of(u)->reading)
		fx_send(c, 0);
	ck_assert_uint_le(c->out_bytes, FX_MAXBUF / 2);
	fx_hold = false;
	fx_feed(u, block, 20000 - body);
	ck_assert_uint_eq(fake_of(c)->len, sizeof("HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n"
	                                          "Connection: keep-alive\r\n\r\n") -
	                                       1 + 20000);
	ck_kept_alive(c);
	ck_assert(u->flags & CONN_F_IDLE);
}
END_TEST

START_TEST(http_partial_writes_deliver_the_same_bytes_both_ways)
{
	struct conn *u, *c;

	fx_chunk = 10;
	c = web_request(WEB_GET, &u);
	ck_wire_eq(u, WEB_GET_UP);
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, RESP_OK_DOWN);
	ck_assert_uint_ge(fake_of(c)->sends, (sizeof(RESP_OK_DOWN) - 1) / 10);
	ck_kept_alive(c);
	fx_feeds(c, WEB_GET2);
	ck_wire_eq(u, WEB_GET_UP WEB_GET2_UP);
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, RESP_OK_DOWN RESP_OK_DOWN);
}
END_TEST

START_TEST(http_bytes_sent_before_the_101_go_up_after_it)
{
	struct conn *u, *c = web_request("GET /ws HTTP/1.1\r\nHost: example.com\r\n"
	                                 "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	                                 &u);
	size_t head = fake_of(u)->len;

	fx_feeds(c, "early");
	ck_assert_uint_eq(fake_of(u)->len, head); /* held until the answer */
	fx_feeds(u, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	            "Connection: Upgrade\r\n\r\n");
	ck_assert_int_eq(hx_of(c)->state, HS_TUNNEL);
	ck_assert_str_eq(wire(u) + head, "early");
}
END_TEST

START_TEST(http_101_to_a_request_that_asked_no_upgrade_gets_502)
{
	struct conn *u, *c = web_request(WEB_GET, &u);

	fx_feeds(u, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	            "Connection: Upgrade\r\n\r\n");
	ck_wire_eq(c, HTTP_ERR("502", "Bad Gateway", "16"));
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

/* Makes the balancer of pool <name> start at its first backend. */
static void rr_from_first(const char *name)
{
	int pi = config_pool_index(cfg, name);

	ck_assert_int_ge(pi, 0);
	wk.gen->cur[pi].rr = 0;
}

START_TEST(http_refused_connect_retries_the_next_backend_with_the_request)
{
	struct conn *c = fx_accept(ls_http), *u;

	rr_from_first("flaky"); /* its first backend refuses connections */
	fx_feeds(c, "GET / HTTP/1.1\r\nHost: flaky\r\n\r\n");
	u = fx_peer(c);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->backend, 1);
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_assert_uint_eq(WSTAT_GET(&wk, connect_fail), 1);
	ck_wire_eq(u, "GET / HTTP/1.1\r\nHost: flaky\r\nX-Forwarded-For: 127.0.0.1\r\n"
	              "X-Forwarded-Proto: http\r\nX-Real-IP: 127.0.0.1\r\n"
	              "Connection: keep-alive\r\n\r\n");
	fx_feeds(u, RESP_OK);
	ck_wire_eq(c, RESP_OK_DOWN);
	ck_assert_uint_eq(wk.ct.used, 2);
}
END_TEST

/* Was a bug: while a request is in flight, pipelined bytes that pass
 * max_buffer_size in one read got http__error(), which left the upstream
 * linked: once the page was sent the client was released, its upstream
 * still named the slot, and the next client to take that slot (the table
 * hands the warmest slot out first) got the first client's response. Now
 * the request fails with its upstream (http__req_fail()), and a record
 * released while paired closes its peer (conn_release()). */
START_TEST(
    http_pipelined_overflow_while_a_request_is_in_flight_leaks_no_response_to_the_next_client)
{
	char pad[10000];
	struct conn *u, *a = web_request(WEB_GET, &u), *b;
	uint32_t slot = ring_slot(&wk, a), ugen = u->gen;

	memset(pad, 'a', sizeof(pad));
	memcpy(pad, "GET /2 HTTP/1.1\r\nX-Pad: ", 24);
	fx_feed(a, pad, sizeof(pad));           /* 10000 bytes read ahead */
	fx_feed(a, pad + 24, sizeof(pad) - 24); /* past 16 KiB: 431 */
	ck_assert_str_eq(wire(a), HTTP_ERR("431", "Request Header Fields Too Large", "36"));
	ck_assert(!fx_live(a));
	b = fx_accept(ls_http);
	ck_assert_uint_eq(ring_slot(&wk, b), slot);
	fx_feeds(b, WEB_GET2);
	/* <u>'s slot may have gone to <b>'s own upstream by now (same
	 * generation check as a completion's). */
	if (fx_live(u) && u->gen == ugen && fake_of(u)->reading)
		fx_feeds(u, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfor-A!");
	ck_assert_msg(!strstr(wire(b), "for-A!"), "the next client got: %s", wire(b));
	ck_assert_msg(!fx_live(u) || u->gen != ugen || u->peer != slot,
	              "the upstream still names the slot");
}
END_TEST

/* ---- l4 ---- */

static struct conn *tcp_pair(struct conn **up)
{
	struct conn *c = fx_accept(ls_tcp), *u = fx_peer(c);

	ck_assert_ptr_nonnull(u);
	fx_loop();
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_assert(fake_of(c)->reading && fake_of(u)->reading);
	*up = u;
	return c;
}

START_TEST(l4_bytes_go_each_way_to_the_peers_queue)
{
	struct conn *c = fx_accept(ls_tcp), *u = fx_peer(c);
	char *q;

	ck_assert_ptr_nonnull(u);
	ck_assert(!(u->flags & CONN_F_CONNECTED));
	fx_data(c, "early", 5); /* before the connect: waits on the upstream */
	q = queued(u);
	ck_assert_str_eq(q, "early");
	free(q);
	fx_loop();
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_wire_eq(u, "early");
	fx_feeds(c, "abc");
	ck_wire_eq(u, "earlyabc");
	fx_feeds(u, "xyz");
	ck_wire_eq(c, "xyz");
	fx_feeds(u, "123");
	ck_wire_eq(c, "xyz123");
}
END_TEST

START_TEST(l4_full_peer_queue_stops_reading_the_sender_until_drained_below_half)
{
	struct conn *u, *c = tcp_pair(&u);
	char block[4096], *want = malloc(FX_MAXBUF + 1);
	unsigned n = 0;

	fx_hold = true;
	while (fake_of(c)->reading) {
		memset(block, 'a' + n, sizeof(block));
		memcpy(want + n * sizeof(block), block, sizeof(block));
		fx_feed(c, block, sizeof(block));
		n++;
		ck_assert_uint_le(n, FX_MAXBUF / sizeof(block));
	}
	ck_assert_uint_eq(n, FX_MAXBUF / sizeof(block));
	ck_assert_uint_eq(u->out_bytes, FX_MAXBUF);
	ck_assert(c->flags & CONN_F_PAUSED);
	ck_assert_uint_eq(fake_of(c)->stops, 1);
	ck_assert(fake_of(u)->reading); /* the other way goes on */
	fx_send(u, 4096);
	ck_assert(c->flags & CONN_F_PAUSED); /* 12 KiB still queued */
	ck_assert(!fake_of(c)->reading);
	fx_send(u, 4096);
	ck_assert(!(c->flags & CONN_F_PAUSED)); /* half: read again */
	ck_assert(fake_of(c)->reading);
	ck_assert_uint_eq(fake_of(c)->reads, 2);
	fx_hold = false;
	fx_loop();
	want[FX_MAXBUF] = '\0';
	ck_assert_uint_eq(fake_of(u)->len, FX_MAXBUF);
	ck_assert_str_eq(wire(u), want);
	free(want);
}
END_TEST

START_TEST(l4_eof_shuts_the_peers_write_side_once_its_queue_is_empty)
{
	struct conn *u, *c = tcp_pair(&u);

	fx_hold = true;
	fx_feeds(c, "last words");
	fx_eof(c);
	ck_assert_uint_eq(fake_of(u)->shuts, 0); /* still queued */
	fx_hold = false;
	fx_loop();
	ck_wire_eq(u, "last words");
	ck_assert_uint_eq(fake_of(u)->shuts, 1);
	ck_assert(u->flags & CONN_F_WR_SHUT);
	ck_assert(fx_live(c) && fx_live(u)); /* the other way is still open */
	fx_feeds(u, "answer");
	ck_wire_eq(c, "answer");
	ck_assert_uint_eq(fake_of(c)->shuts, 0);
}
END_TEST

START_TEST(l4_eof_both_ways_tears_the_pair_down)
{
	struct conn *u, *c = tcp_pair(&u);

	fx_eof(u);
	ck_assert_uint_eq(fake_of(c)->shuts, 1);
	ck_assert(fx_live(c) && fx_live(u));
	fx_eof(c);
	ck_assert_uint_eq(fake_of(u)->shuts, 1);
	ck_assert(!fx_live(c) && !fx_live(u));
	ck_assert_uint_eq(wk.ct.used, 0);
	ck_assert_uint_eq(ls_tcp->active, 0);
}
END_TEST

START_TEST(l4_error_on_one_side_closes_both)
{
	struct conn *u, *c = tcp_pair(&u);

	fx_error(c, -ECONNRESET);
	ck_assert(!fx_live(c) && !fx_live(u));
	ck_assert_uint_eq(WSTAT_GET(&wk, aborts), 1);
}
END_TEST

START_TEST(l4_client_eof_before_the_connect_is_forwarded_once_its_bytes_are_sent)
{
	struct conn *c = fx_accept(ls_tcp), *u = fx_peer(c);

	fx_data(c, "bye", 3);
	fx_eof(c); /* the loop then connects */
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_wire_eq(u, "bye");
	ck_assert_uint_eq(fake_of(u)->shuts, 1);
	ck_assert(fx_live(c) && fx_live(u));
}
END_TEST

START_TEST(l4_refused_connect_retries_the_next_backend_with_the_bytes_read)
{
	struct conn *c, *u;

	rr_from_first("flaky");
	c = fx_accept(ls_flaky);
	ck_assert_int_eq(fx_peer(c)->backend, 0);
	fx_data(c, "early", 5);
	fx_loop();
	u = fx_peer(c);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->backend, 1);
	ck_assert(u->flags & CONN_F_CONNECTED);
	ck_wire_eq(u, "early");
	ck_assert_uint_eq(WSTAT_GET(&wk, connect_fail), 1);
	ck_assert_uint_eq(wk.ct.used, 2);
	fx_feeds(u, "hi");
	ck_wire_eq(c, "hi");
}
END_TEST

START_TEST(l4_full_client_queue_stops_reading_the_upstream)
{
	struct conn *u, *c = tcp_pair(&u);
	char block[4096];

	memset(block, 'u', sizeof(block));
	fx_hold = true;
	while (fake_of(u)->reading)
		fx_feed(u, block, sizeof(block));
	ck_assert_uint_eq(c->out_bytes, FX_MAXBUF);
	ck_assert(u->flags & CONN_F_PAUSED);
	ck_assert(fake_of(c)->reading);
	fx_hold = false;
	fx_loop();
	ck_assert(fake_of(u)->reading);
	ck_assert_uint_eq(fake_of(c)->len, FX_MAXBUF);
}
END_TEST

START_TEST(l4_failed_shut_write_tears_the_pair_down)
{
	struct conn *u, *c = tcp_pair(&u);

	fake_of(u)->shut_err = -ENOTCONN;
	fx_eof(c);
	ck_assert_uint_eq(fake_of(u)->shuts, 1);
	ck_assert(!fx_live(c) && !fx_live(u));
}
END_TEST

/* ---- out queues (bufq.c) ---- */

/* A pool buffer of class <cls> holding <text>. */
static char *fx_pbuf(int cls, const char *text)
{
	char *b = pool_get(wk.pc, cls);

	ck_assert_ptr_nonnull(b);
	memcpy(b, text, strlen(text));
	return b;
}

START_TEST(bufq_detached_queue_coalesces_pops_and_leaves_the_out_queue_alone)
{
	struct conn *c = fx_accept(ls_tcp);
	struct bufq q = {0};
	static const char ref[] = "ref";

	ck_assert_int_eq(bufq_queue_to(&wk, &q, fx_pbuf(BUF_SMALL, "abc"), 3, 3), 0);
	ck_assert_int_eq(bufq_queue_to(&wk, &q, fx_pbuf(BUF_SMALL, "def"), 3, 3), 0);
	ck_assert_ptr_eq(q.head, q.tail); /* the second copied into the first */
	ck_assert_uint_eq(q.head->len, 6);
	ck_assert_int_eq(memcmp(q.head->data, "abcdef", 6), 0);
	ck_assert_int_eq(bufq_queue_ref_to(&wk, &q, ref, 3, 0), 0);
	ck_assert_ptr_ne(q.head, q.tail);
	ck_assert_ptr_eq(q.tail->data, ref);
	ck_assert_ptr_null(c->out.head);
	ck_assert_uint_eq(c->out_bytes, 0);
	bufq_pop(&wk, &q); /* the pool buffer goes back (teardown counts them) */
	ck_assert_ptr_eq(q.head, q.tail);
	ck_assert_ptr_eq(q.head->data, ref);
	bufq_pop(&wk, &q);
	ck_assert(!q.head && !q.tail);
}
END_TEST

START_TEST(bufq_reserved_buffers_take_an_append_past_the_last_ones_room)
{
	struct conn *c = fx_accept(ls_tcp);
	size_t cap = pool_class_size(BUF_SMALL), len = cap + cap / 2;
	char *data = malloc(len), *q;
	struct bufq rsv = {0};
	unsigned n = 0;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	ck_assert_int_eq(bufq_queue(&wk, c, fx_pbuf(BUF_SMALL, "head"), 4, 4), 0);
	ck_assert_int_eq(bufq_reserve(&wk, c, len, BUF_SMALL, &rsv), 0);
	for (const struct buf *b = rsv.head; b; b = b->next)
		n++;
	ck_assert_uint_eq(n, 1); /* len - (cap - 4) = cap / 2 + 4 bytes past the room */
	ck_assert_int_eq(bufq_append(&wk, c, data, len, BUF_SMALL, &rsv), 0);
	ck_assert_ptr_null(rsv.head); /* it was used */
	ck_assert_ptr_ne(c->out.head, c->out.tail);
	ck_assert_uint_eq(c->out_bytes, 4 + len);
	q = queued(c);
	ck_assert_int_eq(memcmp(q, "head", 4), 0);
	ck_assert_int_eq(memcmp(q + 4, data, len), 0);
	free(q);
	free(data);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = ck_tcase("static", 20, setup, teardown);

	tcase_add_test(tc, static_get_gets_the_listeners_200_with_its_body_and_keep_alive);
	tcase_add_test(tc, static_head_gets_the_head_only);
	tcase_add_test(tc, static_head_split_across_two_reads_at_every_offset_gets_the_same_answer);
	tcase_add_test(tc, static_pipelined_requests_in_one_buffer_are_answered_in_order);
	tcase_add_test(tc, static_post_with_a_body_gets_400_and_the_connection_closes_unread);
	tcase_add_test(tc, static_unknown_method_gets_405);
	tcase_add_test(tc, static_http_1_0_gets_connection_close);
	tcase_add_test(tc, static_head_over_4_kib_in_pieces_gets_431);
	tcase_add_test(tc, static_head_over_4_kib_in_one_read_gets_431);
	tcase_add_test(tc,
	               static_head_at_the_size_limit_gets_one_answer_in_one_read_or_split_anywhere);
	tcase_add_test(tc, static_eof_with_nothing_queued_closes);
	tcase_add_test(tc, static_eof_with_an_answer_queued_sends_it_then_closes);
	tcase_add_test(tc, static_partial_writes_deliver_the_same_bytes);
	tcase_add_test(tc, static_partial_writes_held_by_hand_deliver_the_same_bytes);
	tcase_add_test(tc, static_pipeline_deeper_than_eight_gets_eight_answers_and_a_close);
	tcase_add_test(tc, static_eof_in_the_middle_of_a_head_closes_and_gives_its_buffer_back);
	suite_add_tcase(s, tc);

	tc = ck_tcase("http", 20, setup, teardown);
	tcase_add_test(tc, http_request_goes_up_rewritten_with_x_forwarded_for_and_no_hop_by_hop);
	tcase_add_test(tc, http_malformed_request_gets_a_400_page_and_close);
	tcase_add_test(tc, http_over_long_request_line_gets_414);
	tcase_add_test(tc, http_response_reaches_the_client_with_keep_alive);
	tcase_add_test(tc, http_chunked_response_split_anywhere_reaches_the_client_byte_identical);
	tcase_add_test(tc, http_101_to_an_upgrade_turns_the_pair_into_a_tunnel);
	tcase_add_test(tc, http_backend_eof_before_a_response_head_gives_the_client_502);
	tcase_add_test(tc, http_upstream_error_before_any_response_byte_gives_502);
	tcase_add_test(tc, http_upstream_error_after_some_response_bytes_just_closes);
	tcase_add_test(tc, http_reject_writes_the_503_without_a_record);
	tcase_add_test(tc, http_pipelined_requests_go_up_one_at_a_time_and_are_answered_in_order);
	tcase_add_test(tc, http_chunked_request_body_split_anywhere_goes_up_byte_identical);
	tcase_add_test(tc, http_answer_to_head_ends_without_a_body);
	tcase_add_test(
	    tc, http_close_delimited_response_ends_at_the_backends_eof_and_closes_the_client);
	tcase_add_test(tc, http_100_continue_goes_to_the_client_before_the_final_answer);
	tcase_add_test(tc, http_client_half_close_after_a_request_gets_its_answer_then_close);
	tcase_add_test(tc, http_idle_upstream_that_speaks_is_closed);
	tcase_add_test(tc,
	               http_full_client_queue_stops_reading_the_upstream_until_drained_below_half);
	tcase_add_test(tc, http_refused_connect_retries_the_next_backend_with_the_request);
	tcase_add_test(tc, http_partial_writes_deliver_the_same_bytes_both_ways);
	tcase_add_test(tc, http_bytes_sent_before_the_101_go_up_after_it);
	tcase_add_test(tc, http_101_to_a_request_that_asked_no_upgrade_gets_502);
	tcase_add_test(
	    tc, http_stop_closes_an_idle_keep_alive_client_and_answers_one_yet_to_send_a_request);
	suite_add_tcase(s, tc);

	tc = ck_tcase("l4", 20, setup, teardown);
	tcase_add_test(tc, l4_bytes_go_each_way_to_the_peers_queue);
	tcase_add_test(tc, l4_full_peer_queue_stops_reading_the_sender_until_drained_below_half);
	tcase_add_test(tc, l4_eof_shuts_the_peers_write_side_once_its_queue_is_empty);
	tcase_add_test(tc, l4_eof_both_ways_tears_the_pair_down);
	tcase_add_test(tc, l4_error_on_one_side_closes_both);
	tcase_add_test(tc, l4_client_eof_before_the_connect_is_forwarded_once_its_bytes_are_sent);
	tcase_add_test(tc, l4_refused_connect_retries_the_next_backend_with_the_bytes_read);
	tcase_add_test(tc, l4_full_client_queue_stops_reading_the_upstream);
	tcase_add_test(tc, l4_failed_shut_write_tears_the_pair_down);
	suite_add_tcase(s, tc);

	tc = ck_tcase("bufq", 20, setup, teardown);
	tcase_add_test(tc, bufq_detached_queue_coalesces_pops_and_leaves_the_out_queue_alone);
	tcase_add_test(tc, bufq_reserved_buffers_take_an_append_past_the_last_ones_room);
	suite_add_tcase(s, tc);

	tc = ck_tcase("regressions", 20, setup, teardown);
	tcase_add_test(
	    tc,
	    http_pipelined_overflow_while_a_request_is_in_flight_leaks_no_response_to_the_next_client);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_run(proto_suite());
}
