/* Snapshots: creation, reference counting, freeing, cross-key validation. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config/config-int.h"
#include "config/schema.h"
#include "config/value.h"

void config_errors_init(struct cfg_errors *e)
{
	memset(e, 0, sizeof(*e));
}

void config_errors_deinit(struct cfg_errors *e)
{
	for (unsigned i = 0; i < e->n; i++)
		free(e->lines[i]);
	free(e->lines);
	config_errors_init(e);
}

void config_errors_print(const struct cfg_errors *e, FILE *out)
{
	for (unsigned i = 0; i < e->n; i++)
		fprintf(out, "%s\n", e->lines[i]);
	fflush(out);
}

/* Appends a line; on ENOMEM the line is lost but the error still counts. */
static void config_errors_add(struct cfg_errors *e, char *line)
{
	if (e->n == e->cap) {
		unsigned cap = e->cap ? 2 * e->cap : 16;
		char **l = realloc(e->lines, cap * sizeof(*l));

		if (!l) {
			free(line);
			return;
		}
		e->lines = l;
		e->cap = cap;
	}
	if (line)
		e->lines[e->n++] = line;
}

static bool config_is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

/* <line> with each control byte written as \n or \xNN (as --print-config
 * quotes strings), so that one error stays one line of text whatever the
 * file or the environment held: a key or value as written may have any
 * byte. Frees <line> when it returns another string; NULL stays NULL. */
static char *config_one_line(char *line)
{
	size_t extra = 0, o = 0;
	char *out;

	for (const char *p = line; p && *p; p++)
		extra += config_is_ctl(*p) ? 3 : 0;
	if (!extra)
		return line;
	out = malloc(strlen(line) + extra + 1);
	if (!out) { /* still one line */
		for (char *p = line; *p; p++)
			*p = config_is_ctl(*p) ? '?' : *p;
		return line;
	}
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if (*p == '\n')
			o += sprintf(out + o, "\\n");
		else if (config_is_ctl(*p))
			o += sprintf(out + o, "\\x%02x", *p);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
	free(line);
	return out;
}

void config__err(struct cfg_errors *e, const char *where, const char *path, const char *fmt, ...)
{
	char msg[1024], *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->nerr++;
	if (path && *path) {
		if (asprintf(&line, "%s: %s: %s", where, path, msg) < 0)
			line = NULL;
	} else if (asprintf(&line, "%s: %s", where, msg) < 0) {
		line = NULL;
	}
	config_errors_add(e, config_one_line(line));
}

void config__warn(struct cfg_errors *e, const char *fmt, ...)
{
	char msg[1024], *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&line, "ringlb: warning: %s", msg) < 0)
		line = NULL;
	config_errors_add(e, config_one_line(line));
}

struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	schema_defaults(schema_top, schema_ntop, c);
	atomic_init(&c->refs, 1);
	return c;
}

static void config_unmap(struct config *c)
{
	for (unsigned i = 0; c->listeners && i < c->nlisteners; i++) {
		struct cfg_listener *l = &c->listeners[i];

		if (l->body_mapped) {
			munmap(l->body, l->body_len);
			l->body = NULL;
			l->body_mapped = false;
		}
		for (unsigned j = 0; j < CFG_NERROR_PAGES; j++) {
			struct cfg_error_page *e = &l->error_pages[j];

			if (e->data)
				munmap(e->data, e->len);
			e->data = NULL;
			e->len = 0;
		}
	}
}

/* A derived snapshot owns its pools[] and their backends[], nothing else. */
static void config_free_derived(struct config *c)
{
	for (unsigned i = 0; i < c->npools; i++)
		free(c->pools[i].backends);
	free(c->pools);
	config_unref(c->root);
	free(c);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	if (c->release)
		c->release(c);
	if (c->root) {
		config_free_derived(c);
		return;
	}
	config_unmap(c);
	schema_free(schema_top, schema_ntop, c);
	free(c->path);
	free(c);
}

