/* Backend sets from DNS answers (dset.h). */
#include <arpa/inet.h>
#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/value.h"
#include "core/disc/dset.h"

#define DSET_WEIGHT_MAX 10000 /* pools[].backends[].weight's range */

void dset_clear(struct dset *s)
{
	s->n = 0;
}

void dset_free(struct dset *s)
{
	free(s->b);
	s->b = NULL;
	s->n = s->cap = 0;
}

/* "10.0.0.1:80" or "[fd00::1]:80" for <sa> and <port>, read back by
 * value_addr() as the config reads a backend's address. */
static int dset_addr(const struct sockaddr *sa, uint16_t port, struct cfg_addr *a)
{
	char ip[INET6_ADDRSTRLEN], text[sizeof(a->text)];
	const void *src;

	if (sa->sa_family == AF_INET)
		src = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return -EAFNOSUPPORT;
	if (!inet_ntop(sa->sa_family, src, ip, sizeof(ip)))
		return -errno;
	snprintf(text, sizeof(text), sa->sa_family == AF_INET ? "%s:%u" : "[%s]:%u", ip, port);
	return value_addr(text, a);
}

int dset_add(struct dset *s, const struct sockaddr *sa, uint16_t port, uint32_t weight)
{
	struct cfg_backend *b;
	int ret;

	if (s->n >= DSET_MAX)
		return -ENOSPC;
	if (s->n == s->cap) {
		unsigned cap = s->cap ? 2 * s->cap : 8;

		b = realloc(s->b, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		s->b = b;
		s->cap = cap;
	}
	b = &s->b[s->n];
	memset(b, 0, sizeof(*b));
	ret = dset_addr(sa, port, &b->address);
	if (ret < 0)
		return ret;
	b->weight = weight > DSET_WEIGHT_MAX ? DSET_WEIGHT_MAX : weight;
	s->n++;
	return 0;
}

static int dset_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cfg_backend *)a)->address.text,
	              ((const struct cfg_backend *)b)->address.text);
}

void dset_sort(struct dset *s)
{
	unsigned i, o = 0;

	if (s->n)
		qsort(s->b, s->n, sizeof(*s->b), dset_cmp);
	for (i = 0; i < s->n; i++) {
		if (o && !dset_cmp(&s->b[o - 1], &s->b[i])) {
			uint32_t w = s->b[o - 1].weight + s->b[i].weight;

			s->b[o - 1].weight = w > DSET_WEIGHT_MAX ? DSET_WEIGHT_MAX : w;
			continue;
		}
		s->b[o++] = s->b[i];
	}
	s->n = o;
}

int dset_copy(struct dset *dst, const struct dset *src)
{
	struct cfg_backend *b = NULL;

	if (src->n && !(b = malloc(src->n * sizeof(*b))))
		return -ENOMEM;
	if (src->n)
		memcpy(b, src->b, src->n * sizeof(*b));
	free(dst->b);
	dst->b = b;
	dst->n = dst->cap = src->n;
	return 0;
}

bool dset_diff(const struct cfg_backend *from, unsigned nfrom, const struct dset *to,
               struct dset_diff *d)
{
	unsigned i = 0, j = 0;

	memset(d, 0, sizeof(*d));
	while (i < nfrom || j < to->n) {
		int c = i == nfrom ? 1 : j == to->n ? -1 : dset_cmp(&from[i], &to->b[j]);

		if (c < 0) {
			d->removed++;
			i++;
		} else if (c > 0) {
			d->added++;
			j++;
		} else {
			d->reweighted += from[i].weight != to->b[j].weight;
			i++;
			j++;
		}
	}
	return d->added || d->removed || d->reweighted;
}

