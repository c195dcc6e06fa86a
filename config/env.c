/* Environment overrides: RINGLB_* variables laid over a snapshot.
 *
 * A top-level key answers to RINGLB_ + its path with '.' as '_', upper-cased
 * (RINGLB_MEMORY_TUNING_WARNING_THRESHOLD), and, when its leaf is unique in
 * the schema, to the short name (RINGLB_WARNING_THRESHOLD); see
 * schema_env_full() and schema_env_short(). When both names of one key are
 * set the full name wins, whatever their order in the environment. Keys of
 * listeners and pools have no variables.
 *
 * A few RINGLB_ variables are not keys but are read directly by the code
 * that needs them; they are listed in env_direct[] so they do not draw an
 * "unknown variable" warning. The test runner's own variables start with
 * RLB_, never RINGLB_.
 */
#include <errno.h>
#include <string.h>

#include "config/config-int.h"
#include "config/value.h"
#include "config/schema.h"

/* RINGLB_ variables that are not keys: who reads them and what for
 * (config/KEYS.md lists them from here). */
static const struct env_direct {
	const char *name;
	const char *doc;
} env_direct[] = {
    {"RINGLB_NUMA_FAKE", "numa/fake.c: `=N` splits the online CPUs into N pretend NUMA nodes, "
                         "so multi-node code paths run on a one-node machine"},
    {"RINGLB_FAULT", "core/base/fault.c: fault injection in a build made with `make fault` "
                     "(`KIND=RATE` or `KIND=@N`, comma-separated; see the README's Reliability "
                     "section); a build without the hooks refuses to start with it set"},
    {"RINGLB_FAULT_SEED", "core/base/fault.c: the seed of the fault injection's draws"},
    {NULL, NULL},
};

/* What the environment says about one top-level key. */
struct env_hit {
	const char *full;  /* value of the full name, or NULL */
	const char *brief; /* value of the short name, or NULL */
};

static bool env_is_direct(const char *name, size_t len)
{
	for (unsigned i = 0; env_direct[i].name; i++) {
		if (strlen(env_direct[i].name) == len && memcmp(env_direct[i].name, name, len) == 0)
			return true;
	}
	return false;
}

static bool env_name_is(const char *want, const char *name, size_t len)
{
	return want && strlen(want) == len && memcmp(want, name, len) == 0;
}

/* Files the variable "NAME=value" of <entry> under its key in <hits>.
 * Returns false when no key has that name. */
static bool env_match(const char *entry, size_t len, struct env_hit *hits)
{
	const char *value = entry + len + 1;

	for (unsigned i = 0; i < schema_ntop; i++) {
		if (env_name_is(schema_env_full(i), entry, len)) {
			hits[i].full = value;
			return true;
		}
		if (env_name_is(schema_env_short(i), entry, len)) {
			hits[i].brief = value;
			return true;
		}
	}
	return false;
}

/* Sets top key <i> from variable <name>; the source becomes the variable. */
static int env_set(struct config *c, unsigned i, const char *name, const char *value, bool brief,
                   struct cfg_errors *errs)
{
	const struct key *k = &schema_top[i];
	char msg[400];
	int ret = schema_set(k, c, value);

	if (ret == -ENOMEM) {
		config__err(errs, name, NULL, "out of memory (expected less)");
		return ret;
	}
	if (ret) {
		schema_explain(k, value, ret, msg, sizeof(msg));
		config__err(errs, name, NULL, "%s", msg);
		return ret;
	}
	c->keys[i] = (struct cfg_keysrc){.src = CFG_SRC_ENV, .env_short = brief};
	return 0;
}

int config_apply_env(struct config *c, char *const *envp, struct cfg_errors *errs)
{
	struct env_hit hits[CFG_MAX_KEYS] = {{0}};
	int ret = 0;

	for (char *const *e = envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : strlen(*e);

		if (!eq || strncmp(*e, "RINGLB_", 7) != 0 || env_is_direct(*e, len))
			continue;
		if (!env_match(*e, len, hits))
			config__warn(
			    errs,
			    "%.*s%s: unknown variable, ignored (expected the name of a key, see config/KEYS.md)",
			    (int)(len > VALUE_CUT ? VALUE_CUT : len), *e,
			    len > VALUE_CUT ? "..." : "");
	}
	for (unsigned i = 0; i < schema_ntop; i++) {
		if (hits[i].brief && hits[i].full)
			config__warn(errs,
			             "%s: ignored, %s is also set (expected one name per key)",
			             schema_env_short(i), schema_env_full(i));
		else if (hits[i].brief &&
		         env_set(c, i, schema_env_short(i), hits[i].brief, true, errs))
			ret = -EINVAL;
		if (hits[i].full && env_set(c, i, schema_env_full(i), hits[i].full, false, errs))
			ret = -EINVAL;
	}
	return ret;
}
