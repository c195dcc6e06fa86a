/* One health check's life on the control ring (health-int.h): its
 * settings from the pool's config, its operations (connect, then for http
 * send and recv, each linked to a timeout for what is left of the check's
 * time; the timeout's own completion carries user_data 0 and is ignored),
 * the answer and the verdict it gives (rise/fall).
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/value.h"
#include "core/base/log.h"
#include "core/health/health-int.h"
#include "core/health/health-t.h"
#include "core/lb/backend.h"

/* ---- pure parts (unit-tested) ---- */

/* The wait after a check: interval x (1 - jitter/2 + jitter x u), u in
 * [0, 1): on average the interval, never 0. */
uint64_t health__wait(uint64_t interval, double jitter, double u)
{
	double w = (double)interval * (1.0 - jitter / 2 + jitter * u);

	return w < 1 ? 1 : (uint64_t)w;
}

/* Counts one result; returns 1 when the verdict turned up, -1 when it
 * turned down, else 0. */
int health__count(struct hcount *s, bool ok, uint32_t rise, uint32_t fall)
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
bool health__status_ok(const struct hparams *p, unsigned status)
{
	for (int i = 0; i < p->nstatus; i++)
		if (status >= p->lo[i] && status <= p->hi[i])
			return true;
	return false;
}

/* xorshift64*, as a double in [0, 1). */
double health__rand(struct health *h)
{
	uint64_t x = h->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	h->rng = x;
	return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

/* ---- settings ---- */

void health__params_free(struct hparams *p)
{
	free(p->req);
	free(p->body);
	memset(p, 0, sizeof(*p));
}

static const char *const health_methods[] = {"GET", "HEAD", "OPTIONS"};

/* The settings of pool <pool> for backend <addr>. Returns 0 or -ENOMEM. */
int health__params_build(struct hparams *p, const struct cfg_pool *pool, const char *addr)
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
struct io_uring_sqe *health__op_sqe(struct health *h, struct hcheck *chk)
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
	struct io_uring_sqe *sqe = health__op_sqe(h, chk);

	io_uring_prep_connect(sqe, chk->fd, (struct sockaddr *)&chk->ss, chk->sslen);
	op_link_timeout(h, chk, sqe);
}

static void op_send(struct health *h, struct hcheck *chk)
{
	struct io_uring_sqe *sqe = health__op_sqe(h, chk);

	io_uring_prep_send(sqe, chk->fd, chk->p.req + chk->sent, chk->p.req_len - chk->sent,
	                   MSG_NOSIGNAL);
	op_link_timeout(h, chk, sqe);
}

static void op_recv(struct health *h, struct hcheck *chk)
{
	struct io_uring_sqe *sqe = health__op_sqe(h, chk);

	io_uring_prep_recv(sqe, chk->fd, chk->buf + chk->len, HEALTH_BUF - chk->len, 0);
	op_link_timeout(h, chk, sqe);
}

/* ---- results ---- */

/* Closes what the check in progress holds; <chk> is idle after it. */
void health__check_end(struct hcheck *chk)
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

	health__check_end(chk);
	atomic_fetch_add_explicit(ok ? &chk->be->checks_ok : &chk->be->checks_fail, 1,
	                          memory_order_relaxed);
	if (!ok && why != chk->why)
		snprintf(chk->why, sizeof(chk->why), "%s", why);
	t = health__count(&chk->st, ok, chk->p.rise, chk->p.fall);
	if (t > 0)
		backend_set_health(chk->be, true, "check-passed");
	else if (t < 0)
		backend_set_health(chk->be, false, chk->why);
	chk->next = now + health__wait(chk->p.interval, chk->p.jitter, health__rand(h));
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

void health__check_start(struct health *h, struct hcheck *chk, uint64_t now)
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

void health__check_cqe(struct health *h, struct hcheck *chk, int res)
{
	uint64_t now = clock_ms();

	chk->busy = false;
	h->inflight--;
	if (chk->gone) {
		health__check_end(chk);
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
