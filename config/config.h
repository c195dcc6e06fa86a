/* The configuration: loading, overrides, validation, printing, lifetime.
 *
 * The control thread builds a snapshot in this order, each step on top of
 * the last (precedence: CLI > environment > file > built-in default):
 *
 *	c = path ? config_load(path, &errs) : config_builtin();
 *	config_apply_env(c, environ, &errs);
 *	config_apply_cli(c, &opts, &errs);          (config/cli.h)
 *	config_validate(c, &errs);
 *
 * config_build() (config/cli.h) does all four. Errors are collected, never
 * printed here: every step reports all it finds, one line each, in the
 * format "FILE:LINE:COL: KEY.PATH: MESSAGE (expected WHAT)", or with the
 * environment variable or CLI flag in place of FILE:LINE:COL.
 *
 * A built snapshot is immutable and reference counted: the publisher
 * (config/publish.c) owns the first reference; anyone keeping it past an RCU
 * read section takes one with config_ref().
 */
#ifndef RINGLB_CONFIG_CONFIG_H
#define RINGLB_CONFIG_CONFIG_H

#include <stdio.h>

#include "config/config-t.h"

/* Collected error and warning lines, in the order found. */
struct cfg_errors {
	char **lines;  /* without newline; warnings start "ringlb: warning: " */
	unsigned n;    /* lines */
	unsigned nerr; /* of which errors */
	unsigned cap;
};

/* Prepares an empty list (no allocation). */
void config_errors_init(struct cfg_errors *e);
/* Frees every line; <e> is empty again. */
void config_errors_deinit(struct cfg_errors *e);
/* Writes every line to <out>, each followed by a newline. */
void config_errors_print(const struct cfg_errors *e, FILE *out);

/* A snapshot with every key at its schema default, no listeners or pools,
 * one reference. NULL on ENOMEM. */
struct config *config_new(void);
/* Frees a snapshot that was never published (ignores the count). */
void config_free(struct config *c);
/* Takes one more reference on <c>; returns <c>. Atomic. */
struct config *config_ref(struct config *c);
/* Drops one reference; the last one calls c->release, unmaps static files
 * and frees everything. Atomic: any thread may drop the last one. */
void config_unref(struct config *c);

/* A new snapshot equal to <cur> (loaded or derived, built or not), with
 * its own copy of pools[] and of every pool's backends[], for
 * config_pool_set_backends(); everything else is shared with the loaded
 * snapshot <cur> comes from, which it keeps a reference on. Its runtime is
 * not built, its generation is <cur>'s, and it holds one reference. NULL
 * on ENOMEM. (Discovery answers: the file is not read again.) */
struct config *config_derive(const struct config *cur);
/* Replaces the backends of pool <pool> of <c>, a snapshot not published
 * yet, with a copy of the <n> at <b>. Returns 0 or -ENOMEM (<c> unchanged). */
int config_pool_set_backends(struct config *c, unsigned pool, const struct cfg_backend *b,
                             unsigned n);

/* Parses the YAML file <path> into a new snapshot. Errors name <path> as
 * given. Returns NULL (and adds to <errs>) on any error. */
struct config *config_load(const char *path, struct cfg_errors *errs);
/* The same from memory; <name> stands for the file in errors. */
struct config *config_load_string(const char *name, const char *yaml, struct cfg_errors *errs);
/* The built-in default config (see builtin.c), every value's source
 * "default", path NULL. NULL only on ENOMEM. */
struct config *config_builtin(void);

/* Applies every RINGLB_* variable of <envp> that names a key; unknown ones
 * add a warning. Returns 0, or -EINVAL after adding an error per bad value
 * (good values are applied either way). */
int config_apply_env(struct config *c, char *const *envp, struct cfg_errors *errs);
/* Cross-key checks (limits, thresholds, counts) and derived defaults
 * (a listener's timeouts.idle). Returns 0 or -EINVAL with the errors. */
int config_validate(struct config *c, struct cfg_errors *errs);

/* The TLS code's check that the private key in PEM file <key> belongs to
 * the certificate in PEM file <cert> (both already checked to be PEM of
 * their kind). Returns 0, or -EINVAL after writing why not to <why> ("an
 * RSA key for an ECDSA certificate"). NULL (the default) = not checked at
 * load. The TLS code cannot reach config/, so whoever links both (core/main.c)
 * sets it once at start, before the first load; the loader then calls it
 * for every cert/key pair of a TLS listener, of its certificates[] and of a
 * TLS pool, and reports a mismatch like any config error, at the cert:
 * FILE:LINE:COL: listeners[0].tls.cert: "a.crt" is not the certificate of
 * key "b.key": ... (expected a certificate and its own key). */
extern int (*config_tls_key_match)(const char *cert, const char *key, char *why, size_t len);

/* Writes every effective key, "path = value  # source", one per line,
 * listeners and pools in full. */
void config_print(const struct config *c, FILE *out);

/* "round_robin", ... (config owns the names); "?" when out of range. */
const char *config_algo_name(enum cfg_algo algo);
/* Index of the pool named <name>, or -1. */
int config_pool_index(const struct config *c, const char *name);

#endif
