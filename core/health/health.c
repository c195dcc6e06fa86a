/* Health checks on the control thread's ring (health.h).
 *
 * One struct hcheck per backend of a checked pool, in an array sorted by
 * registry entry at each sync. A check is idle (waiting for its next time)
 * or has exactly one operation in flight: connect, then for http send and
 * recv, each linked to a timeout for what is left of the check's time
 * (the timeout's own completion carries user_data 0 and is ignored).
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "config/value.h"
#include "core/base/log.h"
#include "core/health/health.h"
#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"
#include "core/parse/h1.h"

#define HEALTH_BUF          16384 /* http: response bytes read at most */
#define HEALTH_PASSIVE_TICK 100   /* ms between looks at passive holds */
#define HEALTH_IDLE_WAKE    60000 /* ms: the longest health_run() asks to sleep */

enum hphase {
	HC_IDLE,
	HC_CONNECT,
	HC_SEND,
	HC_RECV,
};

/* Consecutive results and the verdict they give. */
struct hcount {
	uint32_t oks, fails;
	bool up;
};

/* What a check does: its pool's settings, copied so that a check outlives
 * the snapshot it came from. */
struct hparams {
	bool active, passive;
	enum cfg_check_type type;
	uint64_t interval, timeout;
	uint32_t rise, fall;
	double jitter;
	bool head; /* method HEAD: the answer has no body */
	uint16_t lo[CFG_STATUS_RANGES], hi[CFG_STATUS_RANGES];
	int nstatus;
	char *req; /* http: the whole request */
	size_t req_len;
	char *body; /* http: a substring the body must hold, or NULL */
	size_t body_len;
};

struct hcheck {
	struct backend *be; /* one reference */
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct hparams p;
	struct hcount st;
	enum hphase phase;
	bool busy; /* an operation in flight */
	bool gone; /* not in the config any more: freed once idle */
	bool seen; /* health_sync(): listed by the new config */
	int fd;
	uint64_t next;     /* ms: the next check starts */
	uint64_t deadline; /* ms: the check in progress fails */
	uint64_t passive_seen;
	char *buf; /* http: the answer so far */
	uint32_t len, sent, head_len;
	struct h1_parser hp;
	struct h1_msg msg;
	struct __kernel_timespec ts;
	char why[32]; /* reason of the last failure */
};

struct health {
	struct io_uring *ring;
	struct hcheck **c; /* sorted by ->be at each sync */
	unsigned n;
	unsigned inflight;
	uint64_t rng;
};

/* ---- pure parts (unit-tested) ---- */

/* The wait after a check: interval x (1 - jitter/2 + jitter x u), u in
 * [0, 1): on average the interval, never 0. */
static uint64_t health__wait(uint64_t interval, double jitter, double u)
{
	double w = (double)interval * (1.0 - jitter / 2 + jitter * u);

	return w < 1 ? 1 : (uint64_t)w;
}

/* Counts one result; returns 1 when the verdict turned up, -1 when it
 * turned down, else 0. */
static int health__count(struct hcount *s, bool ok, uint32_t rise, uint32_t fall)
{
	if (ok) {
		s->fails = 0;
		if (s->oks < UINT32_MAX)
			s->oks++;
		if (!s->up && s->oks >= rise) {
			s->up = true;
			return 1;
		}
		return 0;
	}
	s->oks = 0;
	if (s->fails < UINT32_MAX)
		s->fails++;
	if (s->up && s->fails >= fall) {
		s->up = false;
		return -1;
	}
	return 0;
}

/* Whether <status> is in the check's ranges. */
static bool health__status_ok(const struct hparams *p, unsigned status)
{
	for (int i = 0; i < p->nstatus; i++)
		if (status >= p->lo[i] && status <= p->hi[i])
			return true;
	return false;
}

