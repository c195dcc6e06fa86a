/* --print-config: every effective key, where it came from.
 *
 *	memory_tuning.warning_threshold = 0.75  # RINGLB_WARNING_THRESHOLD
 *	listeners[0].bind = 127.0.0.1:8080  # ringlb.yaml:4
 *	listeners[0].timeouts.idle = 300s  # default (memory_tuning.idle_connection_timeout)
 *
 * One line per key, in the schema's order, listeners and pools in full
 * (every row of their tables, including those their mode does not use).
 * A source is "default", FILE:LINE, the variable or the flag.
 */
#include <stdio.h>
#include <string.h>

#include "config/config-int.h"
#include "config/schema.h"

static void print_line(FILE *out, const char *path, const char *value, const char *src)
{
	fprintf(out, "%s = %s  # %s\n", path, value, src);
}

static const char *print_top_src(const struct config *c, unsigned i, char *buf, size_t len)
{
	const struct cfg_keysrc *s = &c->keys[i];

	switch (s->src) {
	case CFG_SRC_FILE:
		snprintf(buf, len, "%s:%u", c->path ? c->path : "<built-in>", s->line);
		return buf;
	case CFG_SRC_ENV:
	case CFG_SRC_CLI:
		return config__where(c, i, buf, len);
	default:
		return "default";
	}
}

static void print_list(const struct config *c, const struct schema_list *sl, const void *parent,
                       const char *prefix, FILE *out);

/* Every row of <sl> for element <e>, written as "<epath>.row". */
static void print_elem(const struct config *c, const struct schema_list *sl, const char *e,
                       const char *epath, FILE *out)
{
	const uint32_t *lines = (const uint32_t *)(e + sl->lines_off);
	char path[256], value[160], src[300];

	for (unsigned k = 0; k < sl->nkeys; k++) {
		const struct key *key = &sl->keys[k];

		if (snprintf(path, sizeof(path), "%s.%s", epath, key->path) >= (int)sizeof(path))
			continue; /* cannot happen: schema paths are short */
		if (key->type == KT_LIST) {
			print_list(c, key->list, e, path, out);
			continue;
		}
		schema_format(key, e, value, sizeof(value));
		if (lines[k] && c->path)
			snprintf(src, sizeof(src), "%s:%u", c->path, lines[k]);
		else if (sl == &schema_listeners && !strcmp(key->path, "timeouts.idle"))
			snprintf(src, sizeof(src),
			         "default (memory_tuning.idle_connection_timeout)");
		else
			snprintf(src, sizeof(src), "default");
		print_line(out, path, value, src);
	}
}

static void print_list(const struct config *c, const struct schema_list *sl, const void *parent,
                       const char *prefix, FILE *out)
{
	const char *arr = *(char *const *)((const char *)parent + sl->arr_off);
	unsigned n = *(const unsigned *)((const char *)parent + sl->n_off);
	char epath[256];

	if (n == 0)
		print_line(out, prefix, "[]", "default");
	for (unsigned i = 0; i < n; i++) {
		if (snprintf(epath, sizeof(epath), "%s[%u]", prefix, i) >= (int)sizeof(epath))
			continue; /* cannot happen: schema paths are short */
		print_elem(c, sl, arr + i * sl->size, epath, out);
	}
}

void config_print(const struct config *c, FILE *out)
{
	char value[160], src[300];

	fprintf(out, "# ringlb effective configuration: %s\n", c->path ? c->path : "built-in");
	for (unsigned i = 0; i < schema_ntop; i++) {
		const struct key *k = &schema_top[i];

		if (k->type == KT_LIST) {
			print_list(c, k->list, c, k->path, out);
			continue;
		}
		schema_format(k, c, value, sizeof(value));
		print_line(out, k->path, value, print_top_src(c, i, src, sizeof(src)));
	}
	fflush(out);
}