int dset_parse_addr(const unsigned char *abuf, int alen, int family, uint16_t port, struct dset *s,
                    uint32_t *ttl)
{
	static struct ares_addrttl a4[DSET_MAX]; /* the control thread's only */
	static struct ares_addr6ttl a6[DSET_MAX];
	int n = DSET_MAX, st, i;

	dset_clear(s);
	*ttl = UINT32_MAX;
	st = family == AF_INET ? ares_parse_a_reply(abuf, alen, NULL, a4, &n)
	                       : ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	if (st == ARES_ENODATA)
		return 0;
	if (st != ARES_SUCCESS)
		return -st;
	for (i = 0; i < n; i++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
		int ret;

		if (family == AF_INET)
			sin.sin_addr = a4[i].ipaddr;
		else
			memcpy(&sin6.sin6_addr, &a6[i].ip6addr, sizeof(sin6.sin6_addr));
		ret = dset_add(
		    s, family == AF_INET ? (struct sockaddr *)&sin : (struct sockaddr *)&sin6, port,
		    1);
		if (ret == -ENOMEM)
			return -ARES_ENOMEM;
		if (ret < 0)
			break; /* -ENOSPC: the first DSET_MAX */
		if ((uint32_t)(family == AF_INET ? a4[i].ttl : a6[i].ttl) < *ttl)
			*ttl = family == AF_INET ? a4[i].ttl : a6[i].ttl;
	}
	return 0;
}

/* Skips the (possibly compressed) name at <p>; NULL past <end>. */
static const unsigned char *dset_skip_name(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		if (!*p)
			return p + 1;
		if ((*p & 0xc0) == 0xc0)
			return p + 2 <= end ? p + 2 : NULL;
		p += *p + 1;
	}
	return NULL;
}

/* The smallest TTL of the answer records of <type> (c-ares' SRV parser
 * leaves TTLs out); UINT32_MAX when there is none. */
static uint32_t dset_answer_ttl(const unsigned char *abuf, int alen, unsigned type)
{
	const unsigned char *p = abuf + 12, *end = abuf + alen;
	unsigned qd, an, i;
	uint32_t ttl = UINT32_MAX;

	if (alen < 12)
		return ttl;
	qd = abuf[4] << 8 | abuf[5];
	an = abuf[6] << 8 | abuf[7];
	for (i = 0; i < qd && p; i++)
		p = (p = dset_skip_name(p, end)) && p + 4 <= end ? p + 4 : NULL;
	for (i = 0; i < an && p; i++) {
		uint32_t t;

		p = dset_skip_name(p, end);
		if (!p || p + 10 > end)
			break;
		t = (uint32_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
		if ((unsigned)(p[0] << 8 | p[1]) == type && t < ttl)
			ttl = t;
		p += 10 + (p[8] << 8 | p[9]);
	}
	return ttl;
}

void dset_srv_free(struct dset_srv *t, unsigned n)
{
	for (unsigned i = 0; t && i < n; i++)
		free(t[i].host);
	free(t);
}

int dset_parse_srv(const unsigned char *abuf, int alen, struct dset_srv **out, unsigned *n,
                   uint32_t *ttl)
{
	struct ares_srv_reply *srv = NULL, *r;
	unsigned prio = UINT32_MAX, k = 0;
	struct dset_srv *t;
	int st = ares_parse_srv_reply(abuf, alen, &srv);

	*out = NULL;
	*n = 0;
	*ttl = UINT32_MAX;
	if (st == ARES_ENODATA)
		return 0;
	if (st != ARES_SUCCESS)
		return -st;
	for (r = srv; r; r = r->next)
		if (r->priority < prio)
			prio = r->priority;
	for (r = srv; r; r = r->next)
		k += r->priority == prio && k < DSET_MAX;
	t = calloc(k ? k : 1, sizeof(*t));
	for (r = srv; t && r && *n < k; r = r->next) {
		if (r->priority != prio)
			continue;
		t[*n].host = strdup(r->host);
		t[*n].port = r->port;
		t[*n].weight = r->weight ? r->weight : 1; /* RFC 2782: 0 = a small share */
		if (t[*n].weight > DSET_WEIGHT_MAX)
			t[*n].weight = DSET_WEIGHT_MAX;
		if (!t[(*n)++].host)
			break;
	}
	ares_free_data(srv);
	if (!t || (*n && !t[*n - 1].host)) {
		dset_srv_free(t, *n);
		*n = 0;
		return -ARES_ENOMEM;
	}
	*out = t;
	*ttl = dset_answer_ttl(abuf, alen, T_SRV);
	return 0;
}
