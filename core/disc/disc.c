/* Service discovery with c-ares (disc.h). */
#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config/config.h"
#include "core/base/log.h"
#include "core/disc/disc.h"
#include "core/disc/dset.h"

/* One watched pool: its question, its channel, its last good set. */
struct disc_pool {
	uint32_t id; /* in epoll data beside the socket, never reused */
	char *pool, *dns, *servers;
	enum cfg_dns_type type;
	uint16_t port;
	uint64_t interval;
	ares_channel ch;
	struct dset good; /* the last good answer, sorted */
	bool have_good;
	bool answered; /* a first answer or failure came */
	bool busy;     /* a query is in flight */
	bool failing;  /* in a streak of failures (logged once) */
	unsigned fails;
	uint64_t due, backoff;
	/* the query in flight */
	struct dset pend;
	uint32_t ttl;
	unsigned left; /* SRV: target lookups outstanding, +1 while they start */
	char why[128]; /* SRV: the last target failure */
};

/* One SRV target's lookup. */
struct disc_target {
	struct disc_pool *p;
	uint16_t port;
	uint32_t weight;
};

static struct {
	struct disc_pool **p;
	unsigned n;
	int epfd;
	uint32_t next_id;
	bool changed;
} disc = {.epfd = -1};

static const char *const disc_type_names[] = {"A", "AAAA", "SRV"};

