/* The command line: flags parsed with getopt_long, and the step that lays
 * them over a snapshot (CLI > environment > file > default).
 */
#ifndef RINGLB_CONFIG_CLI_H
#define RINGLB_CONFIG_CLI_H

#include <stdbool.h>

#include "config/config.h"

/* What the command line asked for. Strings point into argv. A value the
 * flag gives is kept as text and parsed by config_apply_cli(), with the
 * same parsers and range checks as the file, so errors read alike. */
struct cli_opts {
	const char *config;    /* -c/--config FILE; NULL = built-in config */
	const char *pidfile;   /* --pidfile FILE */
	const char *workers;   /* --workers N|auto */
	const char *cpus;      /* --cpus LIST */
	const char *nodes;     /* --nodes LIST */
	const char *log_level; /* --log-level LEVEL */
	const char *seed;      /* --seed N */
	bool check;            /* --check: validate, print a summary, exit */
	bool print_config;     /* --print-config: print the effective config, exit */
	bool upgrade;          /* --upgrade: take the listening sockets over from the running
	                          process (upgrade.socket), then tell it to drain */
};

/* Parses argv into <o>. Returns 0 to go on, 1 when --help or --version was
 * printed (exit 0), or -EINVAL after printing one usage line to stderr
 * (exit 2). */
int cli_parse(int argc, char **argv, struct cli_opts *o);

/* Applies the flags of <o> that set keys. Returns 0, or -EINVAL after
 * adding one error per bad value, naming the flag. */
int config_apply_cli(struct config *c, const struct cli_opts *o, struct cfg_errors *errs);

/* The whole build: file (or built-in), environment <envp>, CLI, validation.
 * Returns the snapshot, or NULL with every error in <errs>. Warnings may be
 * in <errs> either way. */
struct config *config_build(const struct cli_opts *o, char *const *envp, struct cfg_errors *errs);

/* --check's output: one line per listener and pool, then totals. */
void config_print_summary(const struct config *c, FILE *out);

#endif
