/* libFuzzer harness for the environment overrides (config_apply_env(),
 * config/env.c) laid over a loaded config, as config_build() does:
 *
 *   make fuzz FUZZ=env SECS=300
 *
 * The input is a config file, a NUL byte, then an environment, one
 * "NAME=value" a line; with no NUL it is all environment, over the built-in
 * config. A file that does not load is replaced by the built-in config (the
 * config harness checks the loader). A line whose first byte is 0x80 or
 * above names a key by index instead: its full variable (even index) or its
 * short one (odd), then '=' and the rest of the line.
 *
 * What it checks, beyond the sanitizers and LeakSanitizer, against what
 * config/env.c documents, key by key:
 * - a key no variable names keeps its value and its source;
 * - a key named by a variable (its full name winning over its short one,
 *   the last of equal names winning) has the value that text gives a fresh
 *   snapshot, with the variable as its source; or, when the text is not a
 *   value of the key, its old value and one error line naming the variable;
 * - -EINVAL exactly when an error was added, one error per refused key;
 * - every line is one line of printable text; an error line is
 *   "RINGLB_NAME: MESSAGE (expected WHAT)" with a name the environment set,
 *   a warning names a variable the environment has (an unknown one, cut at
 *   64 bytes, or a short name ignored beside its full one);
 * - config_validate()'s lines that name a variable name one that set the key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h" /* the code under test: linked by the Makefile */
#include "config/schema.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define NAME "fuzz.yaml"
#define WARN "ringlb: warning: "

static FILE *devnull;

