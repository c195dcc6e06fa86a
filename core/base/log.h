/* Logging: one greppable line per event on stderr, "ringlb: " first.
 *
 *   ringlb: ready pid=123 generation=1        (info)
 *   ringlb: warning: backend 10.0.0.1:80 ...  (warn)
 *   ringlb: error: bind 0.0.0.0:80: ...       (err)
 *
 * Lines are written with one write(2) so threads never interleave inside a
 * line. log_debug() compiles out unless RINGLB_DEBUG is defined. On the data
 * path use log_ratelimit() and count what was suppressed.
 */
#ifndef RINGLB_CORE_LOG_H
#define RINGLB_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include "config/config-t.h"

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)  log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#ifdef RINGLB_DEBUG
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#else
#define log_debug(...) ((void)0)
#endif

/* Token bucket for data-path messages: at most <burst> lines, refilled at
 * one per second. Returns true when this line may be logged; otherwise it
 * counts it in <rl>->suppressed. One per call site, per thread. */
struct log_ratelimit {
	uint64_t last_ms;
	uint32_t tokens;
	uint64_t suppressed;
};
bool log_ratelimit(struct log_ratelimit *rl, uint32_t burst);

/* Monotonic clock in milliseconds. */
uint64_t clock_ms(void);
/* The same in microseconds (latency histograms). */
uint64_t clock_us(void);

#endif
