/* The admin endpoint's internals, shared by admin.c (the protocol, the
 * paths) and metrics.c (what /metrics and /stats say). */
#ifndef RINGLB_CORE_ADMIN_INT_H
#define RINGLB_CORE_ADMIN_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/admin/admin-t.h"
#include "core/loop/worker-t.h"

/* A growing text buffer (malloc). <oom> once an append failed: the text is
 * then cut and must not be sent. */
struct sb {
	char *p;
	size_t len, cap;
	bool oom;
};

void admin__sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void admin__sb_put(struct sb *b, const char *s, size_t n);
/* <s> as a JSON string, quotes included. */
void admin__sb_json_str(struct sb *b, const char *s);

/* What the admin endpoint counts about itself (worker 0 writes, any reads). */
struct admin_counters {
	_Atomic uint64_t requests[6]; /* by class: [0] other, [1..5] 1xx..5xx */
	_Atomic uint64_t unauthorized;
	_Atomic uint64_t leak_reports;
	_Atomic uint64_t reloads_ok, reloads_failed;
};

extern struct admin_counters admin__count;

/* Publishes <s> (copied): admin_set_source(). */
void admin__set_src(const struct admin_src *s);
/* The source admin_set_source() published, NULL before. */
const struct admin_src *admin__src(void);

/* /metrics: appends the exposition of everything to <b>. <w> is the
 * worker answering (its snapshot: generation, listener modes). */
void admin__metrics(struct sb *b, const struct worker *w);
/* /stats: the same as one JSON object. */
void admin__stats_json(struct sb *b, const struct worker *w);

#endif
