/* The SNI certificate store: a listener's extra certificates, indexed by
 * the names in them (exact, and "*." wildcards for one label), each one's
 * context loaded on first use and kept in an LRU bounded by an entry count
 * and a byte budget. An unknown name gets the listener's default context.
 *
 * The index (names -> entries) is built once and read without a lock; the
 * LRU (which entries hold a loaded context) is under one mutex, taken by a
 * handshake that names an entry. A context handed out carries a reference,
 * so an evicted one lives on while connections made from it do.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls/tls-int.h"

struct sni_entry {
	struct tls_cert_opts cert; /* files, owned */
	struct tls_ctx *ctx;       /* loaded, or NULL */
	uint64_t bytes;            /* what loading it allocated */
	unsigned prev, next;       /* LRU links (most recent at head), SNI_NIL */
};

struct sni_name {
	char *name; /* lower case; "*.example.com" for a wildcard */
	unsigned entry;
};

#define SNI_NIL UINT32_MAX

struct tls_sni {
	struct tls_ctx_opts base; /* everything but the certificate */
	struct sni_entry *e;
	unsigned ne;
	struct sni_name *names; /* sorted by name */
	unsigned nnames;
	unsigned max_entries;
	uint64_t max_bytes;
	tls_sni_charge_fn charge;
	void *charge_arg;
	pthread_mutex_t lock;
	unsigned head, tail, loaded;
	uint64_t bytes;
	_Atomic uint64_t hits, misses, evictions, unknown;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sni_name *)a)->name, ((const struct sni_name *)b)->name);
}

struct names_acc {
	struct tls_sni *s;
	unsigned entry;
	int err;
};

static void add_name(void *arg, const char *name)
{
	struct names_acc *a = arg;
	struct tls_sni *s = a->s;
	struct sni_name *grown;
	char *n;

	if (a->err)
		return;
	grown = realloc(s->names, (s->nnames + 1) * sizeof(*s->names));
	n = strdup(name);
	if (!grown || !n) {
		if (grown)
			s->names = grown;
		free(n);
		a->err = -ENOMEM;
		return;
	}
	s->names = grown;
	for (char *p = n; *p; p++)
		*p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
	s->names[s->nnames++] = (struct sni_name){n, a->entry};
}

/* A context for entry <i>, built from the base options. */
static struct tls_ctx *load(struct tls_sni *s, unsigned i, char *err, size_t errlen)
{
	struct tls_ctx_opts o = s->base;

	memset(o.certs, 0, sizeof(o.certs));
	o.certs[0] = s->e[i].cert;
	return tls_ctx_new(&o, err, errlen);
}

struct tls_sni *tls_sni_new(const struct tls_ctx_opts *base, const struct tls_cert_opts *certs,
                            unsigned n, unsigned max_entries, uint64_t max_bytes,
                            tls_sni_charge_fn charge, void *charge_arg, char *err, size_t errlen)
{
	struct tls_sni *s = calloc(1, sizeof(*s));
	unsigned i;

	if (!s)
		goto nomem;
	s->base = *base;
	s->max_entries = max_entries ? max_entries : 1;
	s->max_bytes = max_bytes;
	s->charge = charge;
	s->charge_arg = charge_arg;
	s->head = s->tail = SNI_NIL;
	pthread_mutex_init(&s->lock, NULL);
	s->e = calloc(n ? n : 1, sizeof(*s->e));
	if (!s->e)
		goto nomem;
	for (i = 0; i < n; i++, s->ne++) {
		struct names_acc a = {s, i, 0};
		struct tls_ctx *c;

		s->e[i].cert.cert = strdup(certs[i].cert);
		s->e[i].cert.key = strdup(certs[i].key);
		s->e[i].prev = s->e[i].next = SNI_NIL;
		if (!s->e[i].cert.cert || !s->e[i].cert.key)
			goto nomem;
		/* Loaded once to check it and read its names, then let go: it
		 * is loaded again when a client asks for one of them. */
		c = load(s, i, err, errlen);
		if (!c)
			goto fail;
		tls_ctx_names(c, add_name, &a);
		tls_ctx_free(c);
		if (a.err)
			goto nomem;
	}
	qsort(s->names, s->nnames, sizeof(*s->names), name_cmp);
	return s;
nomem:
	snprintf(err, errlen, "tls: out of memory building the certificate store");
fail:
	tls_sni_free(s);
	return NULL;
}

static void lru_unlink(struct tls_sni *s, unsigned i)
{
	struct sni_entry *e = &s->e[i];

	if (e->prev != SNI_NIL)
		s->e[e->prev].next = e->next;
	else
		s->head = e->next;
	if (e->next != SNI_NIL)
		s->e[e->next].prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = SNI_NIL;
}

