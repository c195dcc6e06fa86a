/* Routing (http-int.h): listener routes by host (exact or "*." suffix)
 * and path prefix, first match wins; and maglev keys for requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/parse/h1.h"
#include "core/http/http-int.h"
#include "core/lb/lb.h"

static bool path_has_prefix(struct h1_str path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (!path.len || path.p[0] == '?') { /* http://host or http://host?q: the path is "/" */
		if (prefix[0] != '/')
			return false;
		prefix++;
		n--;
		if (!path.len)
			return n == 0;
	}
	return path.len >= n && !memcmp(path.p, prefix, n);
}

struct cfg_pool *http__route(struct wlistener *ls, const struct h1_msg *m, int *idx)
{
	const struct cfg_listener *l = ls->cfg;
	struct config *cfg = ls->gen->cfg;

	for (unsigned i = 0; i < l->nroutes; i++) {
		const struct cfg_route *r = &l->routes[i];
		size_t hl = m->host.len;
		const char *h = m->host.p, *colon = memchr(h, ':', hl);

		if (colon && h[0] != '[')
			hl = (size_t)(colon - h);
		if (r->host) {
			size_t rl = strlen(r->host);

			if (r->host[0] == '*') {
				if (hl < rl - 1 ||
				    strncasecmp(h + hl - (rl - 1), r->host + 1, rl - 1))
					continue;
			} else if (hl != rl || strncasecmp(h, r->host, rl)) {
				continue;
			}
		}
		if (r->path && !path_has_prefix(m->path, r->path))
			continue;
		*idx = r->pool_idx;
		return &cfg->pools[r->pool_idx];
	}
	*idx = l->pool_idx;
	return l->pool_idx >= 0 ? &cfg->pools[l->pool_idx] : NULL;
}

/* Maglev's key for a request: the value of the pool's header:NAME when the
 * request has it, else (and for client_ip) the client's address. */
uint64_t http__maglev_key(const struct http_ctx *x, const struct cfg_pool *pool)
{
	const char *name = pool->hash && !strncmp(pool->hash, "header:", 7) ? pool->hash + 7 : NULL;

	if (name) {
		size_t n = strlen(name);

		for (uint32_t i = 0; i < x->req.nhdrs; i++) {
			const struct h1_hdr *h = &x->req.hdrs[i];

			if (h->name.len == n && !strncasecmp(h->name.p, name, n))
				return lb_hash(h->value.p, h->value.len);
		}
	}
	return lb_hash(x->ip, strlen(x->ip));
}
