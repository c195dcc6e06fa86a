/* NUMA topology: nodes and their CPUs, from libnuma, or split into pretend
 * nodes by RINGLB_NUMA_FAKE=N so multi-node paths run on one-node machines. */
#ifndef RINGLB_NUMA_TOPO_H
#define RINGLB_NUMA_TOPO_H

#include <stdbool.h>
#include <sched.h>

#define TOPO_MAX_NODES 64

struct topo_node {
	int id;         /* logical node id (fake or real) */
	int real;       /* the real node its memory comes from */
	cpu_set_t cpus; /* online CPUs of this node */
	unsigned ncpus;
};

struct topo {
	unsigned nnodes;
	struct topo_node node[TOPO_MAX_NODES];
	cpu_set_t online;
	unsigned nonline;
	bool fake; /* RINGLB_NUMA_FAKE in effect */
	bool numa; /* libnuma reports NUMA available */
};

/* Discovers the machine's topology; honours RINGLB_NUMA_FAKE (N >= 1 splits
 * the online CPUs, in order, into N contiguous groups). Returns 0 or -errno
 * (-EINVAL for a bad RINGLB_NUMA_FAKE, with <err> filled). */
int topo_discover(struct topo *t, char *err, size_t errlen);

/* Builds a topology by hand (tests): <ncpus> CPUs 0..ncpus-1 split in
 * <nnodes> contiguous groups, all backed by real node 0. */
void topo_fake(struct topo *t, unsigned ncpus, unsigned nnodes);

/* The logical node of <cpu>, or -1. */
int topo_node_of_cpu(const struct topo *t, int cpu);

/* Internal to numa/, defined in fake.c. The dependency is one-way: topo.c
 * calls topo__fake_env(), fake.c calls nothing of topo.c (it needs only the
 * types above); test/integration/test_layers.sh checks it with nm. */

/* Replaces the nodes of <t> by <nnodes> (clamped to 1..online CPUs) groups of
 * its online CPUs, split in ascending order, contiguous and as even as
 * possible (the first groups get the extra CPU). Group i gets logical id i
 * and, as its real node, the real node of its first CPU. Sets t->fake. */
void topo__split(struct topo *t, unsigned nnodes);

/* Applies RINGLB_NUMA_FAKE to a discovered <t> (unset or empty: nothing).
 * Returns 0, or -EINVAL with the message in <err>. */
int topo__fake_env(struct topo *t, char *err, size_t errlen);

#endif
