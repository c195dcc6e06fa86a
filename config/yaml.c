/* The YAML loader: libyaml's document tree, walked against the key table.
 *
 * Every problem becomes one error line with the position of the node at
 * fault (the value for a bad value, the key for an unknown or duplicate
 * key, the element for a missing key), and the walk goes on, so one run
 * reports them all, sorted in file order. The parser and document are
 * deleted on every path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config/config-int.h"
#include "config/pem.h"
#include "config/value.h"
#include "config/schema.h"

#define LOAD_MAX_FILE (16u << 20) /* a config file larger than this is a mistake */
#define LOAD_PATH     256         /* a key path in an error line, cut beyond */
#define LOAD_DEPTH    64          /* nested mappings and sequences (see load_depth()) */

/* A pool name to resolve once every pool is known. */
struct load_ref {
	yaml_mark_t mark;
	char path[LOAD_PATH];
	const char *name;
	int *idx;
};

/* A file a TLS key names, checked once the whole file is loaded if its
 * owner's TLS is on (a static listener's tls is refused, not read); or,
 * with <key>, a certificate and key pair for config_tls_key_match(). */
struct load_pem {
	yaml_mark_t mark;
	char path[LOAD_PATH];
	const char *file;
	const char *key; /* a pair: the key file of certificate <file> */
	enum pem_want want;
	const bool *on; /* the owner's tls.enabled */
	bool system;    /* a pool's tls.ca defaulted to CFG_SYSTEM_CA */
};

int (*config_tls_key_match)(const char *cert, const char *key, char *why, size_t len);

/* Where the keys of one mapping were written: the top level's go to
 * config.keys[], a list element's to its keys_set and marks[]. */
struct load_elem {
	uint64_t *set;
	uint32_t *lines; /* the element's key_line[] */
	uint64_t bad;    /* set, but to a value that was refused */
	yaml_mark_t mark[64];
	yaml_mark_t start;
};

struct load {
	const char *name;
	yaml_document_t doc;
	struct config *c;
	struct cfg_errors *errs;
	unsigned nerr0;
	struct load_ref *refs;
	unsigned nrefs, caprefs;
	struct load_pem *pems;
	unsigned npems, cappems;
};

