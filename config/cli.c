/* The command line, and the whole build of a snapshot from file (or the
 * built-in config), environment and flags.
 *
 * cli_parse() only sorts argv into struct cli_opts; the values of flags
 * that set keys stay text until config_apply_cli() parses them with the
 * schema's parsers, so "--workers abc" and "workers: abc" read alike. A
 * usage error (unknown flag, missing argument, stray word) is one line on
 * stderr, "ringlb: error: ...", and exit status 2.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/cli.h"
#include "config/config-int.h"
#include "config/value.h"
#include "config/schema.h"
#include "numa/cpulist.h"

#define CLI_VERSION "ringlb 0.1.0"

enum {
	OPT_WORKERS = 256,
	OPT_CPUS,
	OPT_NODES,
	OPT_PIDFILE,
	OPT_LOG_LEVEL,
	OPT_SEED,
	OPT_CHECK,
	OPT_PRINT_CONFIG,
	OPT_UPGRADE,
};

static const struct option cli_longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"nodes", required_argument, NULL, OPT_NODES},
    {"pidfile", required_argument, NULL, OPT_PIDFILE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"check", no_argument, NULL, OPT_CHECK},
    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
    {"upgrade", no_argument, NULL, OPT_UPGRADE},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The flags that set keys: the schema row's .cli and the field of
 * struct cli_opts that holds its text. */
static const struct cli_key {
	const char *flag;
	size_t off;
} cli_keys[] = {
    {"--workers", offsetof(struct cli_opts, workers)},
    {"--cpus", offsetof(struct cli_opts, cpus)},
    {"--nodes", offsetof(struct cli_opts, nodes)},
    {"--log-level", offsetof(struct cli_opts, log_level)},
    {"--seed", offsetof(struct cli_opts, seed)},
};

static const char cli_usage[] =
    "usage: ringlb [-c FILE] [options]\n"
    "\n"
    "  -c, --config FILE    load FILE (default: the built-in demo config)\n"
    "      --workers N      worker threads, or auto (one per chosen CPU)\n"
    "      --cpus LIST      CPUs for workers, e.g. 0-7,16-23 (default: all online)\n"
    "      --nodes LIST     NUMA nodes for workers, e.g. 0,1 (default: all)\n"
    "      --pidfile FILE   write the process id to FILE\n"
    "      --log-level L    error, warning, info or debug\n"
    "      --seed N         PRNG seed for reproducible runs (0 = random)\n"
    "      --check          validate the config, print a summary and exit\n"
    "      --print-config   print every effective key and its source, and exit\n"
    "      --upgrade        replace the running ringlb (this binary, this config): take its\n"
    "                       listening sockets from upgrade.socket, start accepting, then\n"
    "                       tell it to drain and exit; if this one fails to start, the\n"
    "                       running one goes on serving (exit status 1, the reason on stderr)\n"
    "  -V, --version        print the version and exit\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Precedence: flag > RINGLB_* environment variable > file > default.\n"
    "Every key, its variables and flag: config/KEYS.md.\n";