/* xorshift64*, as a double in [0, 1). */
static double health_rand(struct health *h)
{
	uint64_t x = h->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	h->rng = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

/* ---- settings ---- */

static void params_free(struct hparams *p)
{
	free(p->req);
	free(p->body);
	memset(p, 0, sizeof(*p));
}

static const char *const health_methods[] = {"GET", "HEAD", "OPTIONS"};

/* The settings of pool <pool> for backend <addr>. Returns 0 or -ENOMEM. */
static int params_build(struct hparams *p, const struct cfg_pool *pool, const char *addr)
{
	const struct cfg_health *hc = &pool->health;
	int n;

	memset(p, 0, sizeof(*p));
	p->active = hc->enabled;
	p->passive = hc->passive.enabled;
	p->type = hc->type;
	p->interval = hc->interval;
	p->timeout = hc->timeout;
	p->rise = hc->rise;
	p->fall = hc->fall;
	p->jitter = hc->jitter;
	p->head = hc->method == CFG_METHOD_HEAD;
	p->nstatus = value_statuses(hc->status ? hc->status : "200-399", p->lo, p->hi);
	if (p->type != CFG_CHECK_HTTP)
		return 0;
	n = asprintf(&p->req,
	             "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringlb-health-check\r\n"
	             "Accept: */*\r\nConnection: close\r\n\r\n",
	             health_methods[hc->method], hc->path ? hc->path : "/",
	             hc->host ? hc->host : addr);
	if (n < 0) {
		p->req = NULL;
		return -ENOMEM;
	}
	p->req_len = (size_t)n;
	if (hc->body && hc->body_len) {
		p->body = malloc(hc->body_len);
		if (!p->body)
			return -ENOMEM;
		memcpy(p->body, hc->body, hc->body_len);
		p->body_len = hc->body_len;
	}
	return 0;
}

/* ---- operations on the ring ---- */

/* Queues <chk>'s next operation (prepared by <prep> on the first SQE) with
 * a linked timeout for what is left of its time. */
static struct io_uring_sqe *op_sqe(struct health *h, struct hcheck *chk)
{
	struct io_uring_sqe *sqe;

	if (io_uring_sq_space_left(h->ring) < 2)
		io_uring_submit(h->ring);
	sqe = io_uring_get_sqe(h->ring);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)chk | HEALTH_UD_TAG);
	return sqe;
}

static void op_link_timeout(struct health *h, struct hcheck *chk, struct io_uring_sqe *sqe)
{
	uint64_t now = clock_ms(), left = chk->deadline > now ? chk->deadline - now : 1;

	sqe->flags |= IOSQE_IO_LINK;
	chk->ts.tv_sec = (long long)(left / 1000);
	chk->ts.tv_nsec = (long long)(left % 1000) * 1000000;
	sqe = io_uring_get_sqe(h->ring);
	io_uring_prep_link_timeout(sqe, &chk->ts, 0);
	io_uring_sqe_set_data64(sqe, 0);
	chk->busy = true;
	h->inflight++;
}

static void op_connect(struct health *h, struct hcheck *chk)
{
	struct io_uring_sqe *sqe = op_sqe(h, chk);

	io_uring_prep_connect(sqe, chk->fd, (struct sockaddr *)&chk->ss, chk->sslen);
	op_link_timeout(h, chk, sqe);
}

static void op_send(struct health *h, struct hcheck *chk)
{
	struct io_uring_sqe *sqe = op_sqe(h, chk);

	io_uring_prep_send(sqe, chk->fd, chk->p.req + chk->sent, chk->p.req_len - chk->sent,
	                   MSG_NOSIGNAL);
	op_link_timeout(h, chk, sqe);
}

static void op_recv(struct health *h, struct hcheck *chk)
{
	struct io_uring_sqe *sqe = op_sqe(h, chk);

	io_uring_prep_recv(sqe, chk->fd, chk->buf + chk->len, HEALTH_BUF - chk->len, 0);
	op_link_timeout(h, chk, sqe);
}

/* ---- results ---- */

/* Closes what the check in progress holds; <chk> is idle after it. */
static void check_end(struct hcheck *chk)
{
	if (chk->fd >= 0)
		close(chk->fd);
	chk->fd = -1;
	free(chk->buf);
	chk->buf = NULL;
	h1_msg_release(&chk->msg);
	memset(&chk->msg, 0, sizeof(chk->msg));
	chk->phase = HC_IDLE;
}

