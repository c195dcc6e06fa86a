/* The PROXY protocol on the loop (proxyp.h). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/log.h"
#include "core/base/macros.h"
#include "core/base/timer.h"
#include "core/loop/bufq.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/loop/ring.h"
#include "core/mem/acct.h"
#include "core/mem/pool.h"
#include "core/parse/proxy.h"

/* The header phase's protocol: <pctx> holds the header's bytes taken so
 * far (a small pool buffer, only when it arrived in pieces), <pword> their
 * count. Both are the real protocol's (zero) again when it takes over. */
static uint8_t proxyp_id;

/* Per worker (w->pstate[proxyp_id]): the addresses of each slot. */
struct proxyp_store {
	struct proxy_addr *a; /* w->ct.size entries */
	size_t bytes;
};

static struct proxy_addr *store_of(struct worker *w)
{
	struct proxyp_store *s = proxyp_id ? w->pstate[proxyp_id] : NULL;

	return s ? s->a : NULL;
}

/* The entry of <c>'s slot, allocated with the store on first use. */
static struct proxy_addr *slot_addr(struct worker *w, const struct conn *c)
{
	struct proxyp_store *s;

	if (!proxyp_id)
		return NULL;
	s = w->pstate[proxyp_id];
	if (!s) {
		size_t bytes = (size_t)w->ct.size * sizeof(struct proxy_addr);

		if (acct_charge(w->acct, ACCT_CONN, w->ct.node, bytes + sizeof(*s)) < 0)
			return NULL;
		s = calloc(1, sizeof(*s));
		if (s)
			s->a = calloc(w->ct.size, sizeof(struct proxy_addr));
		if (!s || !s->a) {
			free(s);
			acct_release(w->acct, ACCT_CONN, w->ct.node, bytes + sizeof(*s));
			return NULL;
		}
		s->bytes = bytes + sizeof(*s);
		w->pstate[proxyp_id] = s;
	}
	return &s->a[ring_slot(w, c)];
}

static void proxyp_worker_deinit(struct worker *w)
{
	struct proxyp_store *s = w->pstate[proxyp_id];

	if (!s)
		return;
	acct_release(w->acct, ACCT_CONN, w->ct.node, s->bytes);
	free(s->a);
	free(s);
	w->pstate[proxyp_id] = NULL;
}

/* ---- addresses ---- */

static void to_sockaddr(int family, const uint8_t *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, ip, 4);
		s4->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip, 16);
		s6->sin6_port = htons(port);
	}
}

/* An IPv4 or IPv6 socket address into <ip>, <port>; false for others. */
static bool from_sockaddr(const struct sockaddr_storage *ss, uint8_t *family, uint8_t *ip,
                          uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		memcpy(ip, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		memcpy(ip, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	} else {
		return false;
	}
	*family = (uint8_t)ss->ss_family;
	return true;
}

int proxyp_client(struct worker *w, const struct conn *c, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);
	struct proxy_addr *st;

	if ((c->flags & CONN_F_PROXIED) && (st = store_of(w))) {
		const struct proxy_addr *a = &st[ring_slot(w, c)];

		to_sockaddr(a->family, a->src, a->sport, ss);
		return 0;
	}
	return getpeername(c->fd, (struct sockaddr *)ss, &len) < 0 ? -errno : 0;
}

int proxyp_addrs(struct worker *w, const struct conn *c, struct proxy_addr *a)
{
	struct sockaddr_storage src, dst;
	socklen_t len = sizeof(dst);
	struct proxy_addr *st;
	uint8_t f2;

	if ((c->flags & CONN_F_PROXIED) && (st = store_of(w))) {
		*a = st[ring_slot(w, c)];
		return 0;
	}
	memset(a, 0, sizeof(*a));
	if (proxyp_client(w, c, &src) < 0 || getsockname(c->fd, (struct sockaddr *)&dst, &len) < 0)
		return -errno;
	if (!from_sockaddr(&src, &a->family, a->src, &a->sport) ||
	    !from_sockaddr(&dst, &f2, a->dst, &a->dport) || f2 != a->family)
		a->family = 0; /* sent as UNKNOWN / LOCAL */
	return 0;
}

/* ---- the header phase ---- */

static bool cidr_match(const struct cfg_cidr *n, int family, const uint8_t *ip)
{
	unsigned full = n->bits / 8, rest = n->bits % 8;

	if (n->family != family || memcmp(n->addr, ip, full))
		return false;
	return !rest || !((n->addr[full] ^ ip[full]) & (uint8_t)(0xff00u >> rest));
}