static void load_err(struct load *l, yaml_mark_t m, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void load_err(struct load *l, yaml_mark_t m, const char *path, const char *fmt, ...)
{
	char where[512], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s:%zu:%zu", l->name, m.line + 1, m.column + 1);
	config__err(l->errs, where, path, "%s", msg);
}

/* Writes a key path for an error line. Paths are short ("listeners[2].routes[0].pool")
 * except when they hold an unknown key as written: then the line is cut at
 * LOAD_PATH - 1 characters, on purpose, rather than growing without bound. */
static void load_path(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_path(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

static yaml_node_t *load_node(struct load *l, int i)
{
	return yaml_document_get_node(&l->doc, i);
}

static const char *load_text(yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static const char *load_kind(yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE    ? "a mapping"
	       : n->type == YAML_SEQUENCE_NODE ? "a sequence"
	                                       : "a scalar";
}

/* The value node of key <name> in mapping <map>, or NULL. */
static yaml_node_t *load_get(struct load *l, yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = load_node(l, p->key);

		if (k && k->type == YAML_SCALAR_NODE && strcmp(load_text(k), name) == 0)
			return load_node(l, p->value);
	}
	return NULL;
}

static void load_join(char *dst, size_t len, const char *a, const char *b)
{
	if (*a)
		load_path(dst, len, "%s.%s", a, b);
	else
		load_path(dst, len, "%s", b);
}

static void load_map(struct load *l, yaml_node_t *map, const struct key *keys, unsigned n,
                     void *base, const char *tprefix, const char *epath, struct load_elem *el);

/* <key> as an error line shows an unknown one: as written when it looks
 * like a key name (letters, digits, '_', '-'), else in double quotes with
 * '"' and '\\' escaped, so that a key like " (expected x" cannot pass for
 * a part of the line's format. */
static const char *load_key_shown(const char *key, char *buf, size_t len)
{
	size_t o = 0;

	if (*key &&
	    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
	        strlen(key))
		return key;
	buf[o++] = '"';
	for (; *key && o + 4 < len; key++) {
		if (*key == '"' || *key == '\\')
			buf[o++] = '\\';
		buf[o++] = *key;
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

/* The keys that may follow <tprefix> ("" or "timeouts.") in <keys>:
 * "a, b, c". */
static void load_known(const struct key *keys, unsigned n, const char *tprefix, char *buf,
                       size_t len)
{
	size_t o = 0, plen = strlen(tprefix);

	buf[0] = '\0';
	for (unsigned i = 0; i < n && o < len; i++) {
		const char *rest;
		size_t seg;
		bool seen = false;

		if (keys[i].flags & K_NOFILE || strncmp(keys[i].path, tprefix, plen) != 0)
			continue;
		rest = keys[i].path + plen;
		seg = strcspn(rest, ".");
		for (unsigned j = 0; j < i && !seen; j++)
			seen =
			    strncmp(keys[j].path, keys[i].path, plen + seg) == 0 &&
			    (keys[j].path[plen + seg] == '.' || keys[j].path[plen + seg] == '\0');
		if (!seen)
			o += snprintf(buf + o, len - o, "%s%.*s", o ? ", " : "", (int)seg, rest);
	}
}

/* True if some row lies under "<rel>." */
static bool load_is_group(const struct key *keys, unsigned n, const char *rel)
{
	size_t len = strlen(rel);

	for (unsigned i = 0; i < n; i++) {
		if (!(keys[i].flags & K_NOFILE) && strncmp(keys[i].path, rel, len) == 0 &&
		    keys[i].path[len] == '.')
			return true;
	}
	return false;
}

static void load_mark_set(struct load *l, struct load_elem *el, unsigned i, yaml_mark_t m)
{
	if (el) {
		*el->set |= 1ull << i;
		el->mark[i] = m;
		el->lines[i] = m.line + 1;
	} else {
		l->c->keys[i] = (struct cfg_keysrc){
		    .src = CFG_SRC_FILE,
		    .line = m.line + 1,
		    .col = m.column + 1,
		};
	}
}

static int load_scalar(struct load *l, yaml_node_t *v, const struct key *k, void *base,
                       const char *path)
{
	char msg[900];
	int ret;

	if (v->type != YAML_SCALAR_NODE) {
		schema_expect(k, msg, sizeof(msg));
		load_err(l, v->start_mark, path, "found %s (expected %s)", load_kind(v), msg);
		return -EINVAL;
	}
	ret = schema_set(k, base, load_text(v));
	if (ret == -ENOMEM) {
		load_err(l, v->start_mark, path, "out of memory (expected less)");
	} else if (ret) {
		schema_explain(k, load_text(v), ret, msg, sizeof(msg));
		load_err(l, v->start_mark, path, "%s", msg);
	}
	return ret;
}

static int load_list(struct load *l, yaml_node_t *seq, const struct schema_list *sl, void *parent,
                     const char *path);

/* A KT_STRLIST written as a sequence: every item a name, each error at its
 * item. */
static int load_strlist(struct load *l, yaml_node_t *seq, const struct key *k, void *base,
                        const char *path)
{
	yaml_node_item_t *items = seq->data.sequence.items.start;
	unsigned n = seq->data.sequence.items.top - items;
	char ipath[LOAD_PATH], cut[VALUE_CUT_BUF];
	bool addr = k->type == KT_ADDRLIST;
	int ret = 0;

	schema_strlist_clear(k, base);
	for (unsigned i = 0; i < n; i++) {
		yaml_node_t *item = load_node(l, items[i]);
		int r = -EINVAL;

		load_path(ipath, sizeof(ipath), "%s[%u]", path, i);
		if (item->type != YAML_SCALAR_NODE)
			load_err(l, item->start_mark, ipath, "found %s (expected %s)",
			         load_kind(item), addr ? "an address" : "a protocol name");
		else if ((r = schema_strlist_push(k, base, load_text(item))) == -ENOMEM)
			load_err(l, item->start_mark, ipath, "out of memory (expected less)");
		else if (r && addr)
			load_err(l, item->start_mark, ipath,
			         "\"%s\" is not an address (expected an IP address and port like "
			         "127.0.0.1:53 or [::1]:53)",
			         value_cut(load_text(item), cut));
		else if (r)
			load_err(l, item->start_mark, ipath,
			         "\"%s\" is not a protocol name (expected 1 to 255 visible ASCII "
			         "characters but ',', like http/1.1)",
			         load_text(item));
		ret = ret ? ret : r;
	}
	return ret;
}

/* A key that exists but not in files (cpus, nodes, seed): say where it goes. */
static void load_nofile(struct load *l, yaml_node_t *kn, const struct key *k, int top,
                        const char *path)
{
	const char *env = top >= 0 ? schema_env_full(top) : NULL;

	if (k->cli && env)
		load_err(l, kn->start_mark, path, "cannot be set in the file (expected %s or %s)",
		         k->cli, env);
	else if (k->cli || env)
		load_err(l, kn->start_mark, path, "cannot be set in the file (expected %s)",
		         k->cli ? k->cli : env);
	else
		load_err(l, kn->start_mark, path,
		         "cannot be set in the file (expected no such key)");
}

/* One key of a mapping: a leaf, a list, or a nested group. */
static void load_pair(struct load *l, yaml_node_t *kn, yaml_node_t *v, const struct key *keys,
                      unsigned n, void *base, const char *tprefix, const char *epath,
                      struct load_elem *el)
{
	char rel[LOAD_PATH], path[LOAD_PATH], known[600];
	const struct key *k;
	int ret;

	load_path(rel, sizeof(rel) - 1, "%s%s", tprefix, load_text(kn)); /* room for strcat(".") */
	load_join(path, sizeof(path), epath, load_text(kn));
	k = schema_find(keys, n, rel);
	if (k && !(k->flags & K_NOFILE)) {
		if (k->type == KT_LIST)
			ret = load_list(l, v, k->list, base, path);
		else if ((k->type == KT_STRLIST || k->type == KT_ADDRLIST) &&
		         v->type == YAML_SEQUENCE_NODE)
			ret = load_strlist(l, v, k, base, path);
		else
			ret = load_scalar(l, v, k, base, path);
		load_mark_set(l, el, k - keys, v->start_mark);
		if (ret && el)
			el->bad |= 1ull << (k - keys);
	} else if (load_is_group(keys, n, rel)) {
		if (v->type != YAML_MAPPING_NODE)
			load_err(l, v->start_mark, path, "found %s (expected a mapping)",
			         load_kind(v));
		else
			load_map(l, v, keys, n, base, strcat(rel, "."), path, el);
	} else if (k) {
		load_nofile(l, kn, k, keys == schema_top ? k - keys : -1, path);
	} else {
		char shown[LOAD_PATH];

		load_join(path, sizeof(path), epath,
		          load_key_shown(load_text(kn), shown, sizeof(shown)));
		load_known(keys, n, tprefix, known, sizeof(known));
		load_err(l, kn->start_mark, path, "unknown key (expected one of: %s)", known);
	}
}

static void load_map(struct load *l, yaml_node_t *map, const struct key *keys, unsigned n,
                     void *base, const char *tprefix, const char *epath, struct load_elem *el)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;

	for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = load_node(l, p->key), *v = load_node(l, p->value);
		bool dup = false;

		if (kn->type != YAML_SCALAR_NODE) {
			load_err(l, kn->start_mark, epath,
			         "found %s as a key (expected a key name)", load_kind(kn));
			continue;
		}
		for (yaml_node_pair_t *q = start; q < p && !dup; q++) {
			yaml_node_t *qk = load_node(l, q->key);

			dup = qk->type == YAML_SCALAR_NODE && !strcmp(load_text(qk), load_text(kn));
		}
		if (dup) {
			char path[LOAD_PATH];

			load_join(path, sizeof(path), epath, load_text(kn));
			load_err(l, kn->start_mark, path,
			         "duplicate key (expected each key once in a mapping)");
			continue;
		}
		load_pair(l, kn, v, keys, n, base, tprefix, epath, el);
	}
}

/* Makes room for one more element in the array *arr of <n> (capacity
 * *cap) elements of <size> bytes; false after an error at <m> <path>. */
static bool load_grow(struct load *l, void *arr, unsigned n, unsigned *cap, size_t size,
                      yaml_mark_t m, const char *path)
{
	void **a = arr, *p;
	unsigned c = *cap ? 2 * *cap : 16;

	if (n < *cap)
		return true;
	p = realloc(*a, c * size);
	if (!p) {
		load_err(l, m, path, "out of memory (expected less)");
		return false;
	}
	*a = p;
	*cap = c;
	return true;
}

/* Queues the pool name in <name> for resolution into <idx>. */
static void load_ref(struct load *l, yaml_mark_t m, const char *path, const char *name, int *idx)
{
	if (!load_grow(l, &l->refs, l->nrefs, &l->caprefs, sizeof(*l->refs), m, path))
		return;
	l->refs[l->nrefs] = (struct load_ref){.mark = m, .name = name, .idx = idx};
	load_path(l->refs[l->nrefs].path, sizeof(l->refs[0].path), "%s", path);
	l->nrefs++;
}

static void load_resolve(struct load *l)
{
	char cut[VALUE_CUT_BUF];

	for (unsigned i = 0; i < l->nrefs; i++) {
		struct load_ref *r = &l->refs[i];

		*r->idx = config_pool_index(l->c, r->name);
		if (*r->idx < 0)
			load_err(l, r->mark, r->path,
			         "no pool is named \"%s\" (expected the name of a pool in pools)",
			         value_cut(r->name, cut));
	}
}

/* Whether row <name> of <sl> was set (to a good value) in element <el>;
 * its mark goes to <m>. */
static bool load_has(const struct schema_list *sl, struct load_elem *el, const char *name,
                     yaml_mark_t *m)
{
	unsigned i = schema_find(sl->keys, sl->nkeys, name) - sl->keys;

	if (m)
		*m = el->mark[i];
	return (*el->set & ~el->bad) >> i & 1;
}

/* Whether row <name> of <sl> was written in <el>, to a good value or not. */
static bool load_in(const struct schema_list *sl, struct load_elem *el, const char *name,
                    yaml_mark_t *m)
{
	unsigned i = schema_find(sl->keys, sl->nkeys, name) - sl->keys;

	if (m)
		*m = el->mark[i];
	return *el->set >> i & 1;
}

/* A key that <ls>'s mode does not use. */
static void load_unused(struct load *l, struct load_elem *el, const char *epath,
                        const struct cfg_listener *ls, const char *key, const char *modes)
{
	static const char *const names[] = {"tcp", "http", "static"};
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (!load_has(&schema_listeners, el, key, &m))
		return;
	load_path(path, sizeof(path), "%s.%s", epath, key);
	load_err(l, m, path, "not used in %s mode (expected %s only in %s mode)", names[ls->mode],
	         key, modes);
}

/* Maps <file> read-only into *data, *len (an empty file: NULL, 0); returns
 * false after an error at <m> <path>. It is opened without blocking, so
 * that a FIFO is refused as not a regular file instead of stalling the
 * load (and, on SIGHUP, the control thread) until something writes to it. */
static bool load_mmap(struct load *l, yaml_mark_t m, const char *path, const char *file,
                      char **data, size_t *len)
{
	char cut[VALUE_CUT_BUF];
	const char *name = value_cut(file, cut);
	struct stat st;
	void *p;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); /* a FIFO: no wait */
	bool ok = false;

	if (fd < 0 || fstat(fd, &st) < 0) {
		load_err(l, m, path, "cannot open \"%s\": %s (expected a readable file)", name,
		         strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		load_err(l, m, path, "\"%s\" is not a regular file (expected a readable file)",
		         name);
		goto out;
	}
	*data = NULL;
	*len = 0;
	if (st.st_size) {
		p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			load_err(l, m, path, "cannot map \"%s\": %s (expected a readable file)",
			         name, strerror(errno));
			goto out;
		}
		*data = p;
		*len = st.st_size;
	}
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Maps <ls>'s file read-only as its body (an empty file: an empty body). */
static void load_file(struct load *l, struct cfg_listener *ls, yaml_mark_t m, const char *path)
{
	char *data;
	size_t len;

	if (!load_mmap(l, m, path, ls->file, &data, &len))
		return;
	if (!len) {
		ls->body = strdup("");
		ls->body_len = 0;
		return;
	}
	ls->body = data;
	ls->body_len = len;
	ls->body_mapped = true;
}

/* Maps every error page file of the http listener <ls>. */
static void load_error_pages(struct load *l, struct cfg_listener *ls, struct load_elem *el,
                             const char *epath)
{
	static const int st[] = {CFG_ERROR_STATUSES};
	char key[32], path[LOAD_PATH], cut[VALUE_CUT_BUF];
	yaml_mark_t m;

	for (unsigned i = 0; i < CFG_NERROR_PAGES; i++) {
		struct cfg_error_page *e = &ls->error_pages[i];

		snprintf(key, sizeof(key), "error_pages.%d", st[i]);
		if (!e->file || !load_has(&schema_listeners, el, key, &m))
			continue;
		load_path(path, sizeof(path), "%s.%s", epath, key);
		if (load_mmap(l, m, path, e->file, &e->data, &e->len) &&
		    e->len > CFG_ERROR_PAGE_MAX)
			load_err(l, m, path,
			         "\"%s\" has %zu bytes (expected a file of at most 1MB)",
			         value_cut(e->file, cut), e->len);
	}
}

/* The http-only keys set on a tcp or static listener. */
static void load_http_only(struct load *l, struct load_elem *el, const char *epath,
                           const struct cfg_listener *ls)
{
	static const int st[] = {CFG_ERROR_STATUSES};
	char key[32];

	for (unsigned i = 0; i < CFG_NERROR_PAGES; i++) {
		snprintf(key, sizeof(key), "error_pages.%d", st[i]);
		load_unused(l, el, epath, ls, key, "http");
	}
	load_unused(l, el, epath, ls, "via", "http");
}

static void load_static(struct load *l, struct cfg_listener *ls, struct load_elem *el,
                        const char *epath)
{
	bool body = load_has(&schema_listeners, el, "body", NULL);
	char path[LOAD_PATH];
	yaml_mark_t m;

	load_unused(l, el, epath, ls, "pool", "tcp and http");
	load_unused(l, el, epath, ls, "routes", "http");
	load_unused(l, el, epath, ls, "access_log.path", "tcp and http");
	load_unused(l, el, epath, ls, "access_log.format", "tcp and http");
	load_unused(l, el, epath, ls, "access_log.facility", "tcp and http");
	if (!load_has(&schema_listeners, el, "file", &m)) {
		if (!body)
			load_err(
			    l, el->start, epath,
			    "missing key \"body\" or \"file\" (expected one of them for a static listener)");
		return;
	}
	load_path(path, sizeof(path), "%s.file", epath);
	if (body)
		load_err(l, m, path, "set together with body (expected body or file, not both)");
	else if (ls->file)
		load_file(l, ls, m, path);
}

/* ---- TLS: listeners[].tls, its certificates[], pools[].tls ---- */

/* Queues <file> for pem_check() once the file is loaded, if *<on>; false
 * after an error. */
static bool load_pem(struct load *l, yaml_mark_t m, const char *path, const char *file,
                     enum pem_want want, const bool *on, bool system)
{
	if (!load_grow(l, &l->pems, l->npems, &l->cappems, sizeof(*l->pems), m, path))
		return false;
	l->pems[l->npems] =
	    (struct load_pem){.mark = m, .file = file, .want = want, .on = on, .system = system};
	load_path(l->pems[l->npems].path, sizeof(l->pems[0].path), "%s", path);
	l->npems++;
	return true;
}

/* A queued pair whose files both passed: whether the key matches the
 * certificate needs wolfSSL, so it is asked of the TLS code through
 * config_tls_key_match (config.h) when that is set; else the TLS code
 * finds a mismatch when it builds the snapshot's contexts. */
static void load_pem_match(struct load *l, const struct load_pem *p)
{
	char why[256], what[8];
	const char *expect;

	if (!config_tls_key_match || pem_check(p->file, PEM_CERT, what, sizeof(what), &expect) ||
	    pem_check(p->key, PEM_KEY, what, sizeof(what), &expect))
		return; /* no check, or a file already reported */
	if (config_tls_key_match(p->file, p->key, why, sizeof(why)))
		load_err(l, p->mark, p->path,
		         "\"%s\" is not the certificate of key \"%s\": %s (expected a certificate "
		         "and its own key)",
		         p->file, p->key, why);
}

/* Checks every queued file and pair whose owner's TLS is on. */
static void load_pems(struct load *l)
{
	char what[LOAD_PATH + 128];
	const char *expect;

	for (unsigned i = 0; i < l->npems; i++) {
		struct load_pem *p = &l->pems[i];

		if (!*p->on)
			continue;
		if (p->key) {
			load_pem_match(l, p);
			continue;
		}
		if (!pem_check(p->file, p->want, what, sizeof(what), &expect))
			continue;
		if (p->system)
			load_err(l, p->mark, p->path,
			         "the default, the system store: %s (expected %s, or tls.ca, or "
			         "tls.verify: none)",
			         what, expect);
		else
			load_err(l, p->mark, p->path, "%s (expected %s)", what, expect);
	}
}

/* Queues the file of row <key> of element <el> if it was set well. */
static void load_tls_file(struct load *l, const struct schema_list *sl, struct load_elem *el,
                          const char *epath, const char *key, const char *file, enum pem_want want,
                          const bool *on)
{
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (!file || !load_has(sl, el, key, &m))
		return;
	load_path(path, sizeof(path), "%s.%s", epath, key);
	load_pem(l, m, path, file, want, on, false);
}

/* Queues the pair of rows <crow> (certificate <cert>) and <krow> (key
 * <key>) of <el> for config_tls_key_match() if both were set well. */
static void load_tls_match(struct load *l, const struct schema_list *sl, struct load_elem *el,
                           const char *epath, const char *crow, const char *krow, const char *cert,
                           const char *key, const bool *on)
{
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (!cert || !key || !load_has(sl, el, krow, NULL) || !load_has(sl, el, crow, &m))
		return;
	load_path(path, sizeof(path), "%s.%s", epath, crow);
	if (load_pem(l, m, path, cert, PEM_CERT, on, false))
		l->pems[l->npems - 1].key = key;
}

/* Whether some "tls." row of <sl> was written in <el>; the first one's
 * mark, where the tls mapping is, goes to <m>. */
static bool load_tls_first(const struct schema_list *sl, struct load_elem *el, yaml_mark_t *m)
{
	bool any = false;

	for (unsigned i = 0; i < sl->nkeys; i++) {
		if (strncmp(sl->keys[i].path, "tls.", 4) != 0 || !(*el->set >> i & 1))
			continue;
		if (!any || el->mark[i].index < m->index)
			*m = el->mark[i];
		any = true;
	}
	return any;
}

/* tls.cert and tls.key come together: reports the one written without the
 * other. Returns whether either was written. */
static bool load_tls_pair(struct load *l, const struct schema_list *sl, struct load_elem *el,
                          const char *epath)
{
	bool cert = load_in(sl, el, "tls.cert", NULL), key = load_in(sl, el, "tls.key", NULL);
	const char *one = cert ? "tls.cert" : "tls.key", *other = cert ? "tls.key" : "tls.cert";
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (cert != key) {
		load_in(sl, el, one, &m);
		load_path(path, sizeof(path), "%s.%s", epath, one);
		load_err(l, m, path, "set without %s (expected tls.cert and tls.key together)",
		         other);
	}
	return cert || key;
}

/* An http listener speaks HTTP/1.x only: its ALPN offers nothing else, and
 * by default http/1.1. */
static void load_tls_alpn(struct load *l, struct cfg_listener *ls, struct load_elem *el,
                          const char *epath)
{
	const struct key *k =
	    schema_find(schema_listeners.keys, schema_listeners.nkeys, "tls.alpn");
	struct cfg_strlist *a = &ls->tls.alpn;
	char path[LOAD_PATH];
	yaml_mark_t m;

	load_path(path, sizeof(path), "%s.tls.alpn", epath);
	if (!load_in(&schema_listeners, el, "tls.alpn", &m)) {
		if (ls->mode == LMODE_HTTP && schema_strlist_push(k, ls, "http/1.1"))
			load_err(l, el->start, path, "out of memory (expected less)");
		return;
	}
	for (unsigned i = 0; ls->mode == LMODE_HTTP && i < a->n; i++) {
		if (strcmp(a->v[i], "http/1.1") != 0 && strcmp(a->v[i], "http/1.0") != 0)
			load_err(l, m, path,
			         "\"%s\" is not spoken by an http listener (expected http/1.1 or "
			         "http/1.0; h2 awaits HTTP/2)",
			         a->v[i]);
	}
}

/* verify_client optional or required needs client_ca; client_ca alone
 * asks for nothing, which is worth a warning. */
static void load_tls_verify(struct load *l, struct cfg_listener *ls, struct load_elem *el,
                            const char *epath)
{
	static const char *const names[] = {"none", "optional", "required"};
	const struct schema_list *sl = &schema_listeners;
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (load_has(sl, el, "tls.verify_client", &m) &&
	    ls->tls.verify_client != CFG_VERIFY_CLIENT_NONE &&
	    !load_in(sl, el, "tls.client_ca", NULL)) {
		load_path(path, sizeof(path), "%s.tls.verify_client", epath);
		load_err(l, m, path,
		         "%s without tls.client_ca (expected a client_ca file to verify client "
		         "certificates against)",
		         names[ls->tls.verify_client]);
	} else if (ls->tls.verify_client == CFG_VERIFY_CLIENT_NONE &&
	           load_has(sl, el, "tls.client_ca", &m) &&
	           !load_in(sl, el, "tls.verify_client", NULL)) {
		config__warn(l->errs,
		             "%s:%zu:%zu: %s.tls.client_ca: no client certificate is asked for "
		             "(expected tls.verify_client: optional or required to use it)",
		             l->name, m.line + 1, m.column + 1, epath);
	}
}

/* A TLS listener without tls.cert and tls.key; <m> is where its tls is. */
static void load_tls_nocert(struct load *l, struct load_elem *el, const char *epath, yaml_mark_t m)
{
	char path[LOAD_PATH];
	yaml_mark_t mc;

	if (load_in(&schema_listeners, el, "tls.certificates", &mc)) {
		load_path(path, sizeof(path), "%s.tls.certificates", epath);
		load_err(l, mc, path,
		         "set without tls.cert and tls.key (expected a default certificate beside "
		         "the list)");
		return;
	}
	load_path(path, sizeof(path), "%s.tls", epath);
	load_err(l, m, path,
	         "missing keys \"cert\" and \"key\" (expected a default certificate for a TLS "
	         "listener)");
}

/* A listener's tls: on when any of its keys is written; then a default
 * certificate is required, and its files are queued for checking. */
static void load_tls(struct load *l, struct cfg_listener *ls, struct load_elem *el,
                     const char *epath)
{
	const struct schema_list *sl = &schema_listeners;
	struct cfg_tls *t = &ls->tls;
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (!load_tls_first(sl, el, &m))
		return;
	load_path(path, sizeof(path), "%s.tls", epath);
	if (ls->mode == LMODE_STATIC) {
		load_err(l, m, path,
		         "not used in static mode (expected tls only in tcp and http mode)");
		return;
	}
	t->enabled = true;
	if (!load_tls_pair(l, sl, el, epath))
		load_tls_nocert(l, el, epath, m);
	load_tls_verify(l, ls, el, epath);
	load_tls_alpn(l, ls, el, epath);
	load_tls_file(l, sl, el, epath, "tls.cert", t->cert, PEM_CERT, &t->enabled);
	load_tls_file(l, sl, el, epath, "tls.key", t->key, PEM_KEY, &t->enabled);
	load_tls_file(l, sl, el, epath, "tls.client_ca", t->client_ca, PEM_CERT, &t->enabled);
	load_tls_match(l, sl, el, epath, "tls.cert", "tls.key", t->cert, t->key, &t->enabled);
}

/* A pool's tls: on when any of its keys is written. Verifying peers with
 * no tls.ca uses the system store, as curl and most clients do. */
static void load_pool_tls(struct load *l, struct cfg_pool *p, struct load_elem *el,
                          const char *epath)
{
	const struct schema_list *sl = &schema_pools;
	struct cfg_pool_tls *t = &p->tls;
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (!load_tls_first(sl, el, &m))
		return;
	t->enabled = true;
	load_tls_pair(l, sl, el, epath);
	if (t->verify == CFG_VERIFY_PEER && !load_in(sl, el, "tls.ca", NULL) &&
	    (load_has(sl, el, "tls.verify", NULL) || !load_in(sl, el, "tls.verify", NULL))) {
		load_path(path, sizeof(path), "%s.tls.ca", epath);
		t->ca = strdup(CFG_SYSTEM_CA);
		if (!t->ca)
			load_err(l, m, path, "out of memory (expected less)");
		else
			load_pem(l, m, path, t->ca, PEM_CERT, &t->enabled, true);
	}
	load_tls_file(l, sl, el, epath, "tls.ca", t->ca, PEM_CERT, &t->enabled);
	load_tls_file(l, sl, el, epath, "tls.cert", t->cert, PEM_CERT, &t->enabled);
	load_tls_file(l, sl, el, epath, "tls.key", t->key, PEM_KEY, &t->enabled);
	load_tls_match(l, sl, el, epath, "tls.cert", "tls.key", t->cert, t->key, &t->enabled);
}

/* Two binds collide on the same port when equal or when one is the
 * wildcard of the other's family. */
static bool load_binds_clash(const struct cfg_addr *a, const struct cfg_addr *b)
{
	const struct sockaddr_in *a4 = (const void *)&a->ss, *b4 = (const void *)&b->ss;
	const struct sockaddr_in6 *a6 = (const void *)&a->ss, *b6 = (const void *)&b->ss;

	if (a->ss.ss_family != b->ss.ss_family || !a->len)
		return false;
	if (a->ss.ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		       (a4->sin_addr.s_addr == b4->sin_addr.s_addr || !a4->sin_addr.s_addr ||
		        !b4->sin_addr.s_addr);
	return a6->sin6_port == b6->sin6_port &&
	       (!memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) ||
	        IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
}

/* Names and binds against the listeners before <i>: each reported once,
 * against the first listener it repeats (not one line per earlier one: n
 * equal names would make n^2 / 2 lines). */
static void load_listener_dups(struct load *l, unsigned i, struct load_elem *el, const char *epath)
{
	struct cfg_listener *ls = &l->c->listeners[i];
	char path[LOAD_PATH], cut[VALUE_CUT_BUF];
	bool name_done = false, bind_done = false;
	yaml_mark_t m;

	if (ls->name && !strcmp(ls->name, "admin") && load_has(&schema_listeners, el, "name", &m)) {
		load_path(path, sizeof(path), "%s.name", epath);
		load_err(
		    l, m, path,
		    "\"admin\" is the admin endpoint's listener (expected another listener name)");
	}
	for (unsigned j = 0; j < i && !(name_done && bind_done); j++) {
		struct cfg_listener *o = &l->c->listeners[j];

		if (!name_done && ls->name && o->name && !strcmp(ls->name, o->name)) {
			name_done = true;
			load_has(&schema_listeners, el, "name", &m);
			load_path(path, sizeof(path), "%s.name", epath);
			load_err(
			    l, m, path,
			    "\"%s\" is already the name of listeners[%u] (expected a unique listener name)",
			    value_cut(ls->name, cut), j);
		}
		if (!bind_done && load_has(&schema_listeners, el, "bind", &m) &&
		    load_binds_clash(&ls->bind, &o->bind)) {
			bind_done = true;
			load_path(path, sizeof(path), "%s.bind", epath);
			load_err(
			    l, m, path,
			    "%s conflicts with listeners[%u] bind %s (expected a unique address and port)",
			    ls->bind.text, j, o->bind.text);
		}
	}
}

/* One network "ADDR/BITS" (or a bare address: all its bits). */
static bool load_cidr(const char *text, struct cfg_cidr *c)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	unsigned bits = 0, max;

	if (n == 0 || n >= sizeof(ip))
		return false;
	memcpy(ip, text, n);
	ip[n] = 0;
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, ip, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, c->addr) == 1)
		c->family = AF_INET6;
	else
		return false;
	max = c->family == AF_INET ? 32 : 128;
	if (!slash) {
		c->bits = (uint8_t)max;
		return true;
	}
	if (!slash[1] || strlen(slash + 1) > 3)
		return false;
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		bits = bits * 10 + (unsigned)(*p - '0');
	}
	if (bits > max)
		return false;
	c->bits = (uint8_t)bits;
	/* Host bits set ("10.1.2.3/8") are cleared: the network is meant. */
	for (unsigned b = bits; b < max; b++)
		c->addr[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
	return true;
}

/* proxy_protocol accept needs the trusted networks; they mean nothing
 * without it. */
static void load_proxy_protocol(struct load *l, struct cfg_listener *ls, struct load_elem *el,
                                const char *epath)
{
	const struct cfg_strlist *t = &ls->proxy_protocol_trusted;
	char path[LOAD_PATH], cut[VALUE_CUT_BUF];
	bool has_t;
	yaml_mark_t m;

	if (ls->mode == LMODE_STATIC) {
		load_unused(l, el, epath, ls, "proxy_protocol", "tcp and http");
		load_unused(l, el, epath, ls, "proxy_protocol_trusted", "tcp and http");
		return;
	}
	has_t = load_has(&schema_listeners, el, "proxy_protocol_trusted", &m);
	load_path(path, sizeof(path), "%s.proxy_protocol_trusted", epath);
	if (ls->proxy_protocol != CFG_PP_ACCEPT) {
		if (has_t)
			load_err(
			    l, m, path,
			    "set without proxy_protocol: accept (expected the trusted networks "
			    "only on a listener that accepts the header)");
		return;
	}
	if (!has_t || t->n == 0) {
		if (!has_t)
			load_has(&schema_listeners, el, "proxy_protocol", &m);
		load_err(l, m, path,
		         "%s (expected the networks allowed to send a PROXY header, e.g. "
		         "[10.0.0.0/8]; 0.0.0.0/0 and ::/0 trust everyone)",
		         has_t ? "empty" : "missing with proxy_protocol: accept");
		return;
	}
	if (t->n > CFG_PP_TRUSTED_MAX) {
		load_err(l, m, path, "%u networks (expected at most %d)", t->n, CFG_PP_TRUSTED_MAX);
		return;
	}
	ls->npp_trusted = 0;
	for (unsigned i = 0; i < t->n; i++) {
		if (!load_cidr(t->v[i], &ls->pp_trusted[ls->npp_trusted]))
			load_err(
			    l, m, path,
			    "\"%s\" is not a network (expected ADDRESS/BITS, e.g. 192.168.0.0/16 "
			    "or fd00::/8)",
			    value_cut(t->v[i], cut));
		else
			ls->npp_trusted++;
	}
}

static void load_listener(struct load *l, unsigned i, struct load_elem *el, const char *epath)
{
	struct cfg_listener *ls = &l->c->listeners[i];
	char path[LOAD_PATH];
	yaml_mark_t m;

	load_listener_dups(l, i, el, epath);
	if (!load_has(&schema_listeners, el, "mode", NULL))
		return; /* missing or refused: its rules would only repeat that */
	load_tls(l, ls, el, epath);
	load_proxy_protocol(l, ls, el, epath);
	if (ls->mode != LMODE_HTTP)
		load_http_only(l, el, epath, ls);
	if (ls->mode == LMODE_STATIC) {
		load_static(l, ls, el, epath);
		return;
	}
	load_unused(l, el, epath, ls, "body", "static");
	load_unused(l, el, epath, ls, "file", "static");
	if (ls->mode == LMODE_TCP)
		load_unused(l, el, epath, ls, "routes", "http");
	else
		load_error_pages(l, ls, el, epath);
	if (!load_has(&schema_listeners, el, "pool", &m)) {
		load_err(l, el->start, epath,
		         "missing key \"pool\" (expected a pool for a %s listener)",
		         ls->mode == LMODE_TCP ? "tcp" : "http");
	} else if (ls->pool) {
		load_path(path, sizeof(path), "%s.pool", epath);
		load_ref(l, m, path, ls->pool, &ls->pool_idx);
	}
}

static void load_route(struct load *l, struct cfg_route *r, struct load_elem *el, const char *epath)
{
	char path[LOAD_PATH];
	yaml_mark_t m;

	if (load_has(&schema_routes, el, "pool", &m) && r->pool) {
		load_path(path, sizeof(path), "%s.pool", epath);
		load_ref(l, m, path, r->pool, &r->pool_idx);
	}
}

/* pools[].health: which checks are on (any key of theirs written), and the
 * http keys refused on a tcp check. */
static void load_pool_health(struct load *l, struct cfg_pool *p, struct load_elem *el,
                             const char *epath)
{
	static const char *const http_only[] = {"health.method", "health.path", "health.host",
	                                        "health.status", "health.body"};
	const struct schema_list *sl = &schema_pools;
	char path[LOAD_PATH];
	yaml_mark_t m;

	for (unsigned i = 0; i < sl->nkeys; i++) {
		if (!(*el->set >> i & 1) || strncmp(sl->keys[i].path, "health.", 7) != 0)
			continue;
		if (strncmp(sl->keys[i].path, "health.passive.", 15) == 0)
			p->health.passive.enabled = true;
		else
			p->health.enabled = true;
	}
	if (p->health.type == CFG_CHECK_HTTP)
		return;
	for (unsigned i = 0; i < sizeof(http_only) / sizeof(http_only[0]); i++) {
		if (!load_has(sl, el, http_only[i], &m))
			continue;
		load_path(path, sizeof(path), "%s.%s", epath, http_only[i]);
		load_err(l, m, path, "is for http checks only (expected health.type: http)");
	}
}

/* The rules of a discovery pool (any discovery key written). */
static void load_discovery(struct load *l, struct cfg_pool *p, struct load_elem *el,
                           const char *epath, yaml_mark_t at)
{
	struct cfg_discovery *d = &p->discovery;
	char path[LOAD_PATH];
	yaml_mark_t m;

	load_path(path, sizeof(path), "%s.discovery", epath);
	if (!load_in(&schema_pools, el, "discovery.dns", NULL))
		load_err(l, at, path,
		         "missing key \"dns\" (expected a name to resolve for a "
		         "discovery pool)");
	if (!load_has(&schema_pools, el, "discovery.type", NULL) &&
	    load_in(&schema_pools, el, "discovery.type", NULL))
		return; /* refused: its rules would only repeat that */
	if (d->type == CFG_DNS_SRV && load_in(&schema_pools, el, "discovery.port", &m)) {
		load_path(path, sizeof(path), "%s.discovery.port", epath);
		load_err(l, m, path,
		         "not used with type SRV (expected the ports of the SRV "
		         "records)");
	} else if (d->type != CFG_DNS_SRV && !load_in(&schema_pools, el, "discovery.port", NULL)) {
		load_err(l, at, path,
		         "missing key \"port\" (expected the backends' port for type %s)",
		         d->type == CFG_DNS_A ? "A" : "AAAA");
	}
	if (load_has(&schema_pools, el, "discovery.resolvers", &m) && !d->resolvers.n) {
		load_path(path, sizeof(path), "%s.discovery.resolvers", epath);
		load_err(l, m, path,
		         "empty (expected at least one ADDR:PORT, or no resolvers key "
		         "for those of /etc/resolv.conf)");
	}
}

/* A pool's backends come from its list or from DNS: exactly one of them. */
static void load_pool_backends(struct load *l, struct cfg_pool *p, struct load_elem *el,
                               const char *epath)
{
	static const char *const keys[] = {"discovery.dns", "discovery.type", "discovery.port",
	                                   "discovery.resolvers", "discovery.interval"};
	char path[LOAD_PATH];
	yaml_mark_t m, at = el->start;
	bool list = load_in(&schema_pools, el, "backends", &m);

	for (unsigned k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		yaml_mark_t km;

		if (load_in(&schema_pools, el, keys[k], &km) &&
		    (!p->discovery.enabled || km.index < at.index))
			at = km;
		p->discovery.enabled |= load_in(&schema_pools, el, keys[k], NULL);
	}
	if (list && p->discovery.enabled) {
		load_path(path, sizeof(path), "%s.backends", epath);
		load_err(l, m, path,
		         "set together with discovery (expected backends or discovery, "
		         "not both)");
	} else if (!list && !p->discovery.enabled) {
		load_err(l, el->start, epath,
		         "missing key \"backends\" or \"discovery\" (expected "
		         "one of them for a pool)");
	} else if (p->discovery.enabled) {
		load_discovery(l, p, el, epath, at);
	}
}

static void load_pool(struct load *l, unsigned i, struct load_elem *el, const char *epath)
{
	struct cfg_pool *p = &l->c->pools[i];
	char path[LOAD_PATH], cut[VALUE_CUT_BUF];
	yaml_mark_t m;

	for (unsigned j = 0; j < i && p->name; j++) { /* once, against the first */
		if (l->c->pools[j].name && !strcmp(p->name, l->c->pools[j].name)) {
			load_has(&schema_pools, el, "name", &m);
			load_path(path, sizeof(path), "%s.name", epath);
			load_err(
			    l, m, path,
			    "\"%s\" is already the name of pools[%u] (expected a unique pool name)",
			    value_cut(p->name, cut), j);
			break;
		}
	}
	load_pool_backends(l, p, el, epath);
	if (load_has(&schema_pools, el, "backends", &m) && p->nbackends == 0) {
		load_path(path, sizeof(path), "%s.backends", epath);
		load_err(l, m, path, "empty (expected at least one backend)");
	}
	load_pool_health(l, p, el, epath);
	load_pool_tls(l, p, el, epath);
}

/* Checks one loaded element of <parent>'s list: required keys, then its
 * kind's rules. */
static void load_elem_check(struct load *l, const struct schema_list *sl, void *parent, void *e,
                            unsigned i, struct load_elem *el, const char *epath)
{
	for (unsigned k = 0; k < sl->nkeys; k++) {
		if (sl->keys[k].flags & K_REQ && !(*el->set >> k & 1))
			load_err(l, el->start, epath,
			         "missing key \"%s\" (expected every %s to have %s)",
			         sl->keys[k].path, sl->what, sl->required);
	}
	if (sl == &schema_listeners) {
		load_listener(l, i, el, epath);
	} else if (sl == &schema_pools) {
		load_pool(l, i, el, epath);
	} else if (sl == &schema_routes) {
		load_route(l, e, el, epath);
	} else if (sl == &schema_certs) {
		struct cfg_tls_cert *tc = e;
		const bool *on = &((struct cfg_listener *)parent)->tls.enabled;

		load_tls_file(l, sl, el, epath, "cert", tc->cert, PEM_CERT, on);
		load_tls_file(l, sl, el, epath, "key", tc->key, PEM_KEY, on);
		load_tls_match(l, sl, el, epath, "cert", "key", tc->cert, tc->key, on);
	}
}

static int load_list(struct load *l, yaml_node_t *seq, const struct schema_list *sl, void *parent,
                     const char *path)
{
	char **arr = (char **)((char *)parent + sl->arr_off);
	unsigned *n = (unsigned *)((char *)parent + sl->n_off);
	yaml_node_item_t *items = seq->data.sequence.items.start;
	unsigned count;

	if (seq->type != YAML_SEQUENCE_NODE) {
		load_err(l, seq->start_mark, path, "found %s (expected a sequence of %ss)",
		         load_kind(seq), sl->what);
		return -EINVAL;
	}
	count = seq->data.sequence.items.top - items;
	*arr = calloc(count ? count : 1, sl->size);
	if (!*arr) {
		load_err(l, seq->start_mark, path, "out of memory (expected less)");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < count; i++) {
		yaml_node_t *item = load_node(l, items[i]);
		char *e = *arr + i * sl->size;
		struct load_elem el = {
		    .set = (uint64_t *)(e + sl->set_off),
		    .lines = (uint32_t *)(e + sl->lines_off),
		    .start = item->start_mark,
		};
		char epath[LOAD_PATH];

		schema_defaults(sl->keys, sl->nkeys, e);
		*(int *)(e + sl->line_off) = item->start_mark.line + 1;
		if (sl == &schema_listeners)
			((struct cfg_listener *)e)->pool_idx = -1;
		*n = i + 1;
		load_path(epath, sizeof(epath), "%s[%u]", path, i);
		if (item->type != YAML_MAPPING_NODE) {
			load_err(l, item->start_mark, epath, "found %s (expected a mapping)",
			         load_kind(item));
			continue;
		}
		load_map(l, item, sl->keys, sl->nkeys, e, "", epath, &el);
		load_elem_check(l, sl, parent, e, i, &el, epath);
	}
	return 0;
}

static void load_root(struct load *l)
{
	yaml_node_t *root = yaml_document_get_root_node(&l->doc);
	yaml_node_t *ls;
	yaml_mark_t top = {0};

	if (root && root->type != YAML_MAPPING_NODE) {
		load_err(l, root->start_mark, NULL,
		         "found %s (expected a mapping of top-level keys)", load_kind(root));
		return;
	}
	if (root)
		load_map(l, root, schema_top, schema_ntop, l->c, "", "", NULL);
	load_resolve(l);
	load_pems(l);
	ls = root ? load_get(l, root, "listeners") : NULL;
	if (!ls)
		load_err(l, root ? root->start_mark : top, "listeners",
		         "missing key (expected at least one listener)");
	else if (ls->type == YAML_SEQUENCE_NODE && l->c->nlisteners == 0)
		load_err(l, ls->start_mark, "listeners", "empty (expected at least one listener)");
}

static void load_syntax(struct load *l, yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "cannot parse";

	if (p->context)
		load_err(l, p->problem_mark, NULL, "syntax error: %s %s (expected valid YAML)",
		         problem, p->context);
	else
		load_err(l, p->problem_mark, NULL, "syntax error: %s (expected valid YAML)",
		         problem);
}

/* One open mapping or sequence of load_depth(): the length of its key path,
 * and how many nodes it holds so far (in a mapping, keys are the even ones). */
struct load_level {
	size_t plen;
	unsigned nodes;
	bool map;
};

/* Sets <path> to the key path of the node of <ev> in <up> (NULL: the root):
 * "[i]" after a sequence's path, ".key" after a mapping's ("?" for a key
 * that is no scalar); a mapping's value keeps its key's path. */
static void load_depth_path(struct load_level *up, char *path, const yaml_event_t *ev)
{
	const char *key = ev->type == YAML_SCALAR_EVENT ? (const char *)ev->data.scalar.value : "?";

	if (!up)
		return;
	if (!up->map)
		load_path(path + up->plen, LOAD_PATH - up->plen, "[%u]", up->nodes);
	else if (up->nodes % 2 == 0)
		load_path(path + up->plen, LOAD_PATH - up->plen, "%s%s", up->plen ? "." : "", key);
	up->nodes++;
}

/* Refuses a document nested deeper than LOAD_DEPTH before libyaml builds its
 * tree: libyaml's scanner looks at every open flow level for each token, so
 * a deep file costs the square of its depth (4.7 s at 40,000 levels), and no
 * key of the schema is deeper than 5. Reads events only; a syntax error is
 * left to load_parse(), which reports it. Returns 0, or -EINVAL or -ENOMEM
 * after adding the error. */
static int load_depth(struct load *l, const char *yaml)
{
	struct load_level lv[LOAD_DEPTH];
	char path[LOAD_PATH] = "";
	yaml_parser_t parser;
	yaml_event_t ev;
	unsigned depth = 0;
	bool end = false;
	int ret = 0;

	if (!yaml_parser_initialize(&parser)) {
		config__err(l->errs, l->name, NULL, "out of memory (expected less)");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
	while (!end && !ret && yaml_parser_parse(&parser, &ev)) {
		switch (ev.type) {
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			load_depth_path(depth ? &lv[depth - 1] : NULL, path, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			load_depth_path(depth ? &lv[depth - 1] : NULL, path, &ev);
			if (depth == LOAD_DEPTH) {
				load_err(
				    l, ev.start_mark, path,
				    "nesting deeper than %d (expected at most %d nested mappings and sequences)",
				    LOAD_DEPTH, LOAD_DEPTH);
				ret = -EINVAL;
				break;
			}
			lv[depth++] = (struct load_level){strlen(path), 0,
			                                  ev.type == YAML_MAPPING_START_EVENT};
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			path[lv[--depth].plen] = '\0';
			break;
		case YAML_STREAM_END_EVENT:
			end = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return ret;
}

/* Parses the one document of <yaml> into l->doc. Returns 0 or -EINVAL
 * (l->doc then needs no deleting). */
static int load_parse(struct load *l, const char *yaml)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int ret = 0;

	if (!yaml_parser_initialize(&parser)) {
		config__err(l->errs, l->name, NULL, "out of memory (expected less)");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
	if (!yaml_parser_load(&parser, &l->doc)) {
		load_syntax(l, &parser);
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	if (!yaml_parser_load(&parser, &extra)) {
		load_syntax(l, &parser);
		ret = -EINVAL;
	} else {
		yaml_node_t *root = yaml_document_get_root_node(&extra);

		if (root) {
			load_err(l, root->start_mark, NULL,
			         "syntax error: a second document (expected one YAML document)");
			ret = -EINVAL;
		}
		yaml_document_delete(&extra);
	}
	yaml_parser_delete(&parser);
	if (ret)
		yaml_document_delete(&l->doc);
	return ret;
}

/* LINE and COL of an error line "NAME:LINE:COL: ..." this load wrote. */
static void load_pos(const struct load *l, const char *line, unsigned long pos[2])
{
	size_t n = strlen(l->name);
	char *end;

	pos[0] = pos[1] = 0;
	if (strncmp(line, l->name, n) != 0 || line[n] != ':')
		return;
	pos[0] = strtoul(line + n + 1, &end, 10);
	if (*end == ':')
		pos[1] = strtoul(end + 1, NULL, 10);
}

/* An error line with its position and its place among the lines found. */
struct load_key {
	unsigned long pos[2];
	unsigned idx;
	char *line;
};

static int load_key_cmp(const void *a, const void *b)
{
	const struct load_key *x = a, *y = b;

	if (x->pos[0] != y->pos[0])
		return x->pos[0] < y->pos[0] ? -1 : 1;
	if (x->pos[1] != y->pos[1])
		return x->pos[1] < y->pos[1] ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Puts the lines from <from> on in file order, keeping the order of those
 * at one position: pool references are checked last, but read in place.
 * O(n log n): a file can have many errors (the same name on every element
 * of a long list). Without memory for the keys, the lines stay as found. */
static void load_sort(const struct load *l, unsigned from)
{
	unsigned n = l->errs->n - from;
	struct load_key *k;
	char **v;

	if (n < 2 || !(k = malloc(n * sizeof(*k))))
		return;
	v = l->errs->lines + from;
	for (unsigned i = 0; i < n; i++) {
		load_pos(l, v[i], k[i].pos);
		k[i].idx = i;
		k[i].line = v[i];
	}
	qsort(k, n, sizeof(*k), load_key_cmp);
	for (unsigned i = 0; i < n; i++)
		v[i] = k[i].line;
	free(k);
}

struct config *config_load_string(const char *name, const char *yaml, struct cfg_errors *errs)
{
	struct load l = {.name = name, .errs = errs, .nerr0 = errs->nerr};
	unsigned n0 = errs->n;

	l.c = config_new();
	if (!l.c || !(l.c->path = strdup(name))) {
		config__err(errs, name, NULL, "out of memory (expected less)");
		config_free(l.c);
		return NULL;
	}
	if (load_depth(&l, yaml) == 0 && load_parse(&l, yaml) == 0) {
		load_root(&l);
		yaml_document_delete(&l.doc);
	}
	free(l.refs);
	free(l.pems);
	load_sort(&l, n0);
	if (errs->nerr != l.nerr0) {
		config_free(l.c);
		return NULL;
	}
	config__resolve(l.c);
	return l.c;
}

/* Reads all of <path> into a NUL-terminated buffer the caller frees. */
static char *load_read(const char *path, struct cfg_errors *errs)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY); /* a FIFO: no wait */

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > LOAD_MAX_FILE ||
	    !(buf = malloc(st.st_size + 1)) || (n = read(fd, buf, st.st_size)) != st.st_size) {
		const char *why = fd < 0 || n < 0              ? strerror(errno)
		                  : !S_ISREG(st.st_mode)       ? "not a regular file"
		                  : st.st_size > LOAD_MAX_FILE ? "larger than 16MB"
		                  : !buf                       ? "out of memory"
		                                               : "short read";

		config__err(errs, path, NULL, "cannot read: %s (expected a readable config file)",
		            why);
		free(buf);
		buf = NULL;
	} else if (memchr(buf, '\0', n)) {
		config__err(errs, path, NULL, "contains a NUL byte (expected a text file)");
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

struct config *config_load(const char *path, struct cfg_errors *errs)
{
	char *yaml = load_read(path, errs);
	struct config *c;

	if (!yaml)
		return NULL;
	c = config_load_string(path, yaml, errs);
	free(yaml);
	return c;
}