/* c-ares opens, watches or closes <fd>: mirror it in the epoll set. */
static void disc_sock_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct disc_pool *p = data;
	struct epoll_event ev = {
	    .events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0),
	    .data.u64 = (uint64_t)p->id << 32 | (uint32_t)fd,
	};

	if (!readable && !writable) {
		epoll_ctl(disc.epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	if (epoll_ctl(disc.epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(disc.epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void disc_pool_free(struct disc_pool *p)
{
	if (!p)
		return;
	if (p->ch)
		ares_destroy(p->ch); /* pending callbacks see ARES_EDESTRUCTION */
	dset_free(&p->good);
	dset_free(&p->pend);
	free(p->pool);
	free(p->dns);
	free(p->servers);
	free(p);
}

/* "a:53,[::1]:53" for c-ares, or NULL for /etc/resolv.conf's. */
static char *disc_servers(const struct cfg_discovery *d)
{
	size_t len = 1;
	char *s;

	if (!d->resolvers.n)
		return NULL;
	for (unsigned i = 0; i < d->resolvers.n; i++)
		len += strlen(d->resolvers.v[i]) + 1;
	s = calloc(1, len);
	for (unsigned i = 0; s && i < d->resolvers.n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, d->resolvers.v[i]);
	}
	return s;
}

static int disc_channel(struct disc_pool *p)
{
	struct ares_options o = {
	    .flags = ARES_FLAG_NOSEARCH,
	    .timeout = DISC_TIMEOUT_MS,
	    .tries = 2,
	    .lookups = "b", /* DNS only: no /etc/hosts */
	    .sock_state_cb = disc_sock_cb,
	    .sock_state_cb_data = p,
	};
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
	           ARES_OPT_SOCK_STATE_CB;
	int st = ares_init_options(&p->ch, &o, mask);

	if (st != ARES_SUCCESS) {
		p->ch = NULL;
		log_err("discovery pool=%s: %s", p->pool, ares_strerror(st));
		return -ENOMEM;
	}
	if (p->servers && (st = ares_set_servers_ports_csv(p->ch, p->servers)) != ARES_SUCCESS) {
		log_err("discovery pool=%s resolvers %s: %s", p->pool, p->servers,
		        ares_strerror(st));
		return -EINVAL;
	}
	return 0;
}

static struct disc_pool *disc_pool_new(const struct cfg_pool *cp)
{
	const struct cfg_discovery *d = &cp->discovery;
	struct disc_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = ++disc.next_id;
	p->pool = strdup(cp->name);
	p->dns = strdup(d->dns);
	p->servers = disc_servers(d);
	p->type = d->type;
	p->port = d->port;
	p->interval = d->interval;
	p->due = clock_ms();
	if (!p->pool || !p->dns || (d->resolvers.n && !p->servers) || disc_channel(p) < 0) {
		disc_pool_free(p);
		return NULL;
	}
	return p;
}

/* Whether watched pool <p> asks the question of <cp>. */
static bool disc_same(const struct disc_pool *p, const struct cfg_pool *cp)
{
	char *servers = disc_servers(&cp->discovery);
	bool same = !strcmp(p->dns, cp->discovery.dns) && p->type == cp->discovery.type &&
	            p->port == cp->discovery.port &&
	            (!p->servers == !servers && (!servers || !strcmp(p->servers, servers)));

	free(servers);
	return same;
}

static struct disc_pool *disc_find(const char *pool)
{
	for (unsigned i = 0; i < disc.n; i++)
		if (!strcmp(disc.p[i]->pool, pool))
			return disc.p[i];
	return NULL;
}

int disc_sync(const struct config *cfg)
{
	struct disc_pool **np = calloc(cfg->npools ? cfg->npools : 1, sizeof(*np));
	unsigned n = 0, i;
	int ret = 0;

	if (!np)
		return -ENOMEM;
	for (i = 0; i < cfg->npools && !cfg->pools[i].discovery.enabled; i++)
		;
	if (i == cfg->npools && disc.epfd < 0) {
		free(np);
		return 0; /* no discovery pool, none before: nothing to set up */
	}
	if (disc.epfd < 0) {
		disc.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (disc.epfd < 0 || ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
			ret = disc.epfd < 0 ? -errno : -ENOMEM;
			if (disc.epfd >= 0)
				close(disc.epfd);
			disc.epfd = -1;
			free(np);
			log_err("discovery: %s", strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < cfg->npools; i++) {
		const struct cfg_pool *cp = &cfg->pools[i];
		struct disc_pool *p = cp->discovery.enabled ? disc_find(cp->name) : NULL;

		if (!cp->discovery.enabled)
			continue;
		if (p && disc_same(p, cp)) {
			p->interval = cp->discovery.interval;
			for (unsigned j = 0; j < disc.n; j++)
				if (disc.p[j] == p)
					disc.p[j] = NULL;
		} else if (!(p = disc_pool_new(cp))) {
			ret = -ENOMEM;
			continue;
		}
		np[n++] = p;
	}
	for (i = 0; i < disc.n; i++)
		disc_pool_free(disc.p[i]);
	free(disc.p);
	disc.p = np;
	disc.n = n;
	if (ret)
		log_err("discovery: %s: some pools are not watched", strerror(-ret));
	return ret;
}

int disc_fill(struct config *cfg)
{
	for (unsigned i = 0; i < cfg->npools; i++) {
		const struct cfg_pool *cp = &cfg->pools[i];
		struct disc_pool *p = cp->discovery.enabled ? disc_find(cp->name) : NULL;

		if (!p || !p->have_good || !disc_same(p, cp))
			continue;
		if (config_pool_set_backends(cfg, i, p->good.b, p->good.n) < 0)
			return -ENOMEM;
		log_info("discovery pool=%s name=%s type=%s backends=%u", p->pool, p->dns,
		         disc_type_names[p->type], p->good.n);
	}
	return 0;
}

int disc_fd(void)
{
	return disc.n ? disc.epfd : -1;
}

/* ---- answers ---- */

/* The query in flight has failed with <why>: keep the last good set. */
static void disc_failed(struct disc_pool *p, const char *why)
{
	p->busy = false;
	p->answered = true;
	p->fails++;
	if (!p->failing)
		log_warn("discovery pool=%s name=%s failed: %s (keeping %u backends)", p->pool,
		         p->dns, why, p->good.n);
	p->failing = true;
	p->backoff = !p->backoff ? DISC_FLOOR_MS : p->backoff * 2;
	if (p->backoff > p->interval)
		p->backoff = p->interval < DISC_FLOOR_MS ? DISC_FLOOR_MS : p->interval;
	p->due = clock_ms() + p->backoff;
}

/* The query in flight brought the set p->pend with TTL p->ttl. */
static void disc_answered(struct disc_pool *p)
{
	uint64_t again = p->interval;
	struct dset_diff d;

	if (!p->pend.n) {
		disc_failed(p, "empty answer");
		return;
	}
	dset_sort(&p->pend);
	if (!p->have_good || dset_diff(p->good.b, p->good.n, &p->pend, &d)) {
		if (dset_copy(&p->good, &p->pend) < 0) {
			disc_failed(p, "out of memory");
			return;
		}
		p->have_good = true;
		disc.changed = true;
	}
	if (p->failing)
		log_info("discovery pool=%s name=%s recovered after %u failed queries", p->pool,
		         p->dns, p->fails);
	p->busy = p->failing = false;
	p->answered = true;
	p->fails = 0;
	p->backoff = 0;
	if ((uint64_t)p->ttl * 1000 < again)
		again = (uint64_t)p->ttl * 1000;
	p->due = clock_ms() + (again < DISC_FLOOR_MS ? DISC_FLOOR_MS : again);
}

static void disc_srv_done(struct disc_pool *p)
{
	if (--p->left)
		return;
	if (!p->pend.n && p->why[0])
		disc_failed(p, p->why);
	else
		disc_answered(p);
}

static void disc_on_target(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct disc_target *t = arg;
	struct disc_pool *p = t->p;

	if (status == ARES_EDESTRUCTION) {
		free(t);
		return;
	}
	if (status != ARES_SUCCESS) {
		snprintf(p->why, sizeof(p->why), "no target resolved (%s)", ares_strerror(status));
	} else {
		for (struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
			if (dset_add(&p->pend, n->ai_addr, t->port, t->weight) < 0)
				break;
			if ((uint32_t)n->ai_ttl < p->ttl)
				p->ttl = n->ai_ttl;
		}
	}
	ares_freeaddrinfo(ai);
	free(t);
	disc_srv_done(p);
}

/* Starts the lookup of every SRV target of the answer. */
static void disc_srv(struct disc_pool *p, const unsigned char *abuf, int alen)
{
	struct ares_addrinfo_hints h = {.ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NOSORT};
	struct dset_srv *t;
	unsigned n, i;
	int st = dset_parse_srv(abuf, alen, &t, &n, &p->ttl);

	if (st < 0) {
		disc_failed(p, ares_strerror(-st));
		return;
	}
	p->left = 1; /* until every lookup has started: a callback may come at once */
	p->why[0] = '\0';
	for (i = 0; i < n; i++) {
		struct disc_target *dt = malloc(sizeof(*dt));

		if (!dt) {
			snprintf(p->why, sizeof(p->why), "out of memory");
			break;
		}
		*dt = (struct disc_target){p, t[i].port, t[i].weight};
		p->left++;
		ares_getaddrinfo(p->ch, t[i].host, NULL, &h, disc_on_target, dt);
	}
	dset_srv_free(t, n);
	disc_srv_done(p);
}

static void disc_on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct disc_pool *p = arg;
	int st;

	if (status == ARES_EDESTRUCTION)
		return;
	if (status != ARES_SUCCESS) {
		disc_failed(p, status == ARES_ENODATA ? "empty answer" : ares_strerror(status));
		return;
	}
	dset_clear(&p->pend);
	if (p->type == CFG_DNS_SRV) {
		disc_srv(p, abuf, alen);
		return;
	}
	st = dset_parse_addr(abuf, alen, p->type == CFG_DNS_A ? AF_INET : AF_INET6, p->port,
	                     &p->pend, &p->ttl);
	if (st < 0)
		disc_failed(p, ares_strerror(-st));
	else
		disc_answered(p);
}

static void disc_query(struct disc_pool *p)
{
	static const int qtype[] = {
	    [CFG_DNS_A] = T_A, [CFG_DNS_AAAA] = T_AAAA, [CFG_DNS_SRV] = T_SRV};

	p->busy = true;
	dset_clear(&p->pend);
	ares_query(p->ch, p->dns, C_IN, qtype[p->type], disc_on_answer, p);
}

/* ---- the loop's side ---- */

uint64_t disc_next(void)
{
	uint64_t next = UINT64_MAX, now = clock_ms();

	for (unsigned i = 0; i < disc.n; i++) {
		struct disc_pool *p = disc.p[i];
		struct timeval tv, *t;

		if (!p->busy && p->due < next)
			next = p->due;
		if (p->busy && (t = ares_timeout(p->ch, NULL, &tv))) {
			uint64_t at = now + (uint64_t)t->tv_sec * 1000 + (t->tv_usec + 999) / 1000;

			if (at < next)
				next = at;
		}
	}
	return next;
}

static struct disc_pool *disc_by_id(uint32_t id)
{
	for (unsigned i = 0; i < disc.n; i++)
		if (disc.p[i]->id == id)
			return disc.p[i];
	return NULL;
}

bool disc_process(void)
{
	struct epoll_event ev[16];
	uint64_t now;
	int n, i;

	if (!disc.n)
		return false;
	while ((n = epoll_wait(disc.epfd, ev, 16, 0)) > 0) {
		for (i = 0; i < n; i++) {
			struct disc_pool *p = disc_by_id(ev[i].data.u64 >> 32);
			ares_socket_t fd = (ares_socket_t)(uint32_t)ev[i].data.u64;

			if (p)
				ares_process_fd(p->ch,
				                ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)
				                    ? fd
				                    : ARES_SOCKET_BAD,
				                ev[i].events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
		}
		if (n < 16)
			break;
	}
	now = clock_ms();
	for (unsigned k = 0; k < disc.n; k++) {
		struct disc_pool *p = disc.p[k];

		if (p->busy)
			ares_process_fd(p->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
		else if (now >= p->due)
			disc_query(p);
	}
	return disc.changed;
}

void disc_wait(uint64_t ms)
{
	uint64_t end = clock_ms() + ms;
	bool all;

	do {
		uint64_t now = clock_ms(), next = disc_next();
		struct epoll_event ev;

		disc_process();
		all = true;
		for (unsigned i = 0; i < disc.n; i++)
			all &= disc.p[i]->answered;
		if (all || now >= end)
			break;
		next = next < end ? next : end;
		epoll_wait(disc.epfd, &ev, 1, next > now ? (int)(next - now) : 0);
	} while (true);
}

/* ---- publication ---- */

struct config *disc_derive(const struct config *cur)
{
	struct config *c = NULL;

	disc.changed = false;
	for (unsigned i = 0; i < cur->npools; i++) {
		const struct cfg_pool *cp = &cur->pools[i];
		struct disc_pool *p = cp->discovery.enabled ? disc_find(cp->name) : NULL;
		struct dset_diff d;

		if (!p || !p->have_good || !disc_same(p, cp) ||
		    !dset_diff(cp->backends, cp->nbackends, &p->good, &d))
			continue;
		if ((!c && !(c = config_derive(cur))) ||
		    config_pool_set_backends(c, i, p->good.b, p->good.n) < 0) {
			log_err("discovery pool=%s: %s", p->pool, strerror(ENOMEM));
			disc.changed = true; /* again at the next turn */
			config_free(c);
			return NULL;
		}
		log_info("discovery pool=%s name=%s type=%s backends=%u added=%u removed=%u "
		         "reweighted=%u",
		         p->pool, p->dns, disc_type_names[p->type], p->good.n, d.added, d.removed,
		         d.reweighted);
	}
	return c;
}

void disc_stop(void)
{
	for (unsigned i = 0; i < disc.n; i++)
		disc_pool_free(disc.p[i]);
	free(disc.p);
	disc.p = NULL;
	disc.n = 0;
	if (disc.epfd >= 0) {
		close(disc.epfd);
		ares_library_cleanup();
	}
	disc.epfd = -1;
}
