/* Pretend NUMA nodes: RINGLB_NUMA_FAKE=N splits the online CPUs into N
 * nodes so multi-node code paths run on a one-node machine. Memory of a
 * pretend node comes from the real node of its first CPU. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "numa/cpulist.h"
#include "numa/fake.h"

/* The group of the <k>-th CPU (0-based) when <n> CPUs are split in <g>
 * groups whose first n % g get one CPU more. Needs 1 <= g <= n. */
static unsigned fake_group(unsigned k, unsigned n, unsigned g)
{
	unsigned base = n / g, extra = n % g;

	if (k < extra * (base + 1))
		return k / (base + 1);
	return extra + (k - extra * (base + 1)) / base;
}

static int fake_real_of_cpu(const struct topo *t, int cpu)
{
	unsigned i;

	for (i = 0; i < t->nnodes; i++)
		if (CPU_ISSET(cpu, &t->node[i].cpus))
			return t->node[i].real;
	return -1;
}

void fake_split(struct topo *t, unsigned nnodes)
{
	int real[TOPO_MAX_NODES], cpu;
	unsigned k = 0, g, n = t->nonline;

	if (nnodes > n)
		nnodes = n;
	if (nnodes > TOPO_MAX_NODES)
		nnodes = TOPO_MAX_NODES;
	if (!nnodes)
		nnodes = 1;
	for (g = 0; g < nnodes; g++)
		real[g] = -2;
	for (cpu = 0; cpu < CPU_SETSIZE && n; cpu++) {
		if (!CPU_ISSET(cpu, &t->online))
			continue;
		g = fake_group(k++, n, nnodes);
		if (real[g] == -2)
			real[g] = fake_real_of_cpu(t, cpu);
	}
	memset(t->node, 0, sizeof(t->node));
	t->nnodes = nnodes;
	for (g = 0; g < nnodes; g++) {
		t->node[g].id = g;
		t->node[g].real = real[g] == -2 ? -1 : real[g];
	}
	for (cpu = 0, k = 0; cpu < CPU_SETSIZE && n; cpu++) {
		if (!CPU_ISSET(cpu, &t->online))
			continue;
		g = fake_group(k++, n, nnodes);
		CPU_SET(cpu, &t->node[g].cpus);
		t->node[g].ncpus++;
	}
	t->fake = true;
}

void fake_topo(struct topo *t, unsigned ncpus, unsigned nnodes)
{
	unsigned cpu;

	memset(t, 0, sizeof(*t));
	if (ncpus > CPU_SETSIZE)
		ncpus = CPU_SETSIZE;
	for (cpu = 0; cpu < ncpus; cpu++)
		CPU_SET(cpu, &t->online);
	t->nonline = ncpus;
	t->numa = true;
	t->nnodes = 1;
	t->node[0].cpus = t->online;
	t->node[0].ncpus = ncpus;
	fake_split(t, nnodes);
}

/* "memory comes from real node 0" / "real nodes 0-1" / not bound. */
static void fake_log(const struct topo *t, const char *val)
{
	static atomic_flag logged = ATOMIC_FLAG_INIT;
	cpu_set_t reals;
	char list[128];
	unsigned i;

	if (atomic_flag_test_and_set(&logged))
		return;
	CPU_ZERO(&reals);
	for (i = 0; i < t->nnodes; i++)
		if (t->node[i].real >= 0)
			CPU_SET(t->node[i].real, &reals);
	if (!CPU_COUNT(&reals)) {
		log_info(
		    "numa: RINGLB_NUMA_FAKE=%s: %u pretend nodes over %u CPUs; memory is not bound to a node (no NUMA)",
		    val, t->nnodes, t->nonline);
		return;
	}
	cpulist_format(&reals, list, sizeof(list));
	log_info(
	    "numa: RINGLB_NUMA_FAKE=%s: %u pretend nodes over %u CPUs; memory comes from real node%s %s",
	    val, t->nnodes, t->nonline, CPU_COUNT(&reals) > 1 ? "s" : "", list);
}

int fake_env(struct topo *t, char *err, size_t errlen)
{
	const char *s = getenv("RINGLB_NUMA_FAKE");
	unsigned max = t->nonline < TOPO_MAX_NODES ? t->nonline : TOPO_MAX_NODES;
	unsigned long n;
	char *end;

	if (!s || !*s)
		return 0;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno) {
		snprintf(err, errlen,
		         "RINGLB_NUMA_FAKE: \"%.32s\" is not a node count (expected 1..%u)", s,
		         max);
		return -EINVAL;
	}
	if (n < 1 || n > max) {
		snprintf(
		    err, errlen,
		    "RINGLB_NUMA_FAKE: %lu is out of range (expected 1..%u, at most one node per online CPU)",
		    n, max);
		return -EINVAL;
	}
	fake_split(t, n);
	fake_log(t, s);
	return 0;
}
