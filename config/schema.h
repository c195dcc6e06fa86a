/* The key table: every configuration key once, with its type, default,
 * range, place in the model and names. It drives the YAML loader, the
 * environment, the CLI, defaults, freeing and --print-config, so nothing
 * about a key is written twice. Internal to config/.
 *
 * A table describes one mapping kind: the top level, a listener, a route,
 * a pool or a backend. Paths are dotted and relative to their table
 * ("memory_tuning.warning_threshold", "timeouts.connect"); a KT_LIST row
 * holds a sequence of mappings of another table.
 */
#ifndef RINGLB_CONFIG_SCHEMA_H
#define RINGLB_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "config/config-t.h"

enum key_type {
	KT_LIST,      /* sequence of mappings of key.list */
	KT_COUNT,     /* uint32_t */
	KT_WORKERS,   /* unsigned: "auto" (stored as 0) or a count */
	KT_U64,       /* uint64_t */
	KT_SIZE,      /* uint64_t bytes */
	KT_DURATION,  /* uint64_t milliseconds */
	KT_RATIO,     /* double in [dmin, dmax] */
	KT_GROWTH,    /* double in (dmin, dmax] */
	KT_ADDR,      /* struct cfg_addr */
	KT_ENUM,      /* int: index into names[] */
	KT_BOOL,      /* bool: true/false, yes/no, on/off */
	KT_STRLIST,   /* struct cfg_strlist: a sequence of protocol names, or "a,b" */
	KT_ADDRLIST,  /* struct cfg_strlist: a sequence of IP addresses and ports, or "a,b" */
	KT_NAME,      /* char *: letters, digits, '-', '_', '.'; every type from here is a char * */
	KT_STRING,    /* char *: anything; its length goes to len_off */
	KT_PATH,      /* char *: a non-empty file path */
	KT_HOST,      /* char *: "example.com" or "*.example.com" */
	KT_PREFIX,    /* char *: a URL path prefix starting with '/' */
	KT_HASH,      /* char *: "client_ip" or "header:NAME" */
	KT_LIST_TEXT, /* char *: a CPU or node list, kept as written */
	KT_CIPHERS,   /* char *: a cipher list like "A:B:!C", kept as written */
	KT_SNI,       /* char *: a server name: a host name, no wildcard, no address */
	KT_TARGET,    /* char *: an HTTP request target: '/' then visible ASCII */
	KT_AUTHORITY, /* char *: a Host header value: host or host:port, visible ASCII */
	KT_STATUSES,  /* char *: HTTP statuses like "200-399" or "200,204,300-399" */
	KT_DNS,       /* char *: a DNS name to resolve: labels of letters, digits, '-', '_' */
	KT_LOGDEST,   /* char *: access log destination: a file, stderr, syslog[:SOCKET] */
	KT_LOGFMT,    /* char *: access log format: text, json or a %{field} template */
};

#define K_REQ    0x1 /* required in its mapping */
#define K_NOFILE 0x2 /* not in the file: environment and CLI only */
#define K_NOENV  0x4 /* no environment variable */
#define K_SECRET 0x8 /* never printed: --print-config shows "(set)" or "(none)" */

struct schema_list;

struct key {
	const char *path;
	enum key_type type;
	unsigned flags;
	size_t off;                     /* of the field, in the table's struct */
	const char *def;                /* default, parsed like any value; NULL = unset */
	uint64_t min, max;              /* counts, sizes, durations */
	double dmin, dmax;              /* ratios, growth factors */
	const char *const *names;       /* KT_ENUM, NULL-terminated */
	const char *noun;               /* KT_ENUM: "mode", "log level" */
	const char *alias;              /* environment short name, replacing the leaf */
	const char *cli;                /* the flag that sets it, "--workers" */
	const struct schema_list *list; /* KT_LIST */
	size_t len_off;                 /* KT_STRING: where its length goes */
	const char *doc;                /* one line for KEYS.md */
};

struct schema_list {
	const char *what; /* "listener" */
	const struct key *keys;
	unsigned nkeys;
	size_t size;              /* of one element */
	size_t arr_off, n_off;    /* array pointer and count, in the parent */
	size_t line_off, set_off; /* element's line and keys_set */
	const char *required;     /* "name, bind and mode", for errors */
	size_t lines_off;         /* element's key_line[] */
};

extern const struct key schema_top[];
extern const unsigned schema_ntop;
extern const struct schema_list schema_listeners, schema_routes, schema_certs, schema_pools,
    schema_backends;
/* Every list table, for walks over the whole schema. */
extern const struct schema_list *const schema_lists[];
extern const unsigned schema_nlists;

extern const char *const schema_algo_names[];

/* Parses <text> as <k>'s type, checks its range and stores it in <base>
 * (freeing the string it replaces). Returns 0, -EINVAL (not of the type)
 * or -ERANGE (out of range); nothing is stored on error. */
int schema_set(const struct key *k, void *base, const char *text);
/* The error line's tail for schema_set()'s <err>:
 * "1.7 is out of range (expected a ratio in 0..1)". */
void schema_explain(const struct key *k, const char *text, int err, char *buf, size_t len);
/* What <k> accepts: "a ratio in 0..1". */
void schema_expect(const struct key *k, char *buf, size_t len);
/* <k>'s value in <base> in canonical form ("512MB", "auto", "(none)"). */
void schema_format(const struct key *k, const void *base, char *buf, size_t len);

/* Sets every row of <keys> that has a default. */
void schema_defaults(const struct key *keys, unsigned n, void *base);
/* Frees the strings and lists <keys> describe in <base> (not <base>). */
void schema_free(const struct key *keys, unsigned n, void *base);
/* KT_STRLIST, KT_ADDRLIST: empties <k>'s list in <base>; appends <text> to
 * it after checking it is a protocol name (an address and port). Return 0,
 * -EINVAL or -ENOMEM. */
void schema_strlist_clear(const struct key *k, void *base);
int schema_strlist_push(const struct key *k, void *base, const char *text);

/* The row named <path> in <keys>, or NULL. */
const struct key *schema_find(const struct key *keys, unsigned n, const char *path);
/* Environment names of top row <i>: RINGLB_ + path; and the short one
 * (alias or unique leaf), or NULL when there is none. NULL for K_NOENV. */
const char *schema_env_full(unsigned i);
const char *schema_env_short(unsigned i);

#endif