/* The option getopt_long() stopped at, for messages: "--foo" or "-x". */
static const char *cli_bad_opt(char **argv, char *buf, size_t len)
{
	const char *a = argv[optind - 1];
	const char *eq = strchr(a, '=');

	if (strncmp(a, "--", 2) != 0)
		snprintf(buf, len, "-%c", optopt);
	else
		snprintf(buf, len, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
	return buf;
}

static int cli_usage_err(const char *fmt, const char *arg)
{
	fputs("ringlb: error: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see ringlb --help)\n", stderr);
	return -EINVAL;
}

/* Stores the argument of option <opt> in <o>. Returns 1 for --help and
 * --version (printed), else 0. */
static int cli_store(int opt, struct cli_opts *o)
{
	switch (opt) {
	case 'c':
		o->config = optarg;
		break;
	case OPT_WORKERS:
		o->workers = optarg;
		break;
	case OPT_CPUS:
		o->cpus = optarg;
		break;
	case OPT_NODES:
		o->nodes = optarg;
		break;
	case OPT_PIDFILE:
		o->pidfile = optarg;
		break;
	case OPT_LOG_LEVEL:
		o->log_level = optarg;
		break;
	case OPT_SEED:
		o->seed = optarg;
		break;
	case OPT_CHECK:
		o->check = true;
		break;
	case OPT_PRINT_CONFIG:
		o->print_config = true;
		break;
	case OPT_UPGRADE:
		o->upgrade = true;
		break;
	case 'V':
		printf("%s\n", CLI_VERSION);
		return 1;
	case 'h':
		fputs(cli_usage, stdout);
		return 1;
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_opts *o)
{
	char name[64];
	int opt;

	memset(o, 0, sizeof(*o));
	optind = 0; /* glibc: start afresh, so tests may parse many times */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:hV", cli_longopts, NULL)) != -1) {
		/* a known long option given "=value" it does not take sets optopt */
		if (opt == '?' && optopt && !strncmp(argv[optind - 1], "--", 2))
			return cli_usage_err("%s takes no argument",
			                     cli_bad_opt(argv, name, sizeof(name)));
		if (opt == '?')
			return cli_usage_err("unknown option %s",
			                     cli_bad_opt(argv, name, sizeof(name)));
		if (opt == ':')
			return cli_usage_err("%s needs an argument",
			                     cli_bad_opt(argv, name, sizeof(name)));
		if (cli_store(opt, o))
			return 1;
	}
	if (optind < argc)
		return cli_usage_err("unexpected argument \"%s\"", argv[optind]);
	if (o->check && o->print_config)
		return cli_usage_err("%s and --print-config exclude each other", "--check");
	if (o->upgrade && (o->check || o->print_config))
		return cli_usage_err("%s excludes --check and --print-config", "--upgrade");
	if (o->pidfile && !*o->pidfile)
		return cli_usage_err("%s needs a file name", "--pidfile");
	if (o->config && !*o->config)
		return cli_usage_err("%s needs a file name", "--config");
	return 0;
}

/* --cpus and --nodes: the list must parse as numa/cpulist.c reads it. */
static int cli_check_list(const char *flag, const char *text, struct cfg_errors *errs)
{
	char err[128] = "", cut[VALUE_CUT_BUF];
	cpu_set_t set;

	if (!*text || cpulist_parse(text, &set, err, sizeof(err)) == 0)
		return 0; /* empty: schema_set() reports it */
	config__err(errs, flag, NULL, "\"%s\" is not a list: %s (expected a list like 0-7,16-23)",
	            value_cut(text, cut), err);
	return -EINVAL;
}

static int cli_set(struct config *c, unsigned i, const char *text, struct cfg_errors *errs)
{
	const struct key *k = &schema_top[i];
	char msg[400];
	int ret;

	if (k->type == KT_LIST_TEXT && cli_check_list(k->cli, text, errs))
		return -EINVAL;
	ret = schema_set(k, c, text);
	if (ret == -ENOMEM) {
		config__err(errs, k->cli, NULL, "out of memory (expected less)");
		return ret;
	}
	if (ret) {
		schema_explain(k, text, ret, msg, sizeof(msg));
		config__err(errs, k->cli, NULL, "%s", msg);
		return ret;
	}
	c->keys[i] = (struct cfg_keysrc){.src = CFG_SRC_CLI};
	return 0;
}

int config_apply_cli(struct config *c, const struct cli_opts *o, struct cfg_errors *errs)
{
	int ret = 0;

	for (unsigned i = 0; i < schema_ntop; i++) {
		const struct key *k = &schema_top[i];

		if (!k->cli)
			continue;
		for (unsigned j = 0; j < sizeof(cli_keys) / sizeof(cli_keys[0]); j++) {
			const char *text =
			    *(const char *const *)((const char *)o + cli_keys[j].off);

			if (strcmp(cli_keys[j].flag, k->cli) == 0 && text &&
			    cli_set(c, i, text, errs))
				ret = -EINVAL;
		}
	}
	return ret;
}

struct config *config_build(const struct cli_opts *o, char *const *envp, struct cfg_errors *errs)
{
	unsigned nerr0 = errs->nerr;
	struct config *c;

	c = o->config ? config_load(o->config, errs) : config_builtin();
	if (!c) {
		if (!o->config)
			config__err(errs, "<built-in>", NULL, "out of memory (expected less)");
		return NULL;
	}
	/* every step runs, so one try reports every error */
	config_apply_env(c, envp, errs);
	config_apply_cli(c, o, errs);
	config_validate(c, errs);
	if (errs->nerr != nerr0) {
		config_free(c);
		return NULL;
	}
	return c;
}

static const char *cli_plural(unsigned n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void cli_summary_listener(const struct config *c, const struct cfg_listener *l, FILE *out)
{
	static const char *const modes[] = {"tcp", "http", "static"};

	fprintf(out, "listener %s: %s %s", l->name, modes[l->mode], l->bind.text);
	if (l->mode == LMODE_STATIC)
		fprintf(out, ", %s %zu bytes", l->file ? "file" : "body", l->body_len);
	else if (l->pool_idx >= 0)
		fprintf(out, " -> pool %s", c->pools[l->pool_idx].name);
	if (l->nroutes)
		fprintf(out, ", %u %s", l->nroutes, cli_plural(l->nroutes, "route", "routes"));
	if (l->tls.enabled)
		fprintf(out, ", tls %u %s", 1 + l->tls.ncertificates,
		        cli_plural(1 + l->tls.ncertificates, "certificate", "certificates"));
	if (l->access_log.path && l->mode != LMODE_STATIC)
		fprintf(out, ", access log %s (%s)", l->access_log.path,
		        !l->access_log.format || !strcmp(l->access_log.format, "text") ? "text"
		        : !strcmp(l->access_log.format, "json")                        ? "json"
		                                                : "template");
	fprintf(out, ", max_connections %u\n", l->max_connections);
}

void config_print_summary(const struct config *c, FILE *out)
{
	unsigned nb = 0;
	char workers[16];

	for (unsigned i = 0; i < c->nlisteners; i++)
		cli_summary_listener(c, &c->listeners[i], out);
	for (unsigned i = 0; i < c->npools; i++) {
		static const char *const types[] = {"A", "AAAA", "SRV"};
		const struct cfg_pool *p = &c->pools[i];

		if (p->discovery.enabled)
			fprintf(out, "pool %s: %s, backends from DNS %s %s", p->name,
			        config_algo_name(p->algorithm), types[p->discovery.type],
			        p->discovery.dns);
		else
			fprintf(out, "pool %s: %s, %u %s", p->name, config_algo_name(p->algorithm),
			        p->nbackends, cli_plural(p->nbackends, "backend", "backends"));
		fprintf(out, "%s%s%s\n",
		        !p->tls.enabled                    ? ""
		        : p->tls.verify == CFG_VERIFY_NONE ? ", tls (verify none)"
		                                           : ", tls",
		        !p->health.enabled                 ? ""
		        : p->health.type == CFG_CHECK_HTTP ? ", http checks"
		                                           : ", tcp checks",
		        p->health.passive.enabled ? ", passive checks" : "");
		nb += p->nbackends;
	}
	schema_format(&schema_top[config__key("workers")], c, workers, sizeof(workers));
	fprintf(out, "%s: ok: %u %s, %u %s, %u %s, workers %s\n", c->path ? c->path : "<built-in>",
	        c->nlisteners, cli_plural(c->nlisteners, "listener", "listeners"), c->npools,
	        cli_plural(c->npools, "pool", "pools"), nb, cli_plural(nb, "backend", "backends"),
	        workers);
	fflush(out);
}
