/* Logging to stderr, one write(2) per line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"

static _Atomic enum log_level log_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static const char *const log_prefix[] = {
    [LOG_LVL_ERR] = "error: ",
    [LOG_LVL_WARN] = "warning: ",
    [LOG_LVL_INFO] = "",
    [LOG_LVL_DEBUG] = "debug: ",
};

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[4096]; /* the summary names every counter (stats.c) */
	va_list ap;
	int n;

	if (lvl > log_level)
		return;
	n = snprintf(line, sizeof(line), "ringlb: %s", log_prefix[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool log_ratelimit(struct log_ratelimit *rl, uint32_t burst)
{
	uint64_t now = clock_ms();
	uint64_t refill = (now - rl->last_ms) / 1000;

	if (refill) {
		rl->tokens = refill + rl->tokens > burst ? burst : rl->tokens + refill;
		rl->last_ms = now;
	}
	if (!rl->last_ms) {
		rl->last_ms = now;
		rl->tokens = burst;
	}
	if (rl->tokens) {
		rl->tokens--;
		return true;
	}
	rl->suppressed++;
	return false;
}
