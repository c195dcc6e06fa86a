/* NUMA topology: types only (numa/topo.h). */
#ifndef RINGLB_NUMA_TOPO_T_H
#define RINGLB_NUMA_TOPO_T_H

#include <sched.h>
#include <stdbool.h>

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

#endif