static void lru_push(struct tls_sni *s, unsigned i)
{
	struct sni_entry *e = &s->e[i];

	e->prev = SNI_NIL;
	e->next = s->head;
	if (s->head != SNI_NIL)
		s->e[s->head].prev = i;
	s->head = i;
	if (s->tail == SNI_NIL)
		s->tail = i;
}

static void evict(struct tls_sni *s, unsigned i)
{
	struct sni_entry *e = &s->e[i];

	lru_unlink(s, i);
	tls_ctx_free(e->ctx); /* connections keep theirs */
	e->ctx = NULL;
	s->bytes -= e->bytes;
	if (s->charge)
		s->charge(s->charge_arg, -(int64_t)e->bytes);
	e->bytes = 0;
	s->loaded--;
	atomic_fetch_add_explicit(&s->evictions, 1, memory_order_relaxed);
}

static int find(const struct tls_sni *s, const char *name)
{
	struct sni_name key = {(char *)name, 0}, *hit;

	hit = bsearch(&key, s->names, s->nnames, sizeof(*s->names), name_cmp);
	return hit ? (int)hit->entry : -1;
}

/* The entry for <name>: exact, else the wildcard of its first label. */
static int match(const struct tls_sni *s, const char *name)
{
	char buf[258];
	const char *dot = strchr(name, '.');
	int i = find(s, name);

	if (i >= 0 || !dot || strlen(dot) + 2 > sizeof(buf))
		return i;
	buf[0] = '*';
	strcpy(buf + 1, dot);
	return find(s, buf);
}

struct tls_ctx *tls_sni_lookup(struct tls_sni *s, const char *name)
{
	int i = s ? match(s, name) : -1;
	struct tls_ctx *c = NULL;
	struct sni_entry *e;

	if (i < 0) {
		if (s)
			atomic_fetch_add_explicit(&s->unknown, 1, memory_order_relaxed);
		return NULL;
	}
	e = &s->e[i];
	pthread_mutex_lock(&s->lock);
	if (e->ctx) {
		atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
		lru_unlink(s, (unsigned)i);
		lru_push(s, (unsigned)i);
		c = tls_ctx_get(e->ctx);
		goto out;
	}
	atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
	{
		char err[256];
		int64_t before = tls_mem_thread();

		e->ctx = load(s, (unsigned)i, err, sizeof(err));
		if (!e->ctx)
			goto out; /* checked at build: memory, most likely */
		e->bytes = (uint64_t)(tls_mem_thread() - before);
		/* The cache's, not the handshake's that asked for it. */
		tls__mem_thread_add(-(int64_t)e->bytes);
	}
	if (s->charge && s->charge(s->charge_arg, (int64_t)e->bytes) < 0) {
		/* Over the cache budget even after evicting: serve it once,
		 * keep nothing. */
		c = e->ctx;
		e->ctx = NULL;
		e->bytes = 0;
		goto out;
	}
	s->bytes += e->bytes;
	s->loaded++;
	lru_push(s, (unsigned)i);
	while (s->tail != SNI_NIL && s->tail != (unsigned)i &&
	       (s->loaded > s->max_entries || (s->max_bytes && s->bytes > s->max_bytes)))
		evict(s, s->tail);
	c = tls_ctx_get(e->ctx);
out:
	pthread_mutex_unlock(&s->lock);
	return c;
}

void tls_sni_stats(struct tls_sni *s, struct tls_sni_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	st->entries = s->ne;
	st->names = s->nnames;
	st->loaded = s->loaded;
	st->bytes = s->bytes;
	pthread_mutex_unlock(&s->lock);
	st->hits = atomic_load_explicit(&s->hits, memory_order_relaxed);
	st->misses = atomic_load_explicit(&s->misses, memory_order_relaxed);
	st->evictions = atomic_load_explicit(&s->evictions, memory_order_relaxed);
	st->unknown = atomic_load_explicit(&s->unknown, memory_order_relaxed);
}

void tls_sni_free(struct tls_sni *s)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < s->ne; i++) {
		if (s->e[i].ctx) {
			tls_ctx_free(s->e[i].ctx);
			if (s->charge)
				s->charge(s->charge_arg, -(int64_t)s->e[i].bytes);
		}
		free((char *)s->e[i].cert.cert);
		free((char *)s->e[i].cert.key);
	}
	for (i = 0; i < s->nnames; i++)
		free(s->names[i].name);
	free(s->names);
	free(s->e);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The SNI hook for a listener's default context (tls_ctx_set_sni()). */
struct tls_ctx *tls_sni_hook(void *arg, const char *name)
{
	return tls_sni_lookup(arg, name);
}