/* Whether <c>'s source may send a header. An IPv4-mapped IPv6 peer (a
 * dual-stack socket) is matched as the IPv4 address it is. */
/* 1 when the connection's source is in the listener's trusted list, 0
 * when not, -errno when the peer is gone already (reset before the accept
 * was seen: no address to judge, nothing to count against the source). */
static int trusted(const struct cfg_listener *l, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint8_t family, ip[16];
	uint16_t port;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (!from_sockaddr(&ss, &family, ip, &port))
		return 0;
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)ip)) {
		memmove(ip, ip + 12, 4);
		family = AF_INET;
	}
	for (unsigned i = 0; i < l->npp_trusted; i++)
		if (cidr_match(&l->pp_trusted[i], family, ip))
			return 1;
	return 0;
}

static void pp_drop_buf(struct worker *w, struct conn *c)
{
	if (c->pctx) {
		pool_put(w->pc, c->pctx, c->pword);
		c->pctx = NULL;
	}
	c->pword = 0;
}

static void pp_fail(struct worker *w, struct conn *c, int why)
{
	static __thread struct log_ratelimit rl;
	const char *what = why == PROXY_EBIG   ? "oversized"
	                   : why == -EPIPE     ? "truncated"
	                   : why == -ETIMEDOUT ? "not complete in time"
	                   : why == -EACCES    ? "from an untrusted source"
	                                       : "malformed";

	switch (why) {
	case PROXY_EBIG:
		WSTAT_INC(w, proxy_oversized);
		break;
	case -EPIPE:
		WSTAT_INC(w, proxy_truncated);
		break;
	case -ETIMEDOUT:
		WSTAT_INC(w, proxy_timeouts);
		break;
	case -EACCES:
		WSTAT_INC(w, proxy_untrusted);
		break;
	default:
		WSTAT_INC(w, proxy_bad);
		break;
	}
	if (log_ratelimit(&rl, 5))
		log_info("listener %s: PROXY header %s: connection closed",
		         ring_listener(w, c)->cfg->name, what);
	ring_close(w, c);
}

/* The header is read: the listener's transport and protocol take over. */
static void pp_done(struct worker *w, struct conn *c, const struct proxy_addr *a)
{
	struct wlistener *ls = ring_listener(w, c);

	timer_cancel(w->tw, &c->tm);
	pp_drop_buf(w, c);
	if (a->family) {
		struct proxy_addr *e = slot_addr(w, c);

		if (!e) {
			WSTAT_INC(w, buffer_fails);
			ring_close(w, c);
			return;
		}
		*e = *a;
		c->flags |= CONN_F_PROXIED;
		WSTAT_INC(w, proxy_ok);
	} else {
		WSTAT_INC(w, proxy_local);
	}
	c->proto = ls->proto;
	xprt_of(c)->accept(w, c);
}

static void pp_poll(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = ring_sqe(w);

	io_uring_prep_poll_add(sqe, c->fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ring_ud(w, c, OP_POLL_IN));
	c->inflight++;
}

/* Reads what has come of the header: peeks at the socket behind the bytes
 * already taken, and takes only bytes known to be the header's: all of
 * them while it is incomplete (no byte of an incomplete header can be the
 * next protocol's), exactly its rest once it is complete. */
static void pp_read(struct worker *w, struct conn *c)
{
	uint8_t tmp[PROXY_MAX];
	uint32_t have = c->pword;
	struct proxy_addr a;
	ssize_t n;
	int r;

	if (have)
		memcpy(tmp, c->pctx, have);
	n = recv(c->fd, tmp + have, sizeof(tmp) - have, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			pp_poll(w, c);
		else
			pp_fail(w, c, -EPIPE);
		return;
	}
	if (n == 0) {
		pp_fail(w, c, -EPIPE);
		return;
	}
	r = proxy_parse(tmp, have + (size_t)n, &a);
	if (r < 0) {
		pp_fail(w, c, r);
		return;
	}
	if (r == PROXY_MORE) {
		if (!c->pctx && !(c->pctx = pool_get(w->pc, BUF_SMALL))) {
			WSTAT_INC(w, buffer_fails);
			ring_close(w, c);
			return;
		}
		if (recv(c->fd, (char *)c->pctx + have, (size_t)n, MSG_DONTWAIT) != n) {
			pp_fail(w, c, -EPIPE);
			return;
		}
		c->pword = have + (uint32_t)n;
		pp_poll(w, c);
		return;
	}
	if (recv(c->fd, tmp + have, (size_t)r - have, MSG_DONTWAIT) != (ssize_t)(r - have)) {
		pp_fail(w, c, -EPIPE);
		return;
	}
	pp_done(w, c, &a);
}

