/* Workers: one thread per chosen CPU, each with its own io_uring ring, its
 * own SO_REUSEPORT listen sockets, connection table and timer wheel. A
 * connection lives and dies on one worker. The control thread starts them,
 * reaches them only through IORING_OP_MSG_RING, and reads their counters.
 */
#ifndef RINGLB_CORE_WORKER_H
#define RINGLB_CORE_WORKER_H

#include "core/loop/worker-t.h"

/* Starts <g->n> workers already described (id, cpu, node, cfg, acct,
 * pool) and waits until each has bound its listeners. Returns 0, or the
 * first worker's error (its message is in start_msg) after stopping the
 * others. */
int worker_group_start(struct worker_group *g);

/* Asks every worker to stop accepting and drain (MSG_RING from <ring>). */
void worker_group_stop(struct worker_group *g, struct io_uring *ring);

/* Sends <msg> to every worker (WMSG_RELOAD: a new snapshot is published). */
void worker_group_msg(struct worker_group *g, struct io_uring *ring, enum worker_msg msg);

/* Joins every worker thread. */
void worker_group_join(struct worker_group *g);

/* Sums the counters of every worker into <sum>. */
void worker_group_stats(const struct worker_group *g, struct worker_stats *sum);

#endif
