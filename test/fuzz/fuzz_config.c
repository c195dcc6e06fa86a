/* libFuzzer harness for the YAML config loader and its schema
 * (config/yaml.c, schema.c, value.c, config.c, print.c):
 *
 *   make fuzz FUZZ=config SECS=300
 *
 * The input is a config file. It is loaded with config_load_string() as
 * "fuzz.yaml", validated with config_validate() when it loads, printed with
 * config_print() and freed. Beyond the sanitizers and LeakSanitizer (every
 * snapshot, error line and mapped file is released), it checks the error
 * contract of config/config.h:
 * - a snapshot comes back exactly when no error was added, and validation
 *   fails exactly when it adds errors;
 * - every line is "fuzz.yaml:LINE:COL: [KEY.PATH: ]MESSAGE (expected WHAT)":
 *   one line of printable text (no control byte from the file gets in), a
 *   position inside the file, and the "(expected ...)" tail;
 * - the loader's lines are sorted in file order.
 * Relative file paths (static bodies, error pages) resolve from the working
 * directory: run it from the top of the tree, as make does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h" /* the code under test: linked by the Makefile */

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define NAME "fuzz.yaml"

static FILE *devnull;

/* Reads "LINE:COL: " after the name; false when it is not there. */
static bool position(const char *s, unsigned long *line, unsigned long *col, const char **rest)
{
	char *end;

	if (*s < '1' || *s > '9')
		return false;
	*line = strtoul(s, &end, 10);
	if (*end != ':' || end[1] < '1' || end[1] > '9')
		return false;
	*col = strtoul(end + 1, &end, 10);
	if (strncmp(end, ": ", 2) != 0)
		return false;
	*rest = end + 2;
	return true;
}

/* Lines <from>.. of <e> have the documented format, positions within a
 * file of <breaks> line breaks and <size> bytes (libyaml puts the end of a
 * file whose last line has no break on the line after it); <sorted>: in
 * file order. */
static void check_lines(const struct cfg_errors *e, unsigned from, size_t breaks, size_t size,
                        bool sorted)
{
	unsigned long pline = 0, pcol = 0;

	for (unsigned i = from; i < e->n; i++) {
		const char *l = e->lines[i], *rest;
		unsigned long line, col;
		size_t n = strlen(l);
		bool ok = true;

		for (const char *p = l; *p; p++)
			ok &= (unsigned char)*p >= 0x20 && *p != 0x7f;
		ok &= strncmp(l, NAME ":", sizeof(NAME)) == 0 &&
		      position(l + sizeof(NAME), &line, &col, &rest);
		ok = ok && line <= breaks + 2 && col <= size + 1; /* + 2: the stream's end */
		ok = ok && n > 0 && l[n - 1] == ')' && strstr(rest, " (expected ") && *rest != ' ';
		if (ok && sorted) {
			ok = line > pline || (line == pline && col >= pcol);
			pline = line;
			pcol = col;
		}
		if (!ok) {
			fprintf(stderr, "error line %u breaks the format: \"%s\"\n", i, l);
			abort();
		}
	}
}

/* libyaml's line breaks: LF, CR (CR LF is one), NEL, LS, PS. */
static size_t line_breaks(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n' || *s == '\r' || (unsigned char)*s == 0x85 ||
		     (unsigned char)*s == 0xa8 || (unsigned char)*s == 0xa9;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_errors errs;
	struct config *c;
	char *yaml = malloc(size + 1);
	size_t breaks;
	unsigned n0;

	memcpy(yaml, data, size);
	yaml[size] = '\0'; /* a file with a NUL is refused before this (load_read) */
	breaks = line_breaks(yaml);
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	config_errors_init(&errs);
	c = config_load_string(NAME, yaml, &errs);
	CHECK(errs.n == errs.nerr);
	CHECK(!c == (errs.nerr > 0));
	check_lines(&errs, 0, breaks, size, true);
	if (c) {
		n0 = errs.n;
		CHECK((config_validate(c, &errs) == 0) == (errs.n == n0));
		CHECK(errs.n == errs.nerr);
		check_lines(&errs, n0, breaks, size, false);
		config_print(c, devnull);
		config_unref(c);
	}
	config_errors_deinit(&errs);
	free(yaml);
	return 0;
}
