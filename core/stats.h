/* The stats snapshot (SIGUSR1, later the admin endpoint) and the exit
 * summary: memory per component, class and node, pressure, and the
 * counters of every worker and backend. Called by the control thread. */
#ifndef RINGLB_CORE_STATS_H
#define RINGLB_CORE_STATS_H

#include "core/mem/acct.h"
#include "core/mem/pool.h"
#include "core/loop/worker.h"

struct stats_src {
	const struct worker_group *g;
	const struct config *cfg;
	const struct acct *acct;
	struct pool *const *pools; /* one per node in use */
	unsigned npools;
	uint64_t reloads_ok, reloads_failed;
};

/* Logs the snapshot, one "ringlb: stats ..." line per item, ending with
 * "ringlb: stats end". */
void stats_log_snapshot(const struct stats_src *s);

/* Logs the one-line exit summary "ringlb: summary key=value ...". */
void stats_log_summary(const struct stats_src *s);

/* Writes "key=value" pairs of <st> into <buf>. Returns the length. */
size_t stats_format_worker(const struct worker_stats *st, char *buf, size_t len);

#endif
