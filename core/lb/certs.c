/* A snapshot's TLS contexts (certs.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "core/lb/certs.h"
#include "core/lb/snapshot-t.h"
#include "tls/tls.h"

struct snapshot_certs {
	unsigned nls, npools;
	struct snapshot_tls *ls; /* per listener (ctx NULL: no tls) */
	struct tls_ctx **pool;   /* per pool (NULL: plain TCP upstreams) */
	struct acct *acct;
};

/* "http/1.1,h2" from the listener's list. */
static char *alpn_text(const struct cfg_strlist *l)
{
	size_t n = 1;
	char *s;

	if (!l->n)
		return NULL;
	for (unsigned i = 0; i < l->n; i++)
		n += strlen(l->v[i]) + 1;
	s = calloc(1, n);
	for (unsigned i = 0; s && i < l->n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, l->v[i]);
	}
	return s;
}

static void listener_opts(const struct cfg_tls *t, struct tls_ctx_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->min_version = t->min_version == CFG_TLS_1_3 ? 13 : 12;
	o->ciphers = t->ciphers;
	o->ciphersuites = t->ciphersuites;
	o->ca = t->client_ca;
	o->verify = t->verify_client == CFG_VERIFY_CLIENT_REQUIRED   ? TLS_VERIFY_REQUIRED
	            : t->verify_client == CFG_VERIFY_CLIENT_OPTIONAL ? TLS_VERIFY_OPTIONAL
	                                                             : TLS_VERIFY_NONE;
	o->no_tickets = !t->session_tickets;
	o->no_session_cache = !t->session_cache;
	o->session_lifetime = (unsigned)(t->session_lifetime / 1000);
}

/* The cache component's share of what SNI stores load. */
static int cache_charge(void *arg, int64_t delta)
{
	struct acct *a = arg;

	if (!a)
		return 0;
	if (delta >= 0)
		return acct_charge(a, ACCT_CACHE, 0, (uint64_t)delta);
	acct_release(a, ACCT_CACHE, 0, (uint64_t)-delta);
	return 0;
}

/* The config error "FILE:LINE:1: PATH: MSG (expected EXPECT)" for the key
 * whose path is <fmt> (printf), written at <line>. Returns -EINVAL. */
static int __attribute__((format(printf, 7, 8)))
cert_err(char *err, size_t errlen, const struct config *cfg, int line, const char *msg,
         const char *expect, const char *fmt, ...)
{
	char path[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d:1: %s: %s (expected %s)", cfg->path ? cfg->path : "<built-in>",
	         line, path, msg, expect);
	return -EINVAL;
}

/* The names of a certificate, joined in order (its SANs, else its CN). */
struct names {
	char buf[1024];
	size_t len;
};

static void names_add(void *arg, const char *name)
{
	struct names *n = arg;
	size_t l = strlen(name);

	if (n->len + l + 2 < sizeof(n->buf)) {
		memcpy(n->buf + n->len, name, l);
		n->len += l;
		n->buf[n->len++] = ',';
		n->buf[n->len] = 0;
	}
}

/* Whether certificates[] entry <e> names exactly what the default
 * certificate names (<def>): the other key type for the same site (an RSA
 * beside an ECDSA default), which the default context carries itself so
 * the handshake picks by what the client supports. */
static bool same_names(const struct names *def, const struct tls_ctx_opts *base,
                       const struct cfg_tls_cert *e)
{
	struct tls_ctx_opts o = *base;
	struct names n = {.len = 0};
	struct tls_ctx *c;
	char msg[256];

	memset(o.certs, 0, sizeof(o.certs));
	o.certs[0] = (struct tls_cert_opts){e->cert, e->key};
	c = tls_ctx_new(&o, msg, sizeof(msg));
	if (!c)
		return false; /* the SNI store reports it */
	tls_ctx_names(c, names_add, &n);
	tls_ctx_free(c);
	return n.len && n.len == def->len && !memcmp(n.buf, def->buf, n.len);
}

