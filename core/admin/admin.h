/* The admin endpoint: HTTP/1.1 on the ring, one more protocol on the ops
 * seam (requests read by core/parse/h1.c), served by worker 0 on its own
 * listener (config.admin, from admin.bind).
 *
 *	GET  /metrics   Prometheus text format 0.0.4
 *	GET  /stats     the same figures as JSON
 *	GET  /config    the effective config with every value's source
 *	GET  /health    200 ready, 503 starting or draining
 *	POST /reload    as SIGHUP; answers once the control thread has done it
 *	POST /backends/POOL/ADDR/drain|disable|enable
 *
 * The control thread tells it what it reads (admin_set_source()) and how
 * each reload ended (admin_reload_begin()/admin_reload_end()); everything
 * else it reads from the workers' atomic counters, never stopping one.
 */
#ifndef RINGLB_CORE_ADMIN_H
#define RINGLB_CORE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/admin/admin-t.h"

/* Registers the admin protocol for LMODE_ADMIN listeners. 0 or -errno. */
int admin_register(void);

/* Publishes <src> (copied) and says ringlb is ready: /health answers 200,
 * /metrics and /stats answer at all. */
void admin_set_source(const struct admin_src *src);

/* The control thread starts a reload (SIGHUP or POST /reload). */
void admin_reload_begin(void);
/* ...and ends it: generation <gen> was tried, <ok> or not; <errors> the
 * error lines (copied; NULL = none). */
void admin_reload_end(uint64_t gen, bool ok, const char *errors);

/* The leak check reported <n> more allocations held too long. */
void admin_note_leaks(unsigned n);

#endif