/* Splits <text> into an environment (see the head comment). */
static char **make_env(const char *text)
{
	size_t n = 1;
	char **env;
	unsigned i = 0;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	env = calloc(n + 1, sizeof(*env));
	while (*text) {
		size_t len = strcspn(text, "\n");
		unsigned char b = (unsigned char)text[0];
		const char *name;

		if (b >= 0x80) {
			unsigned k = (b - 0x80) % (2 * schema_ntop);

			name = k % 2 ? schema_env_short(k / 2) : schema_env_full(k / 2);
			if (name && asprintf(&env[i], "%s=%.*s", name, (int)len - 1, text + 1) > 0)
				i++;
		} else {
			env[i++] = strndup(text, len);
		}
		text += len + (text[len] == '\n');
	}
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

/* The value of the last "<name>=" in <env>, or NULL. */
static const char *env_value(char **env, const char *name)
{
	const char *v = NULL;
	size_t n = name ? strlen(name) : 0;

	for (char **e = env; name && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			v = *e + n + 1;
	return v;
}

/* Whether <env> has a variable named by the <n> bytes at <s>. */
static bool env_has(char **env, const char *s, size_t n)
{
	for (char **e = env; *e; e++) {
		const char *eq = strchr(*e, '=');

		if (eq && (size_t)(eq - *e) == n && !memcmp(*e, s, n))
			return true;
	}
	return false;
}

/* Whether warning text <w> starts with the name of a RINGLB_ variable of
 * <env> and ": ", the name as a warning writes it: its first 64 bytes and
 * "..." if longer, each control byte as \xNN. */
static bool warning_names_var(const char *w, char **env)
{
	for (char **e = env; *e; e++) {
		const char *eq = strchr(*e, '=');
		char name[64 * 4 + 8];
		size_t n = 0;

		if (!eq || strncmp(*e, "RINGLB_", 7))
			continue;
		for (const char *p = *e; p < eq && p < *e + 64; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				n += (size_t)sprintf(name + n, "\\x%02x", (unsigned char)*p);
			else
				name[n++] = *p;
		}
		n += (size_t)sprintf(name + n, "%s: ", eq - *e > 64 ? "..." : "");
		if (!strncmp(w, name, n))
			return true;
	}
	return false;
}

static void fail_line(unsigned i, const char *l, const char *why)
{
	fprintf(stderr, "line %u %s: \"%s\"\n", i, why, l);
	abort();
}

/* Lines <from>.. of <e>: printable, one each, "... (expected WHAT)". */
static void check_text(const struct cfg_errors *e, unsigned from)
{
	for (unsigned i = from; i < e->n; i++) {
		const char *l = e->lines[i];
		size_t n = strlen(l);

		for (const char *p = l; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				fail_line(i, l, "has a control byte");
		if (!n || l[n - 1] != ')' || !strstr(l, " (expected "))
			fail_line(i, l, "has no (expected ...) tail");
	}
}

/* Every line config_apply_env() added names a variable of <env>. */
static void check_env_lines(const struct cfg_errors *e, unsigned from, char **env,
                            unsigned want_errors)
{
	unsigned nerr = 0;

	check_text(e, from);
	for (unsigned i = from; i < e->n; i++) {
		const char *l = e->lines[i];
		size_t n;

		if (!strncmp(l, WARN, strlen(WARN))) {
			if (!warning_names_var(l + strlen(WARN), env))
				fail_line(i, l, "is a warning naming no variable that is set");
			continue;
		}
		nerr++;
		n = strcspn(l, ":");
		if (strncmp(l, "RINGLB_", 7) || strncmp(l + n, ": ", 2) || !env_has(env, l, n))
			fail_line(i, l, "is an error naming no variable that is set");
	}
	if (nerr != want_errors) {
		fprintf(stderr, "%u error lines, %u keys refused their variable\n", nerr,
		        want_errors);
		abort();
	}
}

/* Key <i>'s value in <c>, formatted. */
static void fmt(unsigned i, const struct config *c, char *buf, size_t len)
{
	schema_format(&schema_top[i], c, buf, len);
}

/* What top key <i> must be after the environment: returns whether it
 * refuses its variable. */
static bool check_key(unsigned i, const struct config *c, const char *before,
                      const struct cfg_keysrc *src, char **env)
{
	const char *full = env_value(env, schema_env_full(i)),
		   *brief = env_value(env, schema_env_short(i));
	const char *v = full ? full : brief;
	char now[512], want[512];
	struct config *d;
	int ret;

	fmt(i, c, now, sizeof(now));
	if (!v) {
		CHECK(!strcmp(now, before));
		CHECK(!memcmp(&c->keys[i], src, sizeof(*src)));
		return false;
	}
	d = config_new();
	CHECK(d);
	ret = schema_set(&schema_top[i], d, v);
	CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	fmt(i, d, want, sizeof(want));
	config_free(d);
	if (ret) {
		if (strcmp(now, before)) {
			fprintf(stderr, "%s: refused \"%s\" but changed \"%s\" to \"%s\"\n",
			        schema_top[i].path, v, before, now);
			abort();
		}
		CHECK(!memcmp(&c->keys[i], src, sizeof(*src)));
		return true;
	}
	if (strcmp(now, want)) {
		fprintf(stderr, "%s: \"%s\" gives \"%s\" on a fresh snapshot, \"%s\" here\n",
		        schema_top[i].path, v, want, now);
		abort();
	}
	CHECK(c->keys[i].src == CFG_SRC_ENV && c->keys[i].env_short == !full);
	return false;
}

/* config_validate()'s lines that name a variable: one that set its key. */
static void check_validate_lines(const struct config *c, const struct cfg_errors *e, unsigned from)
{
	check_text(e, from);
	for (unsigned i = from; i < e->n; i++) {
		const char *l = e->lines[i];
		size_t n = strcspn(l, ":");
		bool ok = false;

		if (strncmp(l, "RINGLB_", 7))
			continue;
		for (unsigned k = 0; k < schema_ntop && !ok; k++) {
			const char *name =
			    c->keys[k].env_short ? schema_env_short(k) : schema_env_full(k);

			ok = c->keys[k].src == CFG_SRC_ENV && name && strlen(name) == n &&
			     !memcmp(name, l, n);
		}
		if (!ok)
			fail_line(i, l, "names a variable that set no key");
	}
}

/* The config under the environment: <yaml> loaded, or the built-in one. */
static struct config *base(const char *yaml)
{
	struct cfg_errors errs;
	struct config *c = NULL;

	config_errors_init(&errs);
	if (yaml)
		c = config_load_string(NAME, yaml, &errs);
	config_errors_deinit(&errs);
	return c ? c : config_builtin();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char before[CFG_MAX_KEYS][512];
	static struct cfg_keysrc src[CFG_MAX_KEYS];
	char *text = malloc(size + 1), *nul, **env;
	struct cfg_errors errs;
	struct config *c;
	unsigned refused = 0, n0;
	int ret;

	memcpy(text, data, size);
	text[size] = '\0';
	nul = memchr(text, '\0', size);
	c = base(nul ? text : NULL);
	CHECK(c);
	env = make_env(nul ? nul + 1 : text);
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	for (unsigned i = 0; i < schema_ntop; i++) {
		fmt(i, c, before[i], sizeof(before[i]));
		src[i] = c->keys[i];
	}
	config_errors_init(&errs);
	ret = config_apply_env(c, env, &errs);
	CHECK(ret == 0 || ret == -EINVAL);
	CHECK((ret == -EINVAL) == (errs.nerr > 0) && errs.nerr <= errs.n);
	for (unsigned i = 0; i < schema_ntop; i++)
		refused += check_key(i, c, before[i], &src[i], env);
	check_env_lines(&errs, 0, env, refused);
	n0 = errs.n;
	ret = config_validate(c, &errs);
	CHECK((ret == 0) == (errs.n == n0));
	check_validate_lines(c, &errs, n0);
	config_print(c, devnull);
	config_errors_deinit(&errs);
	config_unref(c);
	free_env(env);
	free(text);
	return 0;
}
