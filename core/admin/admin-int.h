/* The admin endpoint's internals, shared by admin.c (the protocol, the
 * paths), sums.c (the figures of one scrape), metrics.c (/metrics) and
 * json.c (/stats). */
#ifndef RINGLB_CORE_ADMIN_INT_H
#define RINGLB_CORE_ADMIN_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/admin/admin-t.h"
#include "core/lb/backend-t.h"
#include "core/loop/lstat-t.h"
#include "core/loop/worker-t.h"
#include "core/mem/acct.h"
#include "core/mem/pool.h"

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

/* ---- sums.c: the figures of one scrape ---- */

#define ADMIN_LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

extern const char *const admin__comp_name[ACCT_NCOMP];
extern const char *const admin__class_name[BUF_NCLASS];
extern const char *const admin__rej_name[LSTAT_NREJ];
extern const char *const admin__code_name[LSTAT_NCODE];

struct hsum {
	uint64_t n[LSTAT_NB + 1];
	uint64_t sum_us;
};

struct lsum {
	const char *name;
	uint64_t accepted, active, deferred, rejected[LSTAT_NREJ], http[LSTAT_NCODE];
	struct hsum dur;
};

struct bsum {
	const char *pool, *addr;
	uint64_t http[LSTAT_NCODE];
	struct hsum connect;
};

struct besum {
	char *pool, *addr;
	enum backend_state state;
	bool health_up;
	uint64_t active, picks, ok, fail, transitions;
};

struct sums {
	struct lsum *l;
	unsigned nl, capl;
	struct bsum *b;
	unsigned nb, capb;
	struct besum *be;
	unsigned nbe, capbe;
	bool oom;
};

/* Requests in a histogram's buckets. */
uint64_t admin__hcount(const struct hsum *h);
/* Sums every worker's counters of every listener and backend, and copies
 * the backend registry's states (sorted by pool and address). */
void admin__collect(struct sums *s);
void admin__sums_free(struct sums *s);
/* The mode of listener <name> in <cfg> (LMODE_ADMIN for the admin
 * listener); -1 when it is not in it. */
int admin__mode_of(const struct config *cfg, const char *name);

#endif
