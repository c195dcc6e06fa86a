/* Worker placement: which CPU and node each worker runs on. */
#ifndef RINGLB_NUMA_PLACE_H
#define RINGLB_NUMA_PLACE_H

#include <sched.h>
#include <stddef.h>
#include "numa/topo.h"

#define PLACE_MAX_WORKERS 1024

struct place_worker {
	int cpu;
	int node;      /* logical node */
	int real_node; /* node its memory is allocated on (-1: no binding) */
};

struct placement {
	unsigned nworkers;
	unsigned nnodes_used;
	struct place_worker w[PLACE_MAX_WORKERS];
};

/* Chooses workers. <cpus> (NULL = all online) and <nodes> (NULL = all)
 * restrict the candidates; <nworkers> 0 means one per candidate CPU,
 * otherwise that many spread evenly over the chosen nodes (round robin over
 * nodes, at most one worker per CPU). Workers are ordered by node, then CPU.
 * Returns 0 or -EINVAL with the reason in <err> (no CPU left, more workers
 * than CPUs, a CPU or node that is not online). */
int place_workers(const struct topo *t, const cpu_set_t *cpus, const cpu_set_t *nodes,
                  unsigned nworkers, struct placement *p, char *err, size_t errlen);

/* Pins the calling thread to <cpu>. Returns 0 or -errno. */
int place_pin_self(int cpu);

/* Logs the placement: one line per worker ("worker 0 cpu 0 node 0"). */
void place_log(const struct placement *p, const struct topo *t);

#endif