static int build_listener(struct snapshot_certs *sc, struct config *cfg, unsigned i, char *err,
                          size_t errlen)
{
	const struct cfg_listener *l = &cfg->listeners[i];
	const struct cfg_tls *t = &l->tls;
	struct snapshot_tls *st = &sc->ls[i];
	struct tls_ctx_opts o;
	char msg[384];

	listener_opts(t, &o);
	st->alpn = alpn_text(&t->alpn);
	o.alpn = st->alpn;
	if (t->alpn.n && !st->alpn)
		return -ENOMEM;
	o.certs[0].cert = t->cert;
	o.certs[0].key = t->key;
	st->ctx = tls_ctx_new(&o, msg, sizeof(msg));
	if (!st->ctx) {
		return cert_err(err, errlen, cfg, l->line, msg, "a PEM certificate and its key",
		                "listeners[%u].tls.cert", i);
	}
	if (t->ncertificates) {
		struct tls_cert_opts *certs = calloc(t->ncertificates, sizeof(*certs));
		struct names def = {.len = 0};
		unsigned nsni = 0;
		int pair = -1;

		if (!certs)
			return -ENOMEM;
		tls_ctx_names(st->ctx, names_add, &def);
		for (unsigned k = 0; k < t->ncertificates; k++) {
			if (pair < 0 && same_names(&def, &o, &t->certificates[k])) {
				pair = (int)k;
				continue;
			}
			certs[nsni++] =
			    (struct tls_cert_opts){t->certificates[k].cert, t->certificates[k].key};
		}
		if (pair >= 0) { /* the default context with both key types */
			tls_ctx_free(st->ctx);
			o.certs[1] = (struct tls_cert_opts){t->certificates[pair].cert,
			                                    t->certificates[pair].key};
			st->ctx = tls_ctx_new(&o, msg, sizeof(msg));
			if (!st->ctx) {
				free(certs);
				return cert_err(
				    err, errlen, cfg, t->certificates[pair].line, msg,
				    "one RSA and one ECDSA certificate for the same names",
				    "listeners[%u].tls.certificates[%d]", i, pair);
			}
			memset(&o.certs[1], 0, sizeof(o.certs[1]));
		}
		if (!nsni) {
			free(certs);
			return 0;
		}
		st->sni =
		    tls_sni_new(&o, certs, nsni, t->sni_cache_size, cfg->memory_limits.cache_memory,
		                cache_charge, sc->acct, msg, sizeof(msg));
		free(certs);
		if (!st->sni) {
			return cert_err(err, errlen, cfg, l->line, msg,
			                "PEM certificates and their keys",
			                "listeners[%u].tls.certificates", i);
		}
		tls_ctx_set_sni(st->ctx, tls_sni_hook, st->sni);
	}
	return 0;
}

static int build_pool(struct snapshot_certs *sc, struct config *cfg, unsigned i, char *err,
                      size_t errlen)
{
	const struct cfg_pool *p = &cfg->pools[i];
	struct tls_ctx_opts o;
	char msg[384];

	memset(&o, 0, sizeof(o));
	o.client = true;
	o.ca = p->tls.ca;
	o.verify = p->tls.verify == CFG_VERIFY_NONE ? TLS_VERIFY_NONE : TLS_VERIFY_REQUIRED;
	o.certs[0].cert = p->tls.cert;
	o.certs[0].key = p->tls.key;
	sc->pool[i] = tls_ctx_new(&o, msg, sizeof(msg));
	if (sc->pool[i])
		return 0;
	return cert_err(err, errlen, cfg, p->line, msg, "readable PEM files", "pools[%u].tls", i);
}

int certs_build(struct config *cfg, struct acct *acct, char *err, size_t errlen)
{
	struct snapshot_rt *rt = cfg->runtime;
	struct snapshot_certs *sc;
	unsigned i;
	int ret;

	if (!rt)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	rt->certs = sc;
	sc->acct = acct;
	sc->nls = cfg->nlisteners;
	sc->npools = cfg->npools;
	sc->ls = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*sc->ls));
	sc->pool = calloc(cfg->npools ? cfg->npools : 1, sizeof(*sc->pool));
	if (!sc->ls || !sc->pool)
		return -ENOMEM;
	rt->tls_ls = sc->ls;
	rt->tls_pool = sc->pool;
	rt->nls = sc->nls;
	for (i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].tls.enabled &&
		    (ret = build_listener(sc, cfg, i, err, errlen)) < 0)
			return ret;
	for (i = 0; i < cfg->npools; i++)
		if (cfg->pools[i].tls.enabled && (ret = build_pool(sc, cfg, i, err, errlen)) < 0)
			return ret;
	return 0;
}

uint64_t certs_ticket_rotation(const struct config *cfg)
{
	uint64_t ms = 0;
	unsigned i;

	for (i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_tls *t = &cfg->listeners[i].tls;

		if (t->enabled && t->session_tickets && (!ms || t->ticket_key_rotation < ms))
			ms = t->ticket_key_rotation;
	}
	return ms;
}

void certs_free(struct snapshot_certs *sc)
{
	unsigned i;

	if (!sc)
		return;
	for (i = 0; sc->ls && i < sc->nls; i++) {
		tls_ctx_free(sc->ls[i].ctx);
		tls_sni_free(sc->ls[i].sni);
		free(sc->ls[i].alpn);
	}
	for (i = 0; sc->pool && i < sc->npools; i++)
		tls_ctx_free(sc->pool[i]);
	free(sc->ls);
	free(sc->pool);
	free(sc);
}
