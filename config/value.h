/* Scalar values as operators write them, parsed the same way everywhere
 * (YAML, environment, CLI) and printed back in canonical units.
 *
 *   sizes      16KB 4GB 512MB 100B 1KiB 4096   (binary: KB = KiB = 1024)
 *   durations  250ms 30s 5m 1h 1d              (a unit is required)
 *   numbers    0.8 1.5                         (ratios, growth factors)
 *   counts     0 1000                          (unsigned decimal)
 *   booleans   true false yes no on off 1 0
 *   addresses  127.0.0.1:8080 [::1]:8080       (numeric only, no DNS)
 *
 * Every parser returns 0, -EINVAL when the text is not of that kind, or
 * -ERANGE when it is but cannot be represented (overflow, a sign). Range
 * checks against a key's bounds are the caller's (config/schema.c).
 */
#ifndef RINGLB_CONFIG_VALUE_H
#define RINGLB_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config-t.h"

/* An unsigned decimal integer up to UINT64_MAX. */
int value_count(const char *s, uint64_t *out);
/* A size in bytes: an integer, optionally followed by B, K, KB, KiB, M, MB,
 * MiB, G, GB, GiB, T, TB or TiB (any case, binary multiples). */
int value_size(const char *s, uint64_t *out);
/* A duration in milliseconds: an integer followed by ms, s, m, h or d. */
int value_duration(const char *s, uint64_t *ms);
/* A finite decimal number (no hex, no inf/nan). A leading '-' is allowed:
 * the range check rejects it with a better message. */
int value_number(const char *s, double *out);
int value_bool(const char *s, bool *out);
/* "IPv4:port" or "[IPv6]:port", port 1..65535, resolved without DNS
 * (getaddrinfo with AI_NUMERICHOST|AI_NUMERICSERV). Only -EINVAL. */
int value_addr(const char *s, struct cfg_addr *a);
/* HTTP statuses: "200-399", "200,204,300-399" (100..599, lo <= hi, at
 * most CFG_STATUS_RANGES ranges, no spaces). The ranges go to <lo>/<hi>
 * (CFG_STATUS_RANGES entries each, NULL to only validate); returns how
 * many, or -EINVAL. */
int value_statuses(const char *s, uint16_t *lo, uint16_t *hi);

/* Canonical forms, as --print-config shows them: "0", "16KB", "1000B";
 * "0s", "250ms", "5m". Return snprintf's result. */
int value_fmt_size(uint64_t v, char *buf, size_t len);
int value_fmt_duration(uint64_t ms, char *buf, size_t len);
/* Shortest text that reads back as the same double ("0.8", "1.5", "10",
 * "0.00001"), without an exponent: value_number() reads none. A number
 * with more digits than <len> holds is cut (snprintf's result says so). */
int value_fmt_number(double v, char *buf, size_t len);

/* Text from a file, the environment or the command line as an error line
 * quotes it: up to VALUE_CUT bytes, cut on a UTF-8 boundary and marked
 * "...", so that the line's "(expected ...)" always fits. Returns <s>, or
 * <buf> (VALUE_CUT_BUF bytes) holding the cut text. */
#define VALUE_CUT     64
#define VALUE_CUT_BUF (VALUE_CUT + 4)
const char *value_cut(const char *s, char *buf);

#endif
