/* The built-in default config: what ringlb runs with no -c.
 *
 * An L4 listener on 127.0.0.1:8080 and an HTTP listener on :8088, both
 * balancing over two static listeners on 127.0.0.1:8081 and :8082 that
 * answer from memory, so `make run` needs
 * nothing else and a new user can curl it at once. Every other key is at
 * its schema default (the seed profile's small deployment limits, one
 * worker per CPU), except two things that keep it starting in a few MB
 * within a small RLIMIT_NOFILE: the buffer pools' initial counts are
 * divided by 10 (100/50/10/1), and each listener takes max_connections
 * 1024 instead of 4096.
 *
 * It is written as YAML and goes through the same loader as any file, so
 * it cannot drift from what a file would mean; then every source is reset
 * to "default" and the path to NULL.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config-int.h"
#include "config/schema.h"

static const char builtin_yaml[] = "listeners:\n"
				   "  - name: l4\n"
				   "    bind: 127.0.0.1:8080\n"
				   "    mode: tcp\n"
				   "    pool: demo\n"
				   "    splice: auto\n"
				   "    max_connections: 1024\n"
				   "  - name: demo-a\n"
				   "    bind: 127.0.0.1:8081\n"
				   "    mode: static\n"
				   "    body: \"hello from demo-a\\n\"\n"
				   "    max_connections: 1024\n"
				   "  - name: demo-b\n"
				   "    bind: 127.0.0.1:8082\n"
				   "    mode: static\n"
				   "    body: \"hello from demo-b\\n\"\n"
				   "    max_connections: 1024\n"
				   "  - name: web\n"
				   "    bind: 127.0.0.1:8088\n"
				   "    mode: http\n"
				   "    pool: demo\n"
				   "    max_connections: 1024\n"
				   "pools:\n"
				   "  - name: demo\n"
				   "    algorithm: round_robin\n"
				   "    backends:\n"
				   "      - { address: 127.0.0.1:8081, weight: 1 }\n"
				   "      - { address: 127.0.0.1:8082, weight: 1 }\n"
				   "buffer_pools:\n"
				   "  small_buffers:  { initial_count: 100 }\n"
				   "  medium_buffers: { initial_count: 50 }\n"
				   "  large_buffers:  { initial_count: 10 }\n"
				   "  giant_buffers:  { initial_count: 1 }\n";

/* Clears the line of every key of one list's elements, recursively, so
 * --print-config calls them defaults. keys_set stays: it still says which
 * keys the built-in text set, which is what derived defaults look at. */
static void builtin_unmark(const struct schema_list *sl, void *parent)
{
	char *arr = *(char **)((char *)parent + sl->arr_off);
	unsigned n = *(unsigned *)((char *)parent + sl->n_off);

	for (unsigned i = 0; i < n; i++) {
		char *e = arr + i * sl->size;

		memset(e + sl->lines_off, 0, sl->nkeys * sizeof(uint32_t));
		for (unsigned k = 0; k < sl->nkeys; k++) {
			if (sl->keys[k].type == KT_LIST)
				builtin_unmark(sl->keys[k].list, e);
		}
	}
}

struct config *config_builtin(void)
{
	struct cfg_errors errs;
	struct config *c;

	config_errors_init(&errs);
	c = config_load_string("<built-in>", builtin_yaml, &errs);
	/* the text is ours: only ENOMEM can fail it */
	config_errors_deinit(&errs);
	if (!c)
		return NULL;
	free(c->path);
	c->path = NULL;
	memset(c->keys, 0, sizeof(c->keys)); /* CFG_SRC_DEFAULT is 0 */
	builtin_unmark(&schema_listeners, c);
	builtin_unmark(&schema_pools, c);
	return c;
}
