/* NUMA topology discovery with libnuma.
 *
 * The online set is the process's affinity mask (sched_getaffinity), not
 * /sys/devices/system/cpu/online: ringlb then only ever places workers on
 * CPUs that taskset, cpusets and cgroups let it use. The sysfs file is a
 * fallback for when the mask cannot be read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <numa.h>

#include "core/base/log.h"
#include "numa/cpulist.h"
#include "numa/fake.h"
#include "numa/topo.h"

static int topo_online_sysfs(cpu_set_t *online)
{
	char buf[4096], err[128];
	FILE *f;

	f = fopen("/sys/devices/system/cpu/online", "r");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return cpulist_parse(buf, online, err, sizeof(err));
}

/* The CPUs this process may run on. Call it before any thread is pinned. */
static int topo_online(cpu_set_t *online)
{
	int ret;

	if (sched_getaffinity(0, sizeof(*online), online) == 0)
		return 0;
	ret = -errno;
	log_warn("numa: sched_getaffinity: %s; using /sys/devices/system/cpu/online",
	         strerror(-ret));
	return topo_online_sysfs(online);
}

/* No NUMA: one node 0 with every online CPU and no memory binding. */
static void topo_flat(struct topo *t)
{
	struct topo_node *n = &t->node[0];

	t->nnodes = 1;
	t->numa = false;
	n->id = 0;
	n->real = -1;
	n->cpus = t->online;
	n->ncpus = t->nonline;
}

static void topo_add(struct topo *t, int id, const cpu_set_t *cpus)
{
	struct topo_node *n = &t->node[t->nnodes++];

	n->id = id;
	n->real = id;
	n->cpus = *cpus;
	n->ncpus = CPU_COUNT(cpus);
}

/* <out> = the CPUs of <bm> that are in <left>; they are removed from <left>. */
static void topo_take(const struct bitmask *bm, cpu_set_t *left, cpu_set_t *out)
{
	unsigned cpu;

	CPU_ZERO(out);
	for (cpu = 0; cpu < bm->size && cpu < CPU_SETSIZE; cpu++) {
		if (!numa_bitmask_isbitset(bm, cpu) || !CPU_ISSET(cpu, left))
			continue;
		CPU_SET(cpu, out);
		CPU_CLR(cpu, left);
	}
}

/* Online CPUs libnuma put in no node join the first node. */
static void topo_adopt(struct topo *t, const cpu_set_t *left)
{
	struct topo_node *n = &t->node[0];
	char list[256];

	cpulist_format(left, list, sizeof(list));
	log_warn("numa: CPUs %s are in no NUMA node; counting them in node %d", list, n->id);
	CPU_OR(&n->cpus, &n->cpus, left);
	n->ncpus = CPU_COUNT(&n->cpus);
}

/* Nodes that have online CPUs, in ascending id order. */
static int topo_from_libnuma(struct topo *t)
{
	struct bitmask *bm = numa_allocate_cpumask();
	cpu_set_t left = t->online, cpus;
	int node, max = numa_max_node();

	if (!bm)
		return -ENOMEM;
	t->numa = true;
	for (node = 0; node <= max && CPU_COUNT(&left); node++) {
		if (numa_node_to_cpus(node, bm) < 0)
			continue;
		topo_take(bm, &left, &cpus);
		if (!CPU_COUNT(&cpus))
			continue;
		if (t->nnodes == TOPO_MAX_NODES) {
			log_warn("numa: more than %d nodes with CPUs; ignoring node %d and up",
			         TOPO_MAX_NODES, node);
			CPU_OR(&left, &left, &cpus);
			break;
		}
		topo_add(t, node, &cpus);
	}
	numa_bitmask_free(bm);
	if (!t->nnodes)
		topo_flat(t);
	else if (CPU_COUNT(&left))
		topo_adopt(t, &left);
	return 0;
}

int topo_discover(struct topo *t, char *err, size_t errlen)
{
	int ret;

	memset(t, 0, sizeof(*t));
	ret = topo_online(&t->online);
	t->nonline = ret < 0 ? 0 : CPU_COUNT(&t->online);
	if (!t->nonline) {
		snprintf(err, errlen, "numa: cannot tell which CPUs are online: %s",
		         strerror(ret < 0 ? -ret : ENOENT));
		return ret < 0 ? ret : -ENOENT;
	}
	if (numa_available() < 0) {
		topo_flat(t);
	} else {
		ret = topo_from_libnuma(t);
		if (ret < 0) {
			snprintf(err, errlen, "numa: %s", strerror(-ret));
			return ret;
		}
	}
	return fake_env(t, err, errlen);
}

int topo_node_of_cpu(const struct topo *t, int cpu)
{
	unsigned i;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -1;
	for (i = 0; i < t->nnodes; i++)
		if (CPU_ISSET(cpu, &t->node[i].cpus))
			return t->node[i].id;
	return -1;
}
