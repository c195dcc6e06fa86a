/* NUMA topology: nodes and their CPUs, from libnuma, or split into pretend
 * nodes by RINGLB_NUMA_FAKE=N so multi-node paths run on one-node machines. */
#ifndef RINGLB_NUMA_TOPO_H
#define RINGLB_NUMA_TOPO_H

#include <stddef.h>
#include "numa/topo-t.h"

/* Discovers the machine's topology; honours RINGLB_NUMA_FAKE (N >= 1 splits
 * the online CPUs, in order, into N contiguous groups). Returns 0 or -errno
 * (-EINVAL for a bad RINGLB_NUMA_FAKE, with <err> filled). */
int topo_discover(struct topo *t, char *err, size_t errlen);

/* The logical node of <cpu>, or -1. */
int topo_node_of_cpu(const struct topo *t, int cpu);

#endif