static void pp_timer(struct timer *t, void *arg)
{
	struct conn *c = container_of(t, struct conn, tm);

	pp_fail(arg, c, -ETIMEDOUT);
}

bool proxyp_accepts(const struct wlistener *ls)
{
	return ls->cfg->proxy_protocol == CFG_PP_ACCEPT;
}

void proxyp_start(struct worker *w, struct conn *c)
{
	const struct cfg_listener *l = ring_listener(w, c)->cfg;
	uint64_t ms = l->timeouts.header;

	if (!proxyp_id) { /* never registered (a unit test's worker) */
		ring_close(w, c);
		return;
	}
	c->proto = proxyp_id;
	switch (trusted(l, c->fd)) {
	case 1:
		break;
	case 0:
		pp_fail(w, c, -EACCES);
		return;
	default: /* gone before its header: as if it ended inside it */
		pp_fail(w, c, -EPIPE);
		return;
	}
	/* The header's time: the listener's header timeout, or its handshake
	 * timeout when that is shorter on a TLS listener (the header is part
	 * of what the client sends before the handshake ends). */
	if (l->tls.enabled && l->timeouts.handshake < ms)
		ms = l->timeouts.handshake;
	timer_init(&c->tm, pp_timer);
	timer_arm(w->tw, &c->tm, w->now + ms);
	pp_read(w, c); /* often already there: TCP_DEFER_ACCEPT, or the sender's first segment */
}

static void pp_polled(struct worker *w, struct conn *c, uint8_t op, int res)
{
	if (res < 0 || (c->flags & CONN_F_CLOSING)) {
		pp_fail(w, c, -EPIPE);
		return;
	}
	pp_read(w, c);
}

static void pp_data(struct worker *w, struct conn *c, char *buf, uint32_t len)
{
	pool_put(w->pc, buf, len); /* nothing reads on the ring in this phase */
	ring_close(w, c);
}

static void pp_close(struct worker *w, struct conn *c)
{
	ring_close(w, c);
}

static void pp_error(struct worker *w, struct conn *c, int err)
{
	ring_close(w, c);
}

static void pp_nothing(struct worker *w, struct conn *c)
{
}

static void pp_release(struct worker *w, struct conn *c)
{
	pp_drop_buf(w, c);
}

static const struct proto_ops proxyp_ops = {
    .name = "proxy-header",
    .records = 1,
    .worker_deinit = proxyp_worker_deinit,
    .accept = pp_nothing,
    .data = pp_data,
    .eof = pp_close,
    .error = pp_error,
    .drained = pp_nothing,
    .polled = pp_polled,
    .resume = pp_nothing,
    .drain = pp_close,
    .abort = pp_close,
    .release = pp_release,
};

int proxyp_register(void)
{
	int id = ops_proto_add(&proxyp_ops);

	if (id < 0)
		return id;
	proxyp_id = (uint8_t)id;
	return 0;
}

/* ---- sending ---- */

int proxyp_upstream(struct worker *w, struct conn *c, struct conn *u, int version)
{
	uint8_t hdr[PROXY_BUILD_MAX];
	struct proxy_addr a, *e;
	size_t n;
	int ret;

	ret = proxyp_addrs(w, c, &a);
	if (ret < 0)
		return ret;
	e = slot_addr(w, u);
	if (!e)
		return -ENOMEM;
	n = proxy_build(version, &a, hdr);
	if (!n || bufq_append(w, u, (const char *)hdr, n, BUF_SMALL, NULL) < 0)
		return -ENOMEM;
	*e = a;
	u->flags |= CONN_F_PROXIED;
	WSTAT_INC(w, proxy_sent);
	return 0;
}

bool proxyp_reusable(struct worker *w, const struct proxy_addr *a, const struct conn *u)
{
	struct proxy_addr *st = store_of(w);
	const struct proxy_addr *e;
	size_t al = a->family == AF_INET ? 4 : 16;

	if (!(u->flags & CONN_F_PROXIED) || !st)
		return false;
	e = &st[ring_slot(w, u)];
	return e->family == a->family &&
	       (!a->family || (!memcmp(e->src, a->src, al) && !memcmp(e->dst, a->dst, al)));
}
