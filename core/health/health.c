/* Health checks on the control thread's ring (health.h): the set of
 * checks (one per backend of a checked pool, kept in step with each config
 * and the backend registry), passive holds, and when each check runs; one
 * check's own work is check.c's.
 *
 * One struct hcheck per backend of a checked pool, in an array sorted by
 * registry entry at each sync. A check is idle (waiting for its next time)
 * or has exactly one operation in flight.
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
#include "core/health/health-int.h"
#include "core/health/health.h"
#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"
#include "core/parse/h1.h"

void health_cqe(struct health *h, const struct io_uring_cqe *cqe)
{
	health__check_cqe(h, (struct hcheck *)(uintptr_t)(cqe->user_data & ~HEALTH_UD_MASK),
	                  cqe->res);
}

/* ---- the set of checks ---- */

static void check_free(struct hcheck *chk)
{
	health__check_end(chk);
	health__params_free(&chk->p);
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
	if (health__params_build(&chk->p, pool, a->text) < 0) {
		health__params_free(&chk->p);
		free(chk);
		return NULL;
	}
	chk->be = backend_ref(be);
	memcpy(&chk->ss, &a->ss, sizeof(chk->ss));
	chk->sslen = a->len;
	chk->fd = -1;
	chk->st.up = atomic_load_explicit(&be->health, memory_order_relaxed) == BACKEND_UP;
	chk->passive_seen = atomic_load_explicit(&be->passive_downs, memory_order_relaxed);
	chk->next = now + (uint64_t)(health__rand(h) * (double)chk->p.interval);
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
	if (health__params_build(&p, pool, pool->backends[b].address.text) < 0) {
		health__params_free(&p);
		chk->seen = true; /* keeps its old settings */
		return -ENOMEM;
	}
	check_unwatch(chk, p.active, p.passive);
	if (!chk->p.active && p.active)
		chk->next = now + (uint64_t)(health__rand(h) * (double)p.interval);
	if (chk->phase == HC_IDLE) { /* in flight: the request text is in use */
		health__params_free(&chk->p);
		chk->p = p;
	} else {
		health__params_free(&p);
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
			health__check_start(h, chk, now);
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
			struct io_uring_sqe *sqe = health__op_sqe(h, h->c[i]);

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