/* The check in progress of <chk> ended, passed (<ok>) or failed for <why>. */
static void check_done(struct health *h, struct hcheck *chk, bool ok, const char *why, uint64_t now)
{
	int t;

	check_end(chk);
	atomic_fetch_add_explicit(ok ? &chk->be->checks_ok : &chk->be->checks_fail, 1,
	                          memory_order_relaxed);
	if (!ok && why != chk->why)
		snprintf(chk->why, sizeof(chk->why), "%s", why);
	t = health__count(&chk->st, ok, chk->p.rise, chk->p.fall);
	if (t > 0)
		backend_set_health(chk->be, true, "check-passed");
	else if (t < 0)
		backend_set_health(chk->be, false, chk->why);
	chk->next = now + health__wait(chk->p.interval, chk->p.jitter, health_rand(h));
}

/* A failed operation's error as a reason token. */
static const char *check_why(int res)
{
	switch (res) {
	case -ECANCELED:
	case -ETIME:
		return "check-timeout";
	case -ECONNREFUSED:
		return "check-refused";
	case -ECONNRESET:
	case -EPIPE:
		return "check-reset";
	case -ENETUNREACH:
	case -EHOSTUNREACH:
		return "check-unreachable";
	default:
		return "check-error";
	}
}

static void check_start(struct health *h, struct hcheck *chk, uint64_t now)
{
	chk->fd = socket(chk->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (chk->fd < 0) {
		check_done(h, chk, false, "check-socket", now);
		return;
	}
	chk->deadline = now + chk->p.timeout;
	chk->phase = HC_CONNECT;
	op_connect(h, chk);
}

/* http: what the answer so far says; more is read when it says nothing yet.
 * <eof>: the backend closed. */
static void check_answer(struct health *h, struct hcheck *chk, bool eof, uint64_t now)
{
	const char *body;
	size_t blen;
	int r;

	if (!chk->head_len) {
		r = h1_parse(&chk->hp, chk->buf, chk->len, &chk->msg);
		if (r < 0 || (r == 0 && (eof || chk->len == HEALTH_BUF))) {
			check_done(h, chk, false, "check-bad-answer", now);
			return;
		}
		if (r == 0) {
			op_recv(h, chk);
			return;
		}
		chk->head_len = (uint32_t)r;
		if (!health__status_ok(&chk->p, chk->msg.status)) {
			snprintf(chk->why, sizeof(chk->why), "check-status-%u", chk->msg.status);
			check_done(h, chk, false, chk->why, now);
			return;
		}
		if (!chk->p.body) {
			check_done(h, chk, true, NULL, now);
			return;
		}
	}
	body = chk->buf + chk->head_len;
	blen = chk->len - chk->head_len;
	if (memmem(body, blen, chk->p.body, chk->p.body_len)) {
		check_done(h, chk, true, NULL, now);
		return;
	}
	if (eof || chk->len == HEALTH_BUF || chk->msg.body == H1_BODY_NONE ||
	    (chk->msg.body == H1_BODY_LENGTH && blen >= chk->msg.content_length)) {
		check_done(h, chk, false, "check-body", now);
		return;
	}
	op_recv(h, chk);
}

/* The connect of <chk> succeeded: a tcp check passed, an http one sends
 * its request. */
static void check_connected(struct health *h, struct hcheck *chk, uint64_t now)
{
	if (chk->p.type != CFG_CHECK_HTTP) {
		check_done(h, chk, true, NULL, now);
		return;
	}
	chk->buf = malloc(HEALTH_BUF);
	if (!chk->buf) {
		check_done(h, chk, false, "check-nomem", now);
		return;
	}
	chk->len = chk->sent = chk->head_len = 0;
	h1_parser_init(&chk->hp, true, NULL);
	if (chk->p.head)
		chk->hp.flags |= H1_F_HEAD_REQ;
	chk->phase = HC_SEND;
	op_send(h, chk);
}

void health_cqe(struct health *h, const struct io_uring_cqe *cqe)
{
	struct hcheck *chk = (struct hcheck *)(uintptr_t)(cqe->user_data & ~HEALTH_UD_MASK);
	uint64_t now = clock_ms();
	int res = cqe->res;

	chk->busy = false;
	h->inflight--;
	if (chk->gone) {
		check_end(chk);
		return;
	}
	if (res < 0) {
		check_done(h, chk, false, check_why(res), now);
		return;
	}
	switch (chk->phase) {
	case HC_CONNECT:
		check_connected(h, chk, now);
		break;
	case HC_SEND:
		chk->sent += (uint32_t)res;
		if (chk->sent < chk->p.req_len) {
			op_send(h, chk);
			break;
		}
		chk->phase = HC_RECV;
		op_recv(h, chk);
		break;
	case HC_RECV:
		chk->len += (uint32_t)res;
		check_answer(h, chk, res == 0, now);
		break;
	case HC_IDLE:
		break;
	}
}

/* ---- the set of checks ---- */

static void check_free(struct hcheck *chk)
{
	check_end(chk);
	params_free(&chk->p);
	backend_put(chk->be);
	free(chk);
}

static int check_cmp(const void *a, const void *b)
{
	const struct backend *x = (*(struct hcheck *const *)a)->be;
	const struct backend *y = (*(struct hcheck *const *)b)->be;

	return x < y ? -1 : x > y;
}

/* The check of <be> in the sorted array, or NULL. */
static struct hcheck *check_find(struct health *h, const struct backend *be)
{
	unsigned lo = 0, hi = h->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (h->c[mid]->be == be)
			return h->c[mid];
		if (h->c[mid]->be < be)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A backend no check watches any more must not stay down for a verdict
 * nobody will revise: active verdict back to up, passive hold ended. */
static void check_unwatch(struct hcheck *chk, bool active, bool passive)
{
	if (!active && chk->p.active && !chk->st.up) {
		chk->st = (struct hcount){.up = true};
		backend_set_health(chk->be, true, "unchecked");
	}
	if (!passive)
		backend_passive_expire(chk->be, 0, true);
}

/* A new check of backend <b> of pool <pool>, whose entry is <be>. */
static struct hcheck *check_new(struct health *h, struct backend *be, const struct cfg_pool *pool,
                                unsigned b, uint64_t now)
{
	const struct cfg_addr *a = &pool->backends[b].address;
	struct hcheck *chk = calloc(1, sizeof(*chk));

	if (!chk)
		return NULL;
	if (params_build(&chk->p, pool, a->text) < 0) {
		params_free(&chk->p);
		free(chk);
		return NULL;
	}
	chk->be = backend_ref(be);
	memcpy(&chk->ss, &a->ss, sizeof(chk->ss));
	chk->sslen = a->len;
	chk->fd = -1;
	chk->st.up = atomic_load_explicit(&be->health, memory_order_relaxed) == BACKEND_UP;
	chk->passive_seen = atomic_load_explicit(&be->passive_downs, memory_order_relaxed);
	chk->next = now + (uint64_t)(health_rand(h) * (double)chk->p.interval);
	chk->seen = true;
	return chk;
}

/* Follows backend <b> of <pool> (entry <be>): its check kept and updated,
 * or a new one appended to <add>. Returns 0 or -ENOMEM. */
static int sync_backend(struct health *h, struct backend *be, const struct cfg_pool *pool,
                        unsigned b, uint64_t now, struct hcheck **add, unsigned *nadd)
{
	bool want = pool->health.enabled || pool->health.passive.enabled;
	struct hcheck *chk = check_find(h, be);
	struct hparams p;

	if (chk && chk->seen)
		return 0; /* the same address twice in a pool: one check */
	if (!want) {
		if (chk)
			check_unwatch(chk, false, false);
		return 0;
	}
	if (!chk) {
		add[*nadd] = check_new(h, be, pool, b, now);
		return add[*nadd] ? (++*nadd, 0) : -ENOMEM;
	}
	if (params_build(&p, pool, pool->backends[b].address.text) < 0) {
		params_free(&p);
		chk->seen = true; /* keeps its old settings */
		return -ENOMEM;
	}
	check_unwatch(chk, p.active, p.passive);
	if (!chk->p.active && p.active)
		chk->next = now + (uint64_t)(health_rand(h) * (double)p.interval);
	if (chk->phase == HC_IDLE) { /* in flight: the request text is in use */
		params_free(&chk->p);
		chk->p = p;
	} else {
		params_free(&p);
	}
	chk->seen = true;
	chk->gone = false;
	return 0;
}

int health_sync(struct health *h, const struct config *cfg, uint64_t now)
{
	unsigned total = 0, nadd = 0, i, b;
	struct hcheck **add, **c;
	int ret = 0;

	for (i = 0; i < cfg->npools; i++)
		total += cfg->pools[i].nbackends;
	add = calloc(total ? total : 1, sizeof(*add));
	if (!add)
		return -ENOMEM;
	for (i = 0; i < h->n; i++)
		h->c[i]->seen = false;
	for (i = 0; i < cfg->npools; i++) {
		const struct lb *lb = snapshot_lb(cfg, i);

		for (b = 0; lb && b < cfg->pools[i].nbackends; b++)
			if (sync_backend(h, lb_backend(lb, (int)b), &cfg->pools[i], b, now, add,
			                 &nadd) < 0)
				ret = -ENOMEM;
	}
	for (i = 0; i < h->n; i++)
		if (!h->c[i]->seen)
			h->c[i]->gone = true;
	c = realloc(h->c, (h->n + nadd ? h->n + nadd : 1) * sizeof(*c));
	if (!c) {
		for (i = 0; i < nadd; i++)
			check_free(add[i]);
		free(add);
		return -ENOMEM;
	}
	memcpy(c + h->n, add, nadd * sizeof(*c));
	h->c = c;
	h->n += nadd;
	qsort(h->c, h->n, sizeof(*h->c), check_cmp);
	free(add);
	if (ret < 0)
		log_warn("health: some checks could not be set up: %s", strerror(-ret));
	return ret;
}

/* Passive detection took <chk>'s backend down since the last look: with
 * active checks, the verdict is down too, so that rise checks must pass;
 * a hold that is over ends. Returns when to look again (0: no hold). */
static uint64_t check_passive(struct hcheck *chk, uint64_t now)
{
	uint64_t d = atomic_load_explicit(&chk->be->passive_downs, memory_order_relaxed);

	if (d != chk->passive_seen) {
		chk->passive_seen = d;
		if (chk->p.active) {
			chk->st = (struct hcount){.up = false};
			backend_set_health(chk->be, false, "passive");
		}
	}
	if (!atomic_load_explicit(&chk->be->passive, memory_order_relaxed) ||
	    backend_passive_expire(chk->be, now, false))
		return 0;
	return atomic_load_explicit(&chk->be->passive_until, memory_order_relaxed);
}

uint64_t health_run(struct health *h, uint64_t now)
{
	uint64_t next = now + HEALTH_IDLE_WAKE, t;
	unsigned i, k;

	for (i = 0, k = 0; i < h->n; i++) {
		struct hcheck *chk = h->c[i];

		if (chk->gone && !chk->busy) {
			check_free(chk);
			continue;
		}
		h->c[k++] = chk;
		if (chk->gone)
			continue;
		if (chk->p.passive) {
			t = check_passive(chk, now);
			t = t ? t : now + HEALTH_PASSIVE_TICK;
			next = t < next ? t : next;
		}
		if (!chk->p.active || chk->phase != HC_IDLE)
			continue;
		if (now >= chk->next)
			check_start(h, chk, now);
		if (chk->phase == HC_IDLE && chk->next < next)
			next = chk->next;
	}
	h->n = k;
	return next;
}

struct health *health_new(struct io_uring *ring, uint64_t seed)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ring = ring;
	h->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	return h;
}

unsigned health_inflight(const struct health *h)
{
	return h->inflight;
}

void health_free(struct health *h)
{
	struct __kernel_timespec ts = {.tv_nsec = 100000000};
	uint64_t deadline = clock_ms() + 2000;
	struct io_uring_cqe *cqe;
	unsigned i;

	if (!h)
		return;
	for (i = 0; i < h->n; i++) {
		h->c[i]->gone = true;
		if (h->c[i]->busy) {
			struct io_uring_sqe *sqe = op_sqe(h, h->c[i]);

			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)h->c[i] | HEALTH_UD_TAG,
			                       0);
			io_uring_sqe_set_data64(sqe, 0);
		}
	}
	while (h->inflight && clock_ms() < deadline) {
		if (io_uring_submit_and_wait_timeout(h->ring, &cqe, 1, &ts, NULL) < 0)
			continue;
		while (io_uring_peek_cqe(h->ring, &cqe) == 0) {
			if ((cqe->user_data & HEALTH_UD_MASK) == HEALTH_UD_TAG)
				health_cqe(h, cqe);
			io_uring_cqe_seen(h->ring, cqe);
		}
	}
	for (i = 0; i < h->n; i++)
		if (!h->c[i]->busy) /* else the kernel may still write to it: leaked */
			check_free(h->c[i]);
	free(h->c);
	free(h);
}