struct config *config_ref(struct config *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void config_unref(struct config *c)
{
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		config_free(c);
}

struct config *config_derive(const struct config *cur)
{
	struct config *root = cur->root ? cur->root : (struct config *)cur;
	struct config *c = malloc(sizeof(*c));
	unsigned i;

	if (!c)
		return NULL;
	*c = *cur;
	c->pools = calloc(cur->npools ? cur->npools : 1, sizeof(*c->pools));
	if (!c->pools) {
		free(c);
		return NULL;
	}
	for (i = 0; i < cur->npools; i++) {
		const struct cfg_pool *p = &cur->pools[i];

		c->pools[i] = *p;
		c->pools[i].backends =
		    malloc((p->nbackends ? p->nbackends : 1) * sizeof(*p->backends));
		if (!c->pools[i].backends)
			break;
		if (p->nbackends)
			memcpy(c->pools[i].backends, p->backends,
			       p->nbackends * sizeof(*p->backends));
	}
	c->npools = i; /* what config_free_derived() frees */
	c->root = config_ref(root);
	c->runtime = NULL;
	c->release = NULL;
	atomic_init(&c->refs, 1);
	if (i < cur->npools) {
		config_free(c);
		return NULL;
	}
	return c;
}

int config_pool_set_backends(struct config *c, unsigned pool, const struct cfg_backend *b,
                             unsigned n)
{
	struct cfg_pool *p = &c->pools[pool];
	struct cfg_backend *nb = calloc(n ? n : 1, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	if (n)
		memcpy(nb, b, n * sizeof(*b));
	free(p->backends);
	p->backends = nb;
	p->nbackends = n;
	return 0;
}

const char *config_algo_name(enum cfg_algo algo)
{
	if ((unsigned)algo >= CFG_NALGO)
		return "?";
	return schema_algo_names[algo];
}

int config_pool_index(const struct config *c, const char *name)
{
	for (unsigned i = 0; i < c->npools; i++) {
		if (c->pools[i].name && strcmp(c->pools[i].name, name) == 0)
			return i;
	}
	return -1;
}

unsigned config__key(const char *path)
{
	return schema_find(schema_top, schema_ntop, path) - schema_top;
}

const char *config__where(const struct config *c, unsigned i, char *buf, size_t len)
{
	const struct cfg_keysrc *s = &c->keys[i];
	const char *file = c->path ? c->path : "<built-in>";

	switch (s->src) {
	case CFG_SRC_FILE:
		snprintf(buf, len, "%s:%u:%u", file, s->line, s->col);
		return buf;
	case CFG_SRC_ENV:
		return s->env_short ? schema_env_short(i) : schema_env_full(i);
	case CFG_SRC_CLI:
		return schema_top[i].cli;
	default:
		return file;
	}
}

void config__resolve(struct config *c)
{
	const struct key *k =
	    schema_find(schema_listeners.keys, schema_listeners.nkeys, "timeouts.idle");
	uint64_t bit = 1ull << (k - schema_listeners.keys);

	for (unsigned i = 0; i < c->nlisteners; i++) {
		if (!(c->listeners[i].keys_set & bit))
			c->listeners[i].timeouts.idle = c->memory_tuning.idle_connection_timeout;
	}
}

static uint64_t config_int(const struct config *c, const struct key *k)
{
	if (k->type == KT_COUNT)
		return *(const uint32_t *)((const char *)c + k->off);
	return *(const uint64_t *)((const char *)c + k->off);
}

/* Checks a <= b (a < b when <strict>) for top keys <pa> and <pb>. The error
 * goes to whichever of the two was set last in precedence order (the
 * override that broke the pair), the first on a tie. */
static int config_order(struct config *c, struct cfg_errors *errs, const char *pa, const char *pb,
                        bool strict)
{
	unsigned a = config__key(pa), b = config__key(pb);
	const struct key *ka = &schema_top[a], *kb = &schema_top[b];
	char va[32], vb[32], where[300];
	const char *la = strrchr(pa, '.') + 1, *lb = strrchr(pb, '.') + 1;
	const char *op = strict ? "<" : "<=";
	bool bad;

	if (ka->type == KT_RATIO) {
		double x = *(double *)((char *)c + ka->off), y = *(double *)((char *)c + kb->off);

		bad = strict ? x >= y : x > y;
	} else {
		uint64_t x = config_int(c, ka), y = config_int(c, kb);

		bad = strict ? x >= y : x > y;
	}
	if (!bad)
		return 0;
	schema_format(ka, c, va, sizeof(va));
	schema_format(kb, c, vb, sizeof(vb));
	if (c->keys[b].src > c->keys[a].src)
		config__err(errs, config__where(c, b, where, sizeof(where)), pb,
		            "%s is %s %s %s (expected %s %s %s)", vb,
		            strict ? "not above" : "below", pa, va, la, op, lb);
	else
		config__err(errs, config__where(c, a, where, sizeof(where)), pa,
		            "%s is %s %s %s (expected %s %s %s)", va,
		            strict ? "not below" : "above", pb, vb, la, op, lb);
	return -EINVAL;
}

/* user: and group: name accounts of this system: their ids are looked up
 * now, so --check and a reload report a name that does not exist, and the
 * drop after binding (core/priv.c) cannot fail on a lookup. */
static int config_account(struct config *c, struct cfg_errors *errs)
{
	unsigned iu = config__key("user"), ig = config__key("group");
	char buf[16384], where[300];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	int ret = 0;

	if (!c->user && c->group) {
		config__err(errs, config__where(c, ig, where, sizeof(where)), "group",
		            "\"%s\" is set without user (expected user beside it)", c->group);
		return -EINVAL;
	}
	if (!c->user)
		return 0;
	if (getpwnam_r(c->user, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp) {
		config__err(errs, config__where(c, iu, where, sizeof(where)), "user",
		            "\"%s\" is not a user of this system (expected a name from the passwd "
		            "database)",
		            c->user);
		ret = -EINVAL;
	} else {
		c->uid = pw.pw_uid;
		c->gid = pw.pw_gid;
	}
	if (!c->group)
		return ret;
	if (getgrnam_r(c->group, &gr, buf, sizeof(buf), &grp) != 0 || !grp) {
		config__err(errs, config__where(c, ig, where, sizeof(where)), "group",
		            "\"%s\" is not a group of this system (expected a name from the group "
		            "database)",
		            c->group);
		return -EINVAL;
	}
	c->gid = gr.gr_gid;
	return ret;
}

/* An address on the loopback network. */
static bool config_loopback(const struct cfg_addr *a)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family == AF_INET)
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	return a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

/* The admin endpoint: a bind other than loopback needs a token, and it must
 * not be a listener's address (SO_REUSEPORT would let the two share it).
 * Fills c->admin, the listener the core runs for it. */
static int config_admin(struct config *c, struct cfg_errors *errs)
{
	unsigned k = config__key("admin.bind");
	struct cfg_listener *a = &c->admin;
	char where[300];
	int ret = 0;

	if (!c->admin_enabled)
		return 0;
	if (c->admin_token && !c->admin_token[0]) {
		unsigned t = config__key("admin.token");

		config__err(errs, config__where(c, t, where, sizeof(where)), "admin.token",
		            "the token is empty (expected a non-empty token, or no admin.token)");
		ret = -EINVAL;
	}
	if (!config_loopback(&c->admin_bind) && !c->admin_token) {
		config__err(errs, config__where(c, k, where, sizeof(where)), "admin.bind",
		            "%s is not a loopback address and admin.token is unset (expected a "
		            "loopback address, or admin.token)",
		            c->admin_bind.text);
		ret = -EINVAL;
	}
	for (unsigned i = 0; i < c->nlisteners; i++) {
		const struct cfg_addr *b = &c->listeners[i].bind;

		if (b->len == c->admin_bind.len && !memcmp(&b->ss, &c->admin_bind.ss, b->len)) {
			config__err(errs, config__where(c, k, where, sizeof(where)), "admin.bind",
			            "%s is listener %s's address (expected an address of its own)",
			            c->admin_bind.text, c->listeners[i].name);
			ret = -EINVAL;
		}
	}
	memset(a, 0, sizeof(*a));
	a->name = (char *)"admin";
	a->bind = c->admin_bind;
	a->mode = LMODE_ADMIN;
	a->pool_idx = -1;
	a->max_connections = 16;
	a->backlog = 64;
	a->keepalive_requests = 1000;
	a->timeouts = (struct cfg_timeouts){.connect = 5000,
	                                    .header = 10000,
	                                    .client = 10000,
	                                    .server = 60000,
	                                    .idle = 60000,
	                                    .drain = 0,
	                                    .handshake = 10000};
	return ret;
}

int config_validate(struct config *c, struct cfg_errors *errs)
{
	static const char *const comps[] = {
	    "memory_limits.buffer_pool_memory",
	    "memory_limits.connection_memory",
	    "memory_limits.ssl_context_memory",
	    "memory_limits.cache_memory",
	};
	static const char *const classes[] = {
	    "small_buffers",
	    "medium_buffers",
	    "large_buffers",
	    "giant_buffers",
	};
	int ret = 0;

	config__resolve(c);
	for (unsigned i = 0; i < 4; i++)
		ret |= config_order(c, errs, comps[i], "memory_limits.max_total_memory", false);
	ret |= config_order(c, errs, "memory_tuning.warning_threshold",
	                    "memory_tuning.critical_threshold", true);
	ret |= config_order(c, errs, "memory_tuning.warning_threshold",
	                    "memory_tuning.backpressure_start", false);
	ret |= config_order(c, errs, "memory_tuning.backpressure_start",
	                    "memory_tuning.critical_threshold", true);
	ret |= config_order(c, errs, "memory_tuning.pool_shrink_threshold",
	                    "memory_tuning.pool_growth_threshold", true);
	ret |= config_order(c, errs, "memory_tuning.initial_buffer_size",
	                    "memory_tuning.max_buffer_size", false);
	for (unsigned i = 0; i < BUF_NCLASS; i++) {
		char a[64], b[64];

		snprintf(a, sizeof(a), "buffer_pools.%s.initial_count", classes[i]);
		snprintf(b, sizeof(b), "buffer_pools.%s.max_count", classes[i]);
		ret |= config_order(c, errs, a, b, false);
	}
	ret |= config_account(c, errs);
	ret |= config_admin(c, errs);
	return ret ? -EINVAL : 0;
}
